"""visdet vs mmcv: the ops (NMS family, RoIAlign) in one process, interleaved, per size.

Run from the repository root in the reference environment (mmdet 3.3 + mmcv 2.1)::

    .venv-ref/bin/python -m benchmarks.compare_ops [--ops nms,soft_nms,...] [--sizes 8,32,100,1000]
        [--repeats 7 --block-ms 40 --threads 1 --load 0 --no-memory]

(``--impls visdet`` times visdet alone, in any environment.)

For every op and size both implementations get the same seeded inputs and arguments
(those of :mod:`visdet.benchmark.cases.ops`: random boxes in a 1000 px image, sides 4 to
200 px; RoIs on a ``2x256x100x152`` map, 7x7 output, scale 1/4, adaptive sampling; the
``_cl`` variants on the same map in channels-last memory format; ``soft_nms`` is mmcv's
default ``linear`` decay, ``soft_nms_gaussian`` / ``soft_nms_naive``, run only when named in
``--ops``, the other two). Time
is measured in blocks of calls (at least ``--block-ms`` of work, the same number of calls
for both), alternating the implementations block by block (A B B A ...), so that load
from other processes on a shared machine hits both alike; each figure is the median over
``--repeats`` blocks of the wall time per call; ``cpu ratio`` is the same ratio of the
process's CPU time (which leaves out the time spent waiting for a core). ``--load N`` keeps N busy-looping processes
running during the timing (:func:`visdet.benchmark.load.background_load`). Peak memory is
the peak of live tensor storage created during one call
(:func:`visdet.benchmark.memory.peak_memory`; operators' internal scratch is not seen,
which is where mmcv's compiled kernels keep theirs). ``heap scratch`` is the Python-heap
scratch of one call (:func:`visdet.benchmark.memory.heap_scratch`, ``tracemalloc``): the
numpy temporaries of visdet's numpy passes (and Python objects), which the tensor peak
does not see; mmcv's compiled kernels keep theirs off that heap (not seen either).
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from collections.abc import Callable

import torch

from benchmarks._compare import load_average
from visdet.benchmark.cases.base import generator, random_boxes
from visdet.benchmark.load import background_load
from visdet.benchmark.memory import heap_scratch, peak_memory

OPS = (
    "nms",
    "batched_nms",
    "soft_nms",
    "multiclass_nms",
    "roi_align_avg",
    "roi_align_max",
    "roi_align_avg_cl",
    "roi_align_max_cl",
)
# Not in the default run: soft-NMS with the other decays (the default soft_nms is "linear").
EXTRA_OPS = ("soft_nms_gaussian", "soft_nms_naive")
SIZES = (8, 32, 100, 300, 1000)
IOU_THRESHOLD = 0.5
NUM_CLASSES = 80
ROI_FEATURE_SHAPE = (2, 256, 100, 152)

_FUNCTIONS = {
    "nms": {"visdet": "visdet.ops.nms:nms", "mmdet": "mmcv.ops:nms"},
    "batched_nms": {"visdet": "visdet.ops.nms:batched_nms", "mmdet": "mmcv.ops:batched_nms"},
    "soft_nms": {"visdet": "visdet.ops.soft_nms:soft_nms", "mmdet": "mmcv.ops:soft_nms"},
    "soft_nms_gaussian": {"visdet": "visdet.ops.soft_nms:soft_nms", "mmdet": "mmcv.ops:soft_nms"},
    "soft_nms_naive": {"visdet": "visdet.ops.soft_nms:soft_nms", "mmdet": "mmcv.ops:soft_nms"},
    "multiclass_nms": {
        "visdet": "visdet.ops.multiclass_nms:multiclass_nms",
        "mmdet": "mmdet.models.layers:multiclass_nms",
    },
    "roi_align_avg": {"visdet": "visdet.ops.roi_align:roi_align", "mmdet": "mmcv.ops:roi_align"},
    "roi_align_max": {"visdet": "visdet.ops.roi_align:roi_align", "mmdet": "mmcv.ops:roi_align"},
    "roi_align_avg_cl": {"visdet": "visdet.ops.roi_align:roi_align", "mmdet": "mmcv.ops:roi_align"},
    "roi_align_max_cl": {"visdet": "visdet.ops.roi_align:roi_align", "mmdet": "mmcv.ops:roi_align"},
}


def _function(path: str) -> Callable:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def _call(op: str, function: Callable, size: int) -> Callable[[], object]:
    """A zero-argument call of ``function`` on the seeded inputs of ``op`` at ``size``."""
    gen = generator()
    if op.startswith("roi_align"):
        batch, _, height, width = ROI_FEATURE_SHAPE
        features = torch.randn(ROI_FEATURE_SHAPE, generator=gen)
        image_size = min(height, width) * 4.0
        boxes = random_boxes(size, gen, image_size=image_size, max_side=image_size / 2)
        rois = torch.cat([torch.randint(0, batch, (size, 1), generator=gen).float(), boxes], dim=1)
        mode = op.split("_")[2]
        if op.endswith("_cl"):  # a channels-last map, as a fused model's (visdet.models.fuse) features
            features = features.to(memory_format=torch.channels_last)
        return lambda: function(features, rois, (7, 7), 0.25, 0, mode, True)
    boxes = random_boxes(size, gen)
    if op == "multiclass_nms":
        scores = torch.rand(size, NUM_CLASSES + 1, generator=gen).softmax(dim=1)
        cfg = {"type": "nms", "iou_threshold": IOU_THRESHOLD}
        return lambda: function(boxes, scores, 0.05 / NUM_CLASSES, dict(cfg), 100)
    scores = torch.rand(size, generator=gen)
    if op == "batched_nms":
        idxs = torch.randint(0, NUM_CLASSES, (size,), generator=gen)
        cfg = {"type": "nms", "iou_threshold": IOU_THRESHOLD}
        return lambda: function(boxes, scores, idxs, dict(cfg))
    if op.startswith("soft_nms"):
        method = op[len("soft_nms_") :] or "linear"
        return lambda: function(boxes, scores, 0.3, 0.5, 1e-3, method)
    return lambda: function(boxes, scores, IOU_THRESHOLD)


def _calls_per_block(calls: dict[str, Callable[[], object]], block_s: float) -> int:
    slowest = 0.0
    for call in calls.values():
        start = time.perf_counter()
        call()
        slowest = max(slowest, time.perf_counter() - start)
    return max(1, int(block_s / max(slowest, 1e-7)))


def compare(
    op: str, size: int, impls: list[str], repeats: int, block_s: float, memory: bool
) -> dict[str, dict[str, float]]:
    """Median seconds per call (and peak bytes) of each implementation of ``op`` at ``size``."""
    calls = {impl: _call(op, _function(_FUNCTIONS[op][impl]), size) for impl in impls}
    for call in calls.values():  # warm-up
        call()
    count = _calls_per_block(calls, block_s)
    wall: dict[str, list[float]] = {impl: [] for impl in impls}
    cpu: dict[str, list[float]] = {impl: [] for impl in impls}
    for rep in range(repeats):
        for impl in impls if rep % 2 == 0 else impls[::-1]:
            call = calls[impl]
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(count):
                call()
            cpu[impl].append((time.process_time() - start_cpu) / count)
            wall[impl].append((time.perf_counter() - start) / count)
    out = {impl: {"time": statistics.median(wall[impl]), "cpu": statistics.median(cpu[impl])} for impl in impls}
    if memory:
        for impl in impls:
            out[impl]["peak"] = peak_memory(calls[impl], torch.device("cpu")).value
            out[impl]["heap"] = heap_scratch(calls[impl]).value
    return out


def _format_bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    known = ", ".join(OPS + EXTRA_OPS)
    parser.add_argument("--ops", default=",".join(OPS), help=f"comma-separated, of {known} (default: not the last 2)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="boxes (or RoIs) per call")
    parser.add_argument("--impls", default="visdet,mmdet", help="visdet,mmdet or visdet")
    parser.add_argument("--repeats", type=int, default=7, help="timed blocks per implementation")
    parser.add_argument("--block-ms", type=float, default=40.0, help="least work per timed block")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--load", type=int, default=0, help="busy processes during the timing")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory figures (tensor peak, heap scratch)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    impls = args.impls.split(",")
    ops = args.ops.split(",")
    sizes = [int(size) for size in args.sizes.split(",")]
    for op in ops:
        if op not in OPS + EXTRA_OPS:
            parser.error(f"unknown op {op!r}; choose from {', '.join(OPS + EXTRA_OPS)}")
    print(f"threads {args.threads}, load {args.load} busy processes, load average before {load_average()}")
    header = f"{'op':<18}{'size':>6}" + "".join(f"{impl + ' ms':>13}" for impl in impls)
    if len(impls) == 2:
        header += f"{'ratio':>8}{'cpu ratio':>10}"
    if not args.no_memory:
        header += "".join(f"{impl + ' tensor peak':>19}" for impl in impls)
        header += "".join(f"{impl + ' heap scratch':>21}" for impl in impls)
    print(header)
    with background_load(args.load, max_seconds=1800.0):
        for op in ops:
            for size in sizes:
                result = compare(op, size, impls, args.repeats, args.block_ms / 1000, not args.no_memory)
                line = f"{op:<18}{size:>6}" + "".join(f"{result[i]['time'] * 1e3:>13.3f}" for i in impls)
                if len(impls) == 2:
                    line += f"{result[impls[0]]['time'] / result[impls[1]]['time']:>8.2f}"
                    line += f"{result[impls[0]]['cpu'] / result[impls[1]]['cpu']:>10.2f}"
                if not args.no_memory:
                    line += "".join(f"{_format_bytes(result[i]['peak']):>19}" for i in impls)
                    line += "".join(f"{_format_bytes(result[i]['heap']):>21}" for i in impls)
                print(line, flush=True)
    print(f"load average after {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
