"""Measures: wall time (median and IQR), FLOPs and parameter counts.

Times use :class:`torch.utils.benchmark.Timer` (it synchronizes CUDA and reports
the median of timed blocks); peak memory lives in :mod:`visdet.benchmark.memory`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.benchmark import Timer
from torch.utils.flop_counter import FlopCounterMode

from visdet.benchmark.schema import Metric

TIME_METHOD = "torch.utils.benchmark.Timer.blocked_autorange, median of blocks"


def time_callable(
    fn: Callable[[], Any],
    *,
    warmup: int = 2,
    min_run_time: float = 0.2,
    num_threads: int | None = None,
) -> Metric:
    """Time ``fn()`` after ``warmup`` untimed calls.

    Args:
        fn: The zero-argument work to time.
        warmup: Untimed calls first (lazy initialisation, allocator warm-up).
        min_run_time: Seconds of timed calls at least (one block is always run).
        num_threads: torch threads inside the timer; defaults to the current setting.

    Returns:
        Seconds per call: median over blocks, with the interquartile range and the
        number of blocks.
    """
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if min_run_time <= 0:
        raise ValueError(f"min_run_time must be > 0, got {min_run_time}")
    for _ in range(warmup):
        fn()
    timer = Timer(
        stmt="fn()",
        globals={"fn": fn},
        num_threads=num_threads if num_threads is not None else torch.get_num_threads(),
    )
    measurement = timer.blocked_autorange(min_run_time=min_run_time)
    return Metric(
        value=float(measurement.median),
        unit="s",
        iqr=float(measurement.iqr),
        repeats=len(measurement.times),
        method=TIME_METHOD,
    )


def count_flops(fn: Callable[[], Any]) -> Metric:
    """Floating-point operations of one ``fn()`` call, counted by torch's FlopCounterMode.

    Only the operators torch has formulas for are counted (matmul, convolution,
    attention and their backward); elementwise work and custom kernels count zero.
    """
    with FlopCounterMode(display=False) as counter:
        fn()
    return Metric(
        value=float(counter.get_total_flops()),
        unit="FLOP",
        method="torch.utils.flop_counter.FlopCounterMode",
    )


def count_parameters(module: nn.Module) -> Metric:
    """Number of parameters of ``module`` (trainable or not)."""
    return Metric(value=float(sum(p.numel() for p in module.parameters())), unit="count")
