"""visdet vs mmdet: how Faster R-CNN R50-FPN ``predict`` scales, in one process.

Run from the repository root in the reference environment (mmdet 3.3 + mmcv 2.1)::

    .venv-ref/bin/python -m benchmarks.compare_scaling -o runs/scaling.json
        [--sections size,rois,batch --repeats 3 --warmup 1 --threads 2 --load 0]
    python -m benchmarks.compare_scaling --table runs/scaling*.json   # the tables again, from the JSON(s)
    visdet bench report runs/scaling.json -o runs/plots              # scaling.png (and the generic charts)

Three sections, each point timed with the implementations alternating repeat by repeat
(:func:`benchmarks._compare.interleaved`; medians):

* ``size``: the whole ``predict`` on one image whose long side is 512, 800, 1066 or 1333
  px at the COCO test aspect (800 / 1333), both sides padded up to a multiple of 32 as the
  data preprocessor does (320x512, 480x800, 640x1088, 800x1344); visdet fused (as
  ``init_detector`` runs it), visdet unfused and mmdet+mmcv.
* ``rois``: the RoI head alone (``roi_head.predict``: RoIAlign over the pyramid, box head,
  decode and ``multiclass_nms``; these stages timed apart for visdet fused and mmdet, as
  ``compare_predict`` does) fed 100, 500, 1000 or 2000 proposals, on the pyramid each
  model computed for one 800x1216 image. The proposals are the same random boxes for every
  implementation, so exactly that many RoIs reach the head (the RPN's ``max_per_img`` only
  caps what its NMS lets through).
* ``batch``: the whole ``predict`` on B = 1, 2, 4, 8 images of 512x512; images/s = B / time;
  visdet fused and mmdet, with ``compare_predict``'s stages timed apart.

mmdet builds its model from ``faster-rcnn_r50_fpn_1x_coco.py`` with seeded random weights
(``score_thr`` lowered to ``--score-thr``, 0.0 by default as in ``compare_predict``, so the
post-processing has boxes to work on); visdet loads its ``state_dict`` strictly. Before
timing, the detections of each visdet model are checked against mmdet's on the smallest
image and the RoI head's on 100 proposals.

The JSON is a ``visdet.benchmark`` run (:mod:`visdet.benchmark.schema`): components
``scaling/predict_image_size``, ``scaling/roi_head_rois`` and ``scaling/predict_batch``,
impls ``visdet`` (fused), ``visdet-unfused`` and ``mmdet``; every time carries the min-max
of its repeats (in the ``iqr`` field) and the load average before and after the point in
``method``; the timed stages are ``stage:<name>`` metrics.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any

import torch

from benchmarks._compare import StageTimer, interleaved, load_average, median
from benchmarks._reference_models import build_models
from benchmarks.compare_predict import stage_timer
from visdet.benchmark.load import background_load
from visdet.benchmark.scaling import (
    BATCH,
    IMAGE_SIZE,
    ROI_COUNT,
    format_scaling_tables,
    padded_shape,
)
from visdet.benchmark.schema import BenchmarkRun, ComponentResult, Metric

LONG_SIDES = (512, 800, 1066, 1333)
ROI_COUNTS = (100, 500, 1000, 2000)
BATCHES = (1, 2, 4, 8)
ROI_IMAGE = (800, 1216)  # the pyramid the RoI head reads: compare_predict's image
BATCH_IMAGE = (512, 512)
SECTIONS = ("size", "rois", "batch")


def _metas(shape: tuple[int, int], padded: tuple[int, int], batch: int = 1) -> list[dict[str, Any]]:
    meta = {"img_shape": shape, "ori_shape": shape, "pad_shape": padded, "batch_input_shape": padded,
            "scale_factor": (1.0, 1.0)}  # fmt: skip
    return [dict(meta) for _ in range(batch)]


def _samples(metas: list[dict[str, Any]]) -> list[Any]:
    from mmdet.structures import DetDataSample

    return [DetDataSample(metainfo=dict(m)) for m in metas]


def _images(batch: int, padded: tuple[int, int]) -> torch.Tensor:
    return torch.randn(batch, 3, *padded, generator=torch.Generator().manual_seed(2024))


def _timed(fn, timer: StageTimer | None = None) -> dict[str, float]:
    """``{"time": seconds}`` of one call, plus the ``timer``'s stages (``stage:<name>``) when given."""
    if timer is not None:
        timer.reset()
    start = time.perf_counter()
    with torch.no_grad():
        fn()
    out = {"time": time.perf_counter() - start}
    if timer is not None:
        out.update({f"stage:{name}": seconds for name, seconds in timer.totals.items()})
    return out


