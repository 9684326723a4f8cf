"""The gate's benchmark cases: asv suite methods, each one timed call of a component.

A case names an asv suite class (``module.Class`` under ``benchmarks/``), the timed
method and its parameters, so the gate and asv measure the same work. ``inject`` is the
name that ``VISDET_BENCH_INJECT_SLOWDOWN`` uses to slow the whole call down (for proving
the gate); the ops cases leave it empty because ``benchmarks/ops.py`` already slows the
op itself under its own name (``nms``, ``roi_align``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """One gate benchmark."""

    name: str  # the component, as the report names it
    suite: str  # "module.Class" under benchmarks/
    method: str  # the asv method that does one unit of work
    params: tuple  # the asv parameters (impl first)
    inject: str = ""  # slowdown name for the whole call ("" = the suite injects by itself)


CASES: dict[str, Case] = {
    case.name: case
    for case in (
        Case("nms", "ops.NMS", "time_nms", ("visdet", 4000)),
        Case("batched_nms", "ops.BatchedNMS", "time_batched_nms", ("visdet", 1000)),
        Case("soft_nms", "ops.SoftNMS", "time_soft_nms", ("visdet", 500)),
        Case("roi_align", "ops.RoIAlign", "time_forward", ("visdet", 100)),
        Case("bbox_overlaps", "ops.BboxOverlaps", "time_bbox_overlaps", ("visdet", 1000)),
        Case("backbone", "backbones.ResNet50", "time_forward", ("visdet", 320), inject="backbone"),
        Case("neck", "necks.FPN", "time_forward", ("visdet", 320), inject="neck"),
        Case("rpn_head", "heads.RPNHead", "time_forward", ("visdet", 320), inject="rpn_head"),
        Case("preprocess", "data.DetDataPreprocessor", "time_preprocess", ("visdet", 320), inject="preprocess"),
        Case("pipeline", "data.TrainPipeline", "time_pipeline", ("visdet", 20), inject="pipeline"),
        Case("detector", "detectors.FasterRCNN", "time_predict", ("visdet", 320), inject="detector"),
    )
}

# The default set: every case but the whole detector (about 2.5 s a call here; `-b detector`).
DEFAULT = tuple(name for name in CASES if name != "detector")


def select(spec: str | None) -> list[Case]:
    """Cases named in a comma-separated ``spec`` (None or "" = the default set).

    Raises:
        ValueError: A name is not a known case.
    """
    if not spec:
        return [CASES[name] for name in DEFAULT]
    names = [part.strip() for part in spec.split(",") if part.strip()]
    unknown = [name for name in names if name not in CASES]
    if unknown:
        raise ValueError(f"unknown gate case(s) {unknown}; known: {sorted(CASES)}")
    return [CASES[name] for name in names]
