"""The scaling run of ``benchmarks.compare_scaling``: its components, shapes and tables.

The run is an ordinary ``visdet.benchmark`` run (family ``scaling``) with three
components: the whole ``predict`` against the image's long side, the RoI head alone
against the number of proposals, and ``predict`` on a batch (with ``images_per_s``).
Implementations: ``visdet`` (fused, as ``init_detector`` runs it), ``visdet-unfused``
and ``mmdet``. :func:`format_scaling_tables` writes the markdown tables that
``benchmarks/README.md`` holds; ``visdet bench report`` draws ``scaling.png``
(:func:`visdet.benchmark.plots.plot_scaling`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from visdet.benchmark.schema import BenchmarkRun, ComponentResult

IMAGE_SIZE = "scaling/predict_image_size"
ROI_COUNT = "scaling/roi_head_rois"
BATCH = "scaling/predict_batch"
COMPONENTS = (IMAGE_SIZE, ROI_COUNT, BATCH)
TITLES = {
    IMAGE_SIZE: "predict vs image long side (COCO aspect 800/1333, padded to /32)",
    ROI_COUNT: "RoI head vs proposals per image (800x1216 pyramid)",
    BATCH: "predict throughput vs batch (512x512 images)",
}
REFERENCE = "mmdet"
CANDIDATES = ("visdet", "visdet-unfused")
LABELS = {"visdet": "visdet fused", "visdet-unfused": "visdet unfused", "mmdet": "mmdet+mmcv"}
COCO_ASPECT = 800 / 1333
# the stages in the order they run (names of benchmarks.compare_predict's stage timer)
_STAGE_ORDER = ("backbone", "neck", "rpn_head.forward", "rpn proposals", "  of which batched_nms", "roi extractor",
                "bbox_head.forward", "bbox postprocess", "  of which multiclass_nms")  # fmt: skip
_LOAD = re.compile(r"before ([0-9.]+)[^,]*, after ([0-9.]+)")


def padded_shape(long_side: int, aspect: float = COCO_ASPECT, divisor: int = 32) -> tuple[tuple[int, int], ...]:
    """``((height, width), (padded_height, padded_width))`` of a landscape image of ``long_side``.

    Example:
        >>> padded_shape(1333)
        ((800, 1333), (800, 1344))
    """
    shape = (round(long_side * aspect), long_side)
    padded = tuple(math.ceil(side / divisor) * divisor for side in shape)
    return shape, padded


def scaling_results(run: BenchmarkRun) -> dict[str, dict[str, dict[int, ComponentResult]]]:
    """``component -> impl -> size -> result`` for the run's successful scaling results."""
    out: dict[str, dict[str, dict[int, ComponentResult]]] = {}
    for r in run.results:
        if r.component in COMPONENTS and r.status == "ok" and "forward_time" in r.metrics:
            out.setdefault(r.component, {}).setdefault(r.impl, {})[r.size] = r
    return out


def newest_scaling(runs: Sequence[BenchmarkRun]) -> dict[str, tuple[BenchmarkRun, dict]]:
    """``component -> (run, impl -> size -> result)``, each component from the newest run that has it.

    So the sections of ``compare_scaling`` may be measured in separate runs.
    """
    newest: dict[str, tuple[BenchmarkRun, dict]] = {}
    for run in sorted(runs, key=lambda r: r.created):
        for component, series in scaling_results(run).items():
            newest[component] = (run, series)
    return newest


def load_text(result: ComponentResult) -> str:
    """The 1-minute load average before and after the point (``"6.1-7.3"``), from its method note."""
    found = _LOAD.search(result.metrics["forward_time"].method or "")
    return f"{found.group(1)}-{found.group(2)}" if found else "n/a"


def _impls(series: dict[str, dict[int, ComponentResult]]) -> list[str]:
    order = ("visdet", "visdet-unfused", "mmdet")
    return [i for i in order if i in series] + sorted(i for i in series if i not in order)


