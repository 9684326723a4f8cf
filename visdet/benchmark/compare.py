"""Compare benchmark figures: a run against a baseline, or visdet against mmdet.

``ratio = after / before`` (or ``visdet / mmdet``): above 1 is slower or larger. A
figure is flagged when its ratio is beyond ``factor`` either way, and, for timed
figures, the two medians stay apart by more than their interquartile ranges (so a
noisy figure whose spreads overlap is not flagged). Only "worse" flags are
regressions; "better" flags are reported for information.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from visdet.benchmark.schema import BenchmarkRun, ComponentResult, Metric

TIME_METRICS = ("forward_time", "train_time")
MEMORY_METRICS = ("forward_peak_memory", "train_peak_memory")
DEFAULT_METRICS = TIME_METRICS + MEMORY_METRICS
DEFAULT_FACTOR = 1.5


@dataclass(frozen=True)
class Comparison:
    """One figure measured on both sides."""

    component: str
    impl: str
    size: int
    metric: str
    before_label: str
    after_label: str
    before: Metric
    after: Metric
    ratio: float
    flag: str  # "worse", "better" or ""


def _ratio(before: float, after: float) -> float:
    if before == 0:
        return 1.0 if after == 0 else float("inf")
    return after / before


def _flag(before: Metric, after: Metric, ratio: float, factor: float) -> str:
    if ratio > factor:
        direction = "worse"
        apart = after.value - (after.iqr or 0.0) > before.value + (before.iqr or 0.0)
    elif ratio < 1.0 / factor:
        direction = "better"
        apart = after.value + (after.iqr or 0.0) < before.value - (before.iqr or 0.0)
    else:
        return ""
    return direction if apart else ""


def _pair(
    before: ComponentResult,
    after: ComponentResult,
    labels: tuple[str, str],
    metrics: Sequence[str],
    factor: float,
) -> list[Comparison]:
    out = []
    for name in metrics:
        if name not in before.metrics or name not in after.metrics:
            continue
        m_before, m_after = before.metrics[name], after.metrics[name]
        if m_before.unit != m_after.unit:
            raise ValueError(f"{before.component} {name}: units differ ({m_before.unit} vs {m_after.unit})")
        ratio = _ratio(m_before.value, m_after.value)
        out.append(
            Comparison(
                component=before.component,
                impl=after.impl,
                size=before.size,
                metric=name,
                before_label=labels[0],
                after_label=labels[1],
                before=m_before,
                after=m_after,
                ratio=ratio,
                flag=_flag(m_before, m_after, ratio, factor),
            )
        )
    return out


def _check_factor(factor: float) -> None:
    if not factor > 1.0:
        raise ValueError(f"factor must be > 1, got {factor}")


def compare_runs(
    base: BenchmarkRun,
    head: BenchmarkRun,
    *,
    factor: float = DEFAULT_FACTOR,
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> list[Comparison]:
    """Figures of ``head`` against ``base``, matched by (component, impl, size).

    Results that are not ``ok`` on both sides are skipped.
    """
    _check_factor(factor)
    base_ok = {r.key: r for r in base.results if r.status == "ok"}
    out = []
    for result in head.results:
        if result.status == "ok" and result.key in base_ok:
            labels = ("base", "head")
            out.extend(_pair(base_ok[result.key], result, labels, metrics, factor))
    return out


def compare_impls(
    run: BenchmarkRun,
    *,
    reference: str = "mmdet",
    candidate: str = "visdet",
    factor: float = DEFAULT_FACTOR,
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> list[Comparison]:
    """``candidate / reference`` for every component measured with both in ``run``."""
    _check_factor(factor)
    refs = {(r.component, r.size): r for r in run.results if r.impl == reference and r.status == "ok"}
    out = []
    for result in run.results:
        if result.impl == candidate and result.status == "ok":
            ref = refs.get((result.component, result.size))
            if ref is not None:
                out.extend(_pair(ref, result, (reference, candidate), metrics, factor))
    return out


def regressions(comparisons: Iterable[Comparison]) -> list[Comparison]:
    """The comparisons flagged as slower (or larger)."""
    return [c for c in comparisons if c.flag == "worse"]


def format_value(metric: Metric) -> str:
    """A figure with a readable unit: ``1.23 ms``, ``4.5 MiB``, ``2.1 GFLOP``."""
    value, unit = metric.value, metric.unit
    if unit == "s":
        for scale, name in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {name}"
        return f"{value * 1e9:.3g} ns"
    if unit == "B":
        for scale, name in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {name}"
        return f"{value:.0f} B"
    if unit == "FLOP":
        for scale, name in ((1e12, "TFLOP"), (1e9, "GFLOP"), (1e6, "MFLOP")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {name}"
        return f"{value:.0f} FLOP"
    return f"{value:.4g} {unit}"


def format_comparisons(comparisons: Sequence[Comparison], *, title: str = "") -> str:
    """A plain-text table, flagged rows first."""
    if not comparisons:
        return f"{title}\n(no figure measured on both sides)" if title else "(no common figures)"
    ordered = sorted(comparisons, key=lambda c: (c.flag != "worse", c.flag != "better", c.component, c.size, c.metric))
    first = comparisons[0]
    header = ("component", "impl", "size", "metric", first.before_label, first.after_label, "ratio", "flag")
    rows = [header] + [
        (
            c.component,
            c.impl,
            str(c.size),
            c.metric,
            format_value(c.before),
            format_value(c.after),
            f"{c.ratio:.2f}x",
            c.flag.upper(),
        )
        for c in ordered
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(([title] if title else []) + lines)