def _timed_call(fn, timer: StageTimer | None):
    return lambda: _timed(fn, timer)


def _check_detections(got: list[Any], want: list[Any], what: str) -> str:
    """Raise unless visdet's and mmdet's detections agree; a short description otherwise."""
    worst_box = worst_score = 0.0
    count = 0
    for g, w in zip(got, want, strict=True):
        w = getattr(w, "pred_instances", w)
        if len(g) != len(w.bboxes) or not torch.equal(g.labels, w.labels):
            raise AssertionError(f"{what}: {len(g)} detections vs mmdet's {len(w.bboxes)} (or labels differ)")
        if len(g):
            worst_box = max(worst_box, (g.bboxes - w.bboxes).abs().max().item())
            worst_score = max(worst_score, (g.scores - w.scores).abs().max().item())
        count += len(g)
    if worst_box > 1e-2 or worst_score > 1e-4:  # compare_predict's bounds (fusion moves boxes by up to ~5e-3 px)
        raise AssertionError(f"{what}: boxes differ by {worst_box:.3g} px, scores by {worst_score:.3g}")
    return f"{what}: {count} detections agree (max |box diff| {worst_box:.1e}, |score diff| {worst_score:.1e})"


def _point(
    calls: dict[str, Any],
    component: str,
    size: int,
    size_name: str,
    repeats: int,
    warmup: int,
    per: int = 1,
    timers: dict[str, StageTimer] | None = None,
) -> list[ComponentResult]:
    """Time one point of a curve (interleaved) and return a result per implementation.

    ``timers`` (per implementation) add each stage's median as a ``stage:<name>`` metric.
    """
    timers = timers or {}
    before = load_average()
    timed = {impl: _timed_call(f, timers.get(impl)) for impl, f in calls.items()}
    times = interleaved(timed, repeats, warmup)
    after = load_average()
    method = (f"median of {repeats} interleaved repeats after {warmup} warmup; "
              f"load average (1/5/15 min) before {before}, after {after}")  # fmt: skip
    out = []
    for impl, stages in times.items():
        values = stages["time"]
        metrics = {"forward_time": Metric(median(values), "s", iqr=max(values) - min(values), repeats=len(values),
                                          method=method + "; iqr field holds max - min")}  # fmt: skip
        for name, stage_values in stages.items():
            if name.startswith("stage:"):
                metrics[name] = Metric(median(stage_values), "s", repeats=len(stage_values), method=method)
        if size_name.startswith("batch"):
            metrics["images_per_s"] = Metric(per / median(values), "images/s", repeats=len(values), method=method)
        out.append(ComponentResult(component=component, family="scaling", impl=impl, size=size,
                                   size_name=size_name, metrics=metrics))  # fmt: skip
        print(f"  {component} {size_name}={size} {impl}: {median(values):.3f} s "
              f"[{min(values):.3f}-{max(values):.3f}]", flush=True)  # fmt: skip
    print(f"    load average before {before}, after {after}", flush=True)
    return out


def _predict(model: torch.nn.Module, images: torch.Tensor, metas: list[Any]):
    return lambda: model.predict(images, metas, rescale=True)


