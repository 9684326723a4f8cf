"""visdet vs mmdet: detector ``predict`` in one process, stage by stage.

Run from the repository root in the reference environment (mmdet 3.3 + mmcv 2.1)::

    .venv-ref/bin/python -m benchmarks.compare_predict [--model faster_rcnn|retinanet|rtmdet_tiny|rtmdet_l|...]
        [--height H --width W --repeats 5 --warmup 2 --threads 2 --score-thr 0.0]

The input defaults to the config's test size (RTMDet 640x640, the others 800x1216).

mmdet builds its model from its own config file (``--model`` picks one of
:data:`benchmarks._reference_models.CONFIGS`, e.g. ``faster-rcnn_r50_fpn_1x_coco.py``;
backbone ``init_cfg=None``, seeded random weights, rcnn ``score_thr`` lowered so random
weights give detections); visdet builds from the same config dict and loads mmdet's
``state_dict`` strictly. Both predict on the same preprocessed ``1x3xHxW`` tensor
(``torch.no_grad``, eval mode) and the detections (and pasted masks) are checked to
agree before timing.

Stages are timed by wrapping the sub-modules' calls during a whole ``predict``:
``backbone``, ``neck``, ``rpn_head.forward``, ``rpn proposals`` (``predict_by_feat``:
anchors, top-k, decode, NMS; its ``batched_nms`` is also shown alone), ``roi extractor``
(RoIAlign over the pyramid), ``bbox_head.forward`` and ``bbox postprocess``
(``predict_by_feat``: softmax, decode, ``multiclass_nms``, shown alone too); with a mask
branch also ``mask roi extractor``, ``mask_head.forward`` and ``mask postprocess
(paste)`` (``predict_by_feat``: sigmoid, pasting into the image, threshold). Cascade heads'
per-stage modules add up under the same names. A one-stage detector (``--model retinanet``,
``rtmdet_tiny``, ``rtmdet_l``) has ``backbone``, ``neck``, ``bbox_head.forward`` (the dense
head) and ``dense postprocess`` (``predict_by_feat``: top-k per level, decode,
``batched_nms``, shown alone too). A DETR (``--model deformable_detr``,
``deformable_detr_refine_twostage``, ``dino_4scale``; input 800x1333) has ``backbone``,
``neck``, the transformer steps ``pre_transformer``, ``encoder``, ``pre_decoder`` and
``decoder`` with the deformable attention inside them shown alone too, ``bbox_head.forward``
and ``dense postprocess`` (sigmoid, top-k over queries and classes, box conversion).
``other`` is ``predict`` minus the timed stages. The two
implementations alternate repeat by repeat.
``--fuse`` times visdet's model after :func:`visdet.models.fuse.fuse_for_inference`
(BatchNorm folded, channels-last weights), as ``init_detector`` and ``visdet predict`` run it.
``--compile`` also compiles its backbone, neck and dense head with
:func:`visdet.models.compile.compile_for_inference` (implies ``--fuse``; ``init_detector(...,
compile=True)``, ``visdet predict --compile``); compiling happens in the agreement check,
before any timed call, and the fused model without compiling is timed alongside (a line
after the table: its ``predict``, its ratio to mmdet's and compiled / fused).
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
from typing import Any

import torch

from benchmarks._compare import StageTimer, format_table, interleaved, load_average
from benchmarks._reference_models import (
    CONFIGS,
    DEFORMABLE_ATTENTION,
    DETR_STAGES,
    build_models,
    has_mask,
    input_size,
    mask_extractor,
    patch_detr,
    patch_each,
)
from visdet.benchmark.load import background_load

FUSED_ONLY = "visdet fused"  # the third call of --compile (format_table shows visdet and mmdet only)

# agreement check: float32 rounding of the fused (BatchNorm-folded) model, see tests/models/test_fuse.py
BOX_TOL = 1e-2
SCORE_TOL = 1e-4

STAGES = (
    "backbone",
    "neck",
    *DETR_STAGES,
    DEFORMABLE_ATTENTION,
    "rpn_head.forward",
    "rpn proposals",
    "  of which batched_nms",
    "roi extractor",
    "bbox_head.forward",
    "bbox postprocess",
    "  of which multiclass_nms",
    "mask roi extractor",
    "mask_head.forward",
    "mask postprocess (paste)",
    "dense postprocess",
    "other",
    "predict (total)",
)
TOP_STAGES = ("backbone", "neck", "rpn_head.forward", "rpn proposals", "roi extractor", "bbox_head.forward",
              "bbox postprocess", "mask roi extractor", "mask_head.forward", "mask postprocess (paste)",
              "dense postprocess", *DETR_STAGES)  # fmt: skip
# module globals holding the NMS functions each implementation's heads call
NMS_GLOBALS = {
    "visdet": (("visdet.models.dense_heads.dense_postprocess", "batched_nms", "  of which batched_nms"),
               ("visdet.models.roi_heads.bbox_postprocess", "multiclass_nms", "  of which multiclass_nms")),
    "mmdet": (("mmdet.models.dense_heads.rpn_head", "batched_nms", "  of which batched_nms"),
              ("mmdet.models.dense_heads.base_dense_head", "batched_nms", "  of which batched_nms"),
              ("mmdet.models.roi_heads.bbox_heads.bbox_head", "multiclass_nms", "  of which multiclass_nms")),
}  # fmt: skip


def make_inputs(height: int, width: int) -> tuple[torch.Tensor, list[dict[str, Any]], list[Any]]:
    """The preprocessed batch, visdet's metas and mmdet's ``DetDataSample`` list."""
    from mmdet.structures import DetDataSample

    gen = torch.Generator().manual_seed(2024)
    image = torch.randn(1, 3, height, width, generator=gen)
    shape = (height, width)
    meta = {"img_shape": shape, "ori_shape": shape, "pad_shape": shape, "batch_input_shape": shape,
            "scale_factor": (1.0, 1.0)}  # fmt: skip
    return image, [dict(meta)], [DetDataSample(metainfo=dict(meta))]


def check_agreement(model: torch.nn.Module, ref: torch.nn.Module, image: torch.Tensor, metas, samples) -> str:
    """Predict once with each and describe how far the detections differ (raises if they do not match)."""
    from parity.compare import near_tie_order  # the repository's parity helpers (run from its root)

    with torch.no_grad():
        got = model.predict(image, metas, rescale=True)[0]
        want = ref.predict(image, samples, rescale=True)[0].pred_instances
    if len(got) != len(want.bboxes):
        raise AssertionError(f"visdet gives {len(got)} detections, mmdet {len(want.bboxes)}")
    if len(got) == 0:
        return "0 detections each (lower --score-thr)"
    # line detections up across near ties (two scores within the tolerance may come out swapped)
    got = got[near_tie_order(want.scores, want.bboxes, want.labels, got.scores, got.bboxes, got.labels,
                             score_tol=SCORE_TOL, box_tol=BOX_TOL)]  # fmt: skip
    box_err = (got.bboxes - want.bboxes).abs().max().item()
    score_err = (got.scores - want.scores).abs().max().item()
    if not torch.equal(got.labels, want.labels) or box_err > BOX_TOL or score_err > SCORE_TOL:
        raise AssertionError(f"detections differ: box {box_err:.3g}, score {score_err:.3g}, labels equal "
                             f"{torch.equal(got.labels, want.labels)}")  # fmt: skip
    text = f"{len(got)} detections each, max |box diff| {box_err:.2e}, max |score diff| {score_err:.2e}"
    if "masks" in want:
        differing = (got.masks != want.masks).flatten(1).sum(1)
        text += (
            f", mask pixels differing: {int(differing.sum())} in {int((differing > 0).sum())} of "
            f"{len(got)} instances (ties at mask_thr_binary)"
        )
    return text


def stage_timer(impl: str, model: torch.nn.Module) -> StageTimer:
    """A :class:`StageTimer` wrapped around ``model``'s stages (restore it when done)."""
    timer = StageTimer()
    timer.patch(model.backbone, "forward", "backbone")
    timer.patch(model.neck, "forward", "neck")
    for module_name, attr, stage in NMS_GLOBALS[impl]:
        timer.patch(importlib.import_module(module_name), attr, stage)
    if hasattr(model, "encoder"):  # a DETR: the transformer, then a set-prediction head (top-k, no NMS)
        patch_detr(timer, impl, model)
    if not hasattr(model, "roi_head"):  # one-stage or DETR: the head does the rest
        timer.patch(model.bbox_head, "forward", "bbox_head.forward")
        timer.patch(model.bbox_head, "predict_by_feat", "dense postprocess")
        return timer
    roi = model.roi_head
    timer.patch(model.rpn_head, "forward", "rpn_head.forward")
    timer.patch(model.rpn_head, "predict_by_feat", "rpn proposals")
    patch_each(timer, roi.bbox_roi_extractor, "forward", "roi extractor")
    patch_each(timer, roi.bbox_head, "forward", "bbox_head.forward")
    patch_each(timer, roi.bbox_head, "predict_by_feat", "bbox postprocess")
    if has_mask(model):
        patch_each(timer, mask_extractor(model), "forward", "mask roi extractor")
        patch_each(timer, roi.mask_head, "forward", "mask_head.forward")
        patch_each(timer, roi.mask_head, "predict_by_feat", "mask postprocess (paste)")
    return timer


