"""Per-component benchmarks: time, peak memory, FLOPs, parameters; JSON, compare, plots.

Entry points: ``visdet bench ...`` (see :mod:`visdet.benchmark.cli`), or
:func:`~visdet.benchmark.runner.run_benchmarks` with cases from
:func:`~visdet.benchmark.cases.registered_cases`.
"""

from visdet.benchmark.schema import SCHEMA_VERSION, BenchmarkRun, ComponentResult, Metric

__all__ = ["SCHEMA_VERSION", "BenchmarkRun", "ComponentResult", "Metric"]