def _roi_predict(model: torch.nn.Module, feats: Any, proposals, metas: list[Any]):
    """The RoI head's ``predict``; ``proposals()`` gives the proposal list (mmdet's is rebuilt per call)."""
    return lambda: model.roi_head.predict(feats, proposals(), metas, rescale=True)


def run_size(models: dict[str, torch.nn.Module], args) -> list[ComponentResult]:
    """Whole ``predict`` against the image's long side."""
    results = []
    for long_side in args.long_sides:
        shape, padded = padded_shape(long_side)
        image = _images(1, padded)
        metas = _metas(shape, padded)
        samples = _samples(metas)
        if long_side == min(args.long_sides):
            with torch.no_grad():
                want = models["mmdet"].predict(image, samples, rescale=True)
                for impl in ("visdet", "visdet-unfused"):
                    got = models[impl].predict(image, metas, rescale=True)
                    print(_check_detections(got, want, f"{impl} at {padded[0]}x{padded[1]}"), flush=True)
        calls = {impl: _predict(models[impl], image, samples if impl == "mmdet" else metas)
                 for impl in ("visdet", "visdet-unfused", "mmdet")}  # fmt: skip
        results += _point(calls, IMAGE_SIZE, long_side, "long side px", args.repeats, args.warmup)
    return results


def _proposals(count: int, shape: tuple[int, int]) -> torch.Tensor:
    """``count`` random boxes inside ``shape`` (sides 8 px to half the image)."""
    gen = torch.Generator().manual_seed(7)
    height, width = shape
    sizes = torch.rand(count, 2, generator=gen) * torch.tensor([width / 2 - 8, height / 2 - 8]) + 8
    corners = torch.rand(count, 2, generator=gen) * (torch.tensor([width, height]) - sizes)
    return torch.cat([corners, corners + sizes], dim=1)


def run_rois(models: dict[str, torch.nn.Module], args) -> list[ComponentResult]:
    """The RoI head alone against the number of proposals it is fed."""
    image = _images(1, ROI_IMAGE)
    metas = _metas(ROI_IMAGE, ROI_IMAGE)
    samples = _samples(metas)
    with torch.no_grad():
        feats = {impl: model.extract_feat(image) for impl, model in models.items()}
    # stages of the fused visdet model and mmdet's (the unfused model would share the patched NMS globals)
    timers = {impl: stage_timer(impl, models[impl]) for impl in ("visdet", "mmdet")}
    try:
        return _roi_points(models, args, feats, metas, samples, timers)
    finally:
        for timer in timers.values():
            timer.restore()


def _roi_points(models, args, feats, metas, samples, timers) -> list[ComponentResult]:
    from mmengine.structures import InstanceData

    from visdet.structures.instances import Instances

    results = []
    for count in args.roi_counts:
        boxes = _proposals(count, ROI_IMAGE)
        visdet_props = [Instances(bboxes=boxes.clone(), scores=torch.ones(count))]

        def mmdet_props(boxes=boxes, count=count):
            return [InstanceData(bboxes=boxes.clone(), scores=torch.ones(count))]

        if count == min(args.roi_counts):
            with torch.no_grad():
                want = models["mmdet"].roi_head.predict(feats["mmdet"], mmdet_props(), samples, rescale=True)
                for impl in ("visdet", "visdet-unfused"):
                    got = models[impl].roi_head.predict(feats[impl], visdet_props, metas, rescale=True)
                    print(_check_detections(got, want, f"{impl} RoI head on {count} proposals"), flush=True)
        calls = {impl: _roi_predict(models[impl], feats[impl], lambda p=visdet_props: p, metas)
                 for impl in ("visdet", "visdet-unfused")}  # fmt: skip
        calls["mmdet"] = _roi_predict(models["mmdet"], feats["mmdet"], mmdet_props, samples)
        results += _point(calls, ROI_COUNT, count, "proposals per image", args.repeats, args.warmup, timers=timers)
    return results