def predict_call(impl: str, model: torch.nn.Module, timer: StageTimer, image: torch.Tensor, metas):
    """A zero-argument call: one timed ``predict``, returning ``{stage: seconds}``."""
    import time

    def call() -> dict[str, float]:
        timer.reset()
        start = time.perf_counter()
        with torch.no_grad():
            model.predict(image, metas, rescale=True)
        total = time.perf_counter() - start
        stages = dict(timer.totals)
        stages["other"] = total - sum(stages.get(s, 0.0) for s in TOP_STAGES)
        stages["predict (total)"] = total
        return stages

    return call


def main(argv: list[str] | None = None) -> int:
    """Entry point; prints the table. Returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(CONFIGS), default="faster_rcnn")
    parser.add_argument("--height", type=int, default=None, help="default: the config's test size")
    parser.add_argument("--width", type=int, default=None, help="default: the config's test size")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--load", type=int, default=0,
                        help="busy background processes while timing (e.g. 2: one per core); 0: idle")  # fmt: skip
    parser.add_argument("--score-thr", type=float, default=0.0)
    parser.add_argument(
        "--fuse",
        action="store_true",
        help="time visdet's model after fuse_for_inference (what init_detector and visdet predict run)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="also torch.compile visdet's backbone, neck and dense head (compile_for_inference; implies --fuse)",
    )
    args = parser.parse_args(argv)
    args.fuse = args.fuse or args.compile
    try:
        import mmdet  # noqa: F401
    except ImportError as exc:
        print(f"mmdet is not importable ({exc}); run with .venv-ref/bin/python", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    default_h, default_w = input_size(args.model)
    args.height = args.height or default_h
    args.width = args.width or default_w
    model, ref = build_models(args.model, args.score_thr)
    model.eval()
    ref.eval()
    if args.fuse:
        from visdet.models.fuse import fuse_for_inference

        fuse_for_inference(model)
    plain = None  # with --compile: the fused model without compiling, timed alongside as a third call
    if args.compile:
        import copy

        from visdet.models.compile import compile_for_inference

        plain = copy.deepcopy(model)
        compile_for_inference(model)
    image, metas, samples = make_inputs(args.height, args.width)
    fused = " (visdet fused + compiled)" if args.compile else " (visdet fused)" if args.fuse else ""
    print(f"{args.model}{fused}: input 1x3x{args.height}x{args.width}, score_thr {args.score_thr}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")  # fmt: skip
    print("agreement:", check_agreement(model, ref, image, metas, samples))
    timers = {"visdet": stage_timer("visdet", model), "mmdet": stage_timer("mmdet", ref)}
    if plain is not None:
        timers[FUSED_ONLY] = stage_timer("visdet", plain)
    try:
        calls = {"visdet": predict_call("visdet", model, timers["visdet"], image, metas),
                 "mmdet": predict_call("mmdet", ref, timers["mmdet"], image, samples)}  # fmt: skip
        if plain is not None:
            calls[FUSED_ONLY] = predict_call("visdet", plain, timers[FUSED_ONLY], image, metas)
        with background_load(args.load):
            print(f"{args.load} busy background process(es); load average before: {load_average()}")
            results = interleaved(calls, repeats=args.repeats, warmup=args.warmup)
            print(f"load average after:  {load_average()}")
    finally:
        for timer in timers.values():
            timer.restore()
    print(f"medians of {args.repeats} interleaved repeats [min-max]")
    print(format_table(results, STAGES))
    if plain is not None:
        print(compile_summary(results))
    return 0


def compile_summary(results: dict[str, dict[str, list[float]]]) -> str:
    """One line: the fused model's ``predict`` without compiling, against the compiled one and mmdet."""
    total = "predict (total)"
    fused, compiled, ref = (statistics.median(results[impl][total]) for impl in (FUSED_ONLY, "visdet", "mmdet"))
    spread = results[FUSED_ONLY][total]
    return (
        f"visdet fused, not compiled: predict {fused:.4g} s [{min(spread):.4g}-{max(spread):.4g}], "
        f"{fused / ref:.2f} of mmdet's; compiled / fused {compiled / fused:.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
