"""Run benchmark cases and collect a :class:`~visdet.benchmark.schema.BenchmarkRun`.

For each case, size and implementation the runner builds the workload, then measures
(each optional): forward time, train (forward + backward) time, peak memory of
forward and of train, FLOPs of forward and of train, and the module's parameters.
A component that is not importable yet becomes an ``unavailable`` result with the
reason; a measurement that raises becomes an ``error`` result; neither stops the run.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import torch

from visdet.benchmark.cases import Case, ComponentUnavailable
from visdet.benchmark.load import background_load
from visdet.benchmark.machine import machine_info
from visdet.benchmark.measures import count_flops, count_parameters, time_callable
from visdet.benchmark.memory import peak_memory
from visdet.benchmark.schema import BenchmarkRun, ComponentResult, Metric


@dataclass(frozen=True)
class RunSettings:
    """What to measure and how.

    Attributes:
        impls: Implementations to measure (``"visdet"``, ``"mmdet"``).
        device: Where to compute.
        threads: torch intra-op threads (set for the whole run).
        quick: Use each case's tiny ``quick_sizes``.
        sizes: Explicit sizes for every case (overrides ``quick``), or None.
        warmup: Untimed calls before timing.
        min_run_time: Seconds of timed calls per figure, at least.
        memory: Measure peak memory.
        flops: Count FLOPs.
        train: Measure forward + backward where the case has it.
        load: Busy background processes kept running during the run (0: none), to
            measure the ops when other processes compete for the cores.
        load_seconds: Each background process ends by itself after this long.
    """

    impls: tuple[str, ...] = ("visdet",)
    device: str = "cpu"
    threads: int = 1
    quick: bool = False
    sizes: tuple[int, ...] | None = None
    warmup: int = 2
    min_run_time: float = 0.2
    memory: bool = True
    flops: bool = True
    train: bool = True
    load: int = 0
    load_seconds: float = 3600.0

    def to_dict(self) -> dict:
        """JSON-ready settings for the run header."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


Progress = Callable[[ComponentResult], None]


def _measure(case: Case, impl: str, size: int, settings: RunSettings) -> dict[str, Metric]:
    device = torch.device(settings.device)
    workload = case.builders[impl](size, device)
    timing = {"warmup": settings.warmup, "min_run_time": settings.min_run_time}
    metrics = {"forward_time": time_callable(workload.forward, **timing)}
    if settings.memory:
        metrics["forward_peak_memory"] = peak_memory(workload.forward, device)
    if settings.flops:
        metrics["forward_flops"] = count_flops(workload.forward)
    if settings.train and workload.train is not None:
        metrics["train_time"] = time_callable(workload.train, **timing)
        if settings.memory:
            metrics["train_peak_memory"] = peak_memory(workload.train, device)
        if settings.flops:
            metrics["train_flops"] = count_flops(workload.train)
    if workload.module is not None:
        metrics["params"] = count_parameters(workload.module)
    return metrics


def run_case(case: Case, impl: str, size: int, settings: RunSettings) -> ComponentResult:
    """Measure one case at one size with one implementation; never raises for the case."""
    common = {
        "component": case.component,
        "family": case.family,
        "impl": impl,
        "size": size,
        "size_name": case.size_name,
    }
    if impl not in case.builders:
        return ComponentResult(**common, status="unavailable", message=f"no {impl} equivalent")
    try:
        metrics = _measure(case, impl, size, settings)
    except ComponentUnavailable as exc:
        return ComponentResult(**common, status="unavailable", message=str(exc))
    except ImportError as exc:
        # a component whose own imports are not there yet (parallel development)
        message = f"not available yet: {type(exc).__name__}: {exc}"
        return ComponentResult(**common, status="unavailable", message=message)
    except Exception as exc:  # noqa: BLE001 - one broken case must not end the run
        last = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{last.filename}:{last.lineno}"
        return ComponentResult(**common, status="error", message=f"{type(exc).__name__}: {exc} (at {where})")
    return ComponentResult(**common, metrics=metrics)


def case_sizes(case: Case, settings: RunSettings) -> Sequence[int]:
    """The sizes a run measures for ``case``."""
    if settings.sizes is not None:
        return settings.sizes
    return case.quick_sizes if settings.quick else case.sizes


def run_benchmarks(cases: Iterable[Case], settings: RunSettings, *, progress: Progress | None = None) -> BenchmarkRun:
    """Measure every case at its sizes with every requested implementation.

    Args:
        cases: The cases to run.
        settings: What to measure and how.
        progress: Called with each result as soon as it is measured.

    Returns:
        The run, with the machine header.
    """
    if settings.threads < 1:
        raise ValueError(f"threads must be >= 1, got {settings.threads}")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        with background_load(settings.load, settings.load_seconds):
            results = _run_all(cases, settings, progress)
        machine = machine_info(torch.device(settings.device))
    finally:
        torch.set_num_threads(previous_threads)
    return BenchmarkRun(
        machine=machine,
        settings=settings.to_dict(),
        results=results,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def _run_all(cases: Iterable[Case], settings: RunSettings, progress: Progress | None) -> list[ComponentResult]:
    results = []
    for case in cases:
        for size in case_sizes(case, settings):
            for impl in settings.impls:
                result = run_case(case, impl, size, settings)
                results.append(result)
                if progress is not None:
                    progress(result)
    return results