def run_batch(models: dict[str, torch.nn.Module], args) -> list[ComponentResult]:
    """Whole ``predict`` on B images at once: images/s (stages of visdet fused and mmdet apart)."""
    timers = {impl: stage_timer(impl, models[impl]) for impl in ("visdet", "mmdet")}
    try:
        return _batch_points(models, args, timers)
    finally:
        for timer in timers.values():
            timer.restore()


def _batch_points(models: dict[str, torch.nn.Module], args, timers) -> list[ComponentResult]:
    results = []
    for batch in args.batches:
        images = _images(batch, BATCH_IMAGE)
        metas = _metas(BATCH_IMAGE, BATCH_IMAGE, batch)
        samples = _samples(metas)
        calls = {impl: _predict(models[impl], images, samples if impl == "mmdet" else metas)
                 for impl in args.batch_impls}  # fmt: skip
        results += _point(calls, BATCH, batch, "batch B", args.repeats, args.warmup, per=batch, timers=timers)
    return results


def _machine(threads: int) -> dict[str, Any]:
    from visdet.benchmark.machine import machine_info

    info = machine_info(torch.device("cpu"))
    info["threads_used"] = threads
    return info


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(","))


def main(argv: list[str] | None = None) -> int:
    """Entry point: measure, print the tables, write the JSON. Returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", type=lambda s: tuple(s.split(",")), default=SECTIONS,
                        help="comma-separated subset of size,rois,batch")  # fmt: skip
    parser.add_argument("--long-sides", type=_ints, default=LONG_SIDES)
    parser.add_argument("--roi-counts", type=_ints, default=ROI_COUNTS)
    parser.add_argument("--batches", type=_ints, default=BATCHES)
    parser.add_argument("--batch-unfused", action="store_true", help="also time visdet unfused in the batch section")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--load", type=int, default=0, help="busy background processes while timing (0: none)")
    parser.add_argument("--score-thr", type=float, default=0.0)
    parser.add_argument("-o", "--output", help="write the run JSON here")
    parser.add_argument("--table", metavar="RUN_JSON", nargs="+", help="only print the tables of recorded run(s)")
    args = parser.parse_args(argv)
    if args.table:
        print(format_scaling_tables([BenchmarkRun.load(path) for path in args.table]))
        return 0
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    try:
        import mmdet  # noqa: F401
    except ImportError as exc:
        print(f"mmdet is not importable ({exc}); run with .venv-ref/bin/python", file=sys.stderr)
        return 2
    from visdet.models.fuse import fuse_for_inference

    torch.set_num_threads(args.threads)
    unfused, ref = build_models("faster_rcnn", args.score_thr)
    unfused.eval()
    ref.eval()
    fused = fuse_for_inference(copy.deepcopy(unfused))
    models = {"visdet": fused, "visdet-unfused": unfused, "mmdet": ref}
    args.batch_impls = ("visdet", "visdet-unfused", "mmdet") if args.batch_unfused else ("visdet", "mmdet")
    print(f"faster_rcnn scaling: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"score_thr {args.score_thr}, {args.repeats} repeats, load average {load_average()}", flush=True)  # fmt: skip
    results: list[ComponentResult] = []
    runners = {"size": run_size, "rois": run_rois, "batch": run_batch}
    loads = {}
    with background_load(args.load):
        for section in args.sections:
            start = load_average()
            results += runners[section](models, args)
            loads[section] = {"before": start, "after": load_average()}
    run = BenchmarkRun(
        machine=_machine(args.threads),
        settings={
            "script": "benchmarks.compare_scaling",
            "sections": list(args.sections),
            "repeats": args.repeats,
            "warmup": args.warmup,
            "threads": args.threads,
            "load": args.load,
            "score_thr": args.score_thr,
            "load_average": loads,
            "cpu_count": os.cpu_count(),
        },  # fmt: skip
        results=results,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    print(format_scaling_tables([run]))
    if args.output:
        print(f"wrote {run.save(args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