def _time_table(component: str, series: dict[str, dict[int, ComponentResult]]) -> list[str]:
    impls = _impls(series)
    sizes = sorted({s for by_size in series.values() for s in by_size})
    size_name = next(iter(next(iter(series.values())).values())).size_name
    ratios = [c for c in CANDIDATES if c in series and REFERENCE in series]
    head = [size_name] + [f"{LABELS.get(i, i)} s (x first)" for i in impls]
    head += [f"{LABELS[c]} / mmdet" for c in ratios] + ["load 1 min"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    first = {i: series[i][min(series[i])].metrics["forward_time"].value for i in impls}
    for size in sizes:
        cells = [str(size)]
        for impl in impls:
            r = series[impl].get(size)
            cells.append(f"{r.metrics['forward_time'].value:.3f} ({r.metrics['forward_time'].value / first[impl]:.2f})"
                         if r else "")  # fmt: skip
        for cand in ratios:
            a, b = series[cand].get(size), series[REFERENCE].get(size)
            cells.append(f"{a.metrics['forward_time'].value / b.metrics['forward_time'].value:.2f}" if a and b else "")
        any_result = next(series[i][size] for i in impls if size in series[i])
        cells.append(load_text(any_result))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _stage_table(series: dict[str, dict[int, ComponentResult]]) -> list[str]:
    """Ratios visdet / mmdet per timed stage (``stage:<name>`` metrics), one row per point; empty without stages."""
    if "visdet" not in series or REFERENCE not in series:
        return []
    sizes = sorted(set(series["visdet"]) & set(series[REFERENCE]))
    stages = sorted(
        {m[len("stage:") :] for s in sizes for m in series["visdet"][s].metrics if m.startswith("stage:")}
        & {m[len("stage:") :] for s in sizes for m in series[REFERENCE][s].metrics if m.startswith("stage:")},
        key=lambda name: (_STAGE_ORDER.index(name) if name in _STAGE_ORDER else len(_STAGE_ORDER), name),
    )
    if not stages:
        return []
    size_name = series["visdet"][sizes[0]].size_name
    head = [size_name] + [f"{name.strip()}: visdet fused / mmdet s" for name in stages]
    lines = ["", "Stages (visdet fused s / mmdet s = ratio):", "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]  # fmt: skip
    for size in sizes:
        cells = [str(size)]
        for name in stages:
            a = series["visdet"][size].metrics.get(f"stage:{name}")
            b = series[REFERENCE][size].metrics.get(f"stage:{name}")
            cells.append(f"{a.value:.3f} / {b.value:.3f} = {a.value / b.value:.2f}" if a and b and b.value else "")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _batch_table(series: dict[str, dict[int, ComponentResult]]) -> list[str]:
    impls = _impls(series)
    sizes = sorted({s for by_size in series.values() for s in by_size})
    ratios = [c for c in CANDIDATES if c in series and REFERENCE in series]
    head = ["batch B"] + [f"{LABELS.get(i, i)} images/s" for i in impls]
    head += [f"{LABELS[c]} / mmdet images/s" for c in ratios] + ["load 1 min"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for size in sizes:
        cells = [str(size)]
        for impl in impls:
            r = series[impl].get(size)
            cells.append(f"{images_per_s(r):.3g}" if r else "")
        for cand in ratios:
            a, b = series[cand].get(size), series[REFERENCE].get(size)
            cells.append(f"{images_per_s(a) / images_per_s(b):.2f}" if a and b else "")
        any_result = next(series[i][size] for i in impls if size in series[i])
        cells.append(load_text(any_result))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def images_per_s(result: ComponentResult) -> float:
    """The point's images/s (``batch / median time`` where the run did not record it)."""
    metric = result.metrics.get("images_per_s")
    return metric.value if metric else result.size / result.metrics["forward_time"].value


def format_scaling_tables(runs: Sequence[BenchmarkRun], components: Sequence[str] = COMPONENTS) -> str:
    """Markdown tables, one per scaling component the runs have (the newest run's for each).

    Time tables give medians in seconds with, in brackets, the time relative to the first
    point of the same implementation, and ``visdet / mmdet`` (below 1: visdet faster); the
    batch table gives images/s (ratio above 1: visdet faster). The last column is the
    1-minute load average before and after the point.

    Raises:
        ValueError: No run has a successful scaling result.
    """
    found = newest_scaling(runs)
    if not found:
        raise ValueError("no scaling results (components " + ", ".join(COMPONENTS) + ")")
    blocks = []
    for component in components:
        if component not in found:
            continue
        series = found[component][1]
        lines = (_batch_table(series) if component == BATCH else _time_table(component, series)) + _stage_table(series)
        blocks.append("\n".join([f"{TITLES[component]}:", "", *lines]))
    return "\n\n".join(blocks)
