"""Latency of Faster R-CNN R50-FPN: onnxruntime (CPU) vs visdet eager vs mmdet, same image, same process.

Run from the repository root (a benchmark, not a test; keep it short on shared machines)::

    python -m benchmarks.onnx_latency [--height 800 --width 1216 --repeats 3 --warmup 1 --threads 2]
        [--onnx frcnn.onnx]   # keep (and reuse) the exported file: the export takes minutes on 2 cores

The model is the full-size preset with seeded random weights (mmdet's, loaded strictly,
when mmdet is importable: then mmdet's ``predict`` is timed too). visdet's model is exported
with :func:`visdet.export.to_onnx` and run by an onnxruntime CPU session with
``--threads`` intra-op threads; visdet eager runs plain and fused
(:func:`visdet.models.fuse.fuse_for_inference`, as ``init_detector`` does). All take the same
preprocessed ``1x3xHxW`` batch; the implementations alternate repeat by repeat and the
median is reported with its ratio to onnxruntime. The detections of onnxruntime and eager
are compared first (count, worst box and score difference).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch

from visdet.export import to_onnx
from visdet.export.verify import random_batch, run_onnx


def _build(score_thr: float) -> tuple[torch.nn.Module, torch.nn.Module | None]:
    try:
        from benchmarks._reference_models import build_models

        model, ref = build_models("faster_rcnn", score_thr)
        return model.eval(), ref.eval()
    except ImportError:
        from visdet import build_detector
        from visdet.apis.builder import load_detector_config
        from visdet.config.merge import merge

        torch.manual_seed(0)
        config = merge(
            load_detector_config("faster_rcnn_r50_fpn"), {"model": {"test_cfg": {"rcnn": {"score_thr": score_thr}}}}
        )
        return build_detector(config).eval(), None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--width", type=int, default=1216)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--score-thr", type=float, default=0.0, help="rcnn score_thr (random weights need it low)")
    parser.add_argument("--onnx", type=Path, help="keep the exported file here (and reuse it if it exists)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import onnxruntime

    model, ref = _build(args.score_thr)
    inputs, metas = random_batch(args.height, args.width, seed=2024, scale_factor=(1.0, 1.0))
    with tempfile.TemporaryDirectory() as folder:
        path = args.onnx or Path(folder) / "faster_rcnn.onnx"
        if not path.exists():
            start = time.perf_counter()
            to_onnx(model, path, input_shape=(1, 3, args.height, args.width))
            print(f"export: {time.perf_counter() - start:.1f} s, {path.stat().st_size / 2**20:.1f} MiB")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = args.threads
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        with torch.no_grad():
            eager = model.predict(inputs, metas, rescale=True)[0]
        boxes, scores, labels, _ = run_onnx(path, inputs, metas)
        same = len(boxes) == len(eager.bboxes)
        print(f"detections: eager {len(eager.bboxes)}, onnxruntime {len(boxes)}", end="")
        if same and len(boxes):
            print(f", max box diff {(boxes - eager.bboxes).abs().max():.2e} px, "
                  f"max score diff {(scores - eager.scores).abs().max():.2e}, "
                  f"labels equal {torch.equal(labels, eager.labels)}")  # fmt: skip
        else:
            print()
        from visdet.export import graph_inputs

        feeds = {k: v.numpy() for k, v in zip(("inputs", "img_shape", "scale_factor"), graph_inputs(inputs, metas))}
        fused = copy.deepcopy(model)
        from visdet.models.fuse import fuse_for_inference

        fuse_for_inference(fused)
        calls = {
            "onnxruntime": lambda: session.run(None, feeds),
            "visdet eager": lambda: model.predict(inputs, metas, rescale=True),
            "visdet eager fused": lambda: fused.predict(inputs, metas, rescale=True),
        }
        if ref is not None:
            from mmdet.structures import DetDataSample

            samples = [DetDataSample(metainfo=dict(metas[0]))]
            calls["mmdet"] = lambda: ref.predict(inputs, samples, rescale=True)
        times: dict[str, list[float]] = {name: [] for name in calls}
        with torch.no_grad():
            for _ in range(args.warmup):
                for call in calls.values():
                    call()
            for rep in range(args.repeats):
                names = list(calls) if rep % 2 == 0 else list(calls)[::-1]
                for name in names:
                    start = time.perf_counter()
                    calls[name]()
                    times[name].append(time.perf_counter() - start)
    base = statistics.median(times["onnxruntime"])
    print(f"\n1x3x{args.height}x{args.width}, {args.threads} threads, median of {args.repeats}:")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:20s} {median:7.3f} s   {median / base:5.2f}x onnxruntime")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
