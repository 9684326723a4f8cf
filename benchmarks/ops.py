"""asv: the functional ops, visdet against mmcv/mmdet (``impl`` parameter).

The ``mmdet`` side is skipped (NotImplementedError in setup) where mmcv/mmdet are not
installed, which is the case in asv's own environments; see README.md for running it
against the reference environment.
"""

from __future__ import annotations

import torch

from benchmarks._common import (
    IMPLS,
    configure_torch,
    generator,
    load,
    random_boxes,
    skip_slow,
    with_injected_slowdown,
)

SOURCES = {
    "nms": {"visdet": ("visdet.ops:nms", "visdet.ops.nms:nms"), "mmdet": ("mmcv.ops:nms",)},
    "batched_nms": {
        "visdet": ("visdet.ops:batched_nms", "visdet.ops.nms:batched_nms"),
        "mmdet": ("mmcv.ops:batched_nms",),
    },
    "soft_nms": {
        "visdet": ("visdet.ops:soft_nms", "visdet.ops.soft_nms:soft_nms"),
        "mmdet": ("mmcv.ops:soft_nms",),
    },
    "roi_align": {
        "visdet": ("visdet.ops:roi_align", "visdet.ops.roi_align:roi_align"),
        "mmdet": ("mmcv.ops:roi_align",),
    },
    "bbox_overlaps": {
        "visdet": ("visdet.ops:bbox_overlaps", "visdet.ops.bbox_overlaps:bbox_overlaps"),
        "mmdet": ("mmdet.structures.bbox:bbox_overlaps",),
    },
}


def op(name: str, impl: str):
    """The op ``name`` of ``impl``, with the injected slowdown for visdet's."""
    found = load(*SOURCES[name][impl])
    return with_injected_slowdown(name, found) if impl == "visdet" else found


class _OpBench:
    op_name = ""
    slow_sizes: tuple[int, ...] = ()
    timeout = 120
    # Fewer, shorter samples than asv's defaults (max 10 samples or 20 s): the default
    # set must stay within a few minutes on a 2-core machine.
    repeat = (2, 8, 3.0)
    warmup_time = 0.1

    def setup(self, impl, size):
        skip_slow(size in self.slow_sizes)
        configure_torch()
        self.fn = op(self.op_name, impl)
        self.prepare(size)

    def prepare(self, size):
        gen = generator()
        self.boxes = random_boxes(size, gen)
        self.scores = torch.rand(size, generator=gen)


class NMS(_OpBench):
    """Greedy NMS, IoU 0.5, over N random boxes."""

    op_name = "nms"
    params = (IMPLS, [1000, 4000, 10000])
    param_names = ["impl", "boxes"]
    slow_sizes = (10000,)

    def time_nms(self, impl, size):
        self.fn(self.boxes, self.scores, 0.5)

    def peakmem_nms(self, impl, size):
        self.fn(self.boxes, self.scores, 0.5)


class BatchedNMS(_OpBench):
    """Per-class NMS over 80 random classes."""

    op_name = "batched_nms"
    params = (IMPLS, [1000, 10000])
    param_names = ["impl", "boxes"]

    def prepare(self, size):
        super().prepare(size)
        self.idxs = torch.randint(0, 80, (size,), generator=generator())

    def time_batched_nms(self, impl, size):
        self.fn(self.boxes, self.scores, self.idxs, {"type": "nms", "iou_threshold": 0.5})


class SoftNMS(_OpBench):
    """Linear soft-NMS (mmcv's defaults)."""

    op_name = "soft_nms"
    params = (IMPLS, [500, 2000])
    param_names = ["impl", "boxes"]
    slow_sizes = (2000,)

    def time_soft_nms(self, impl, size):
        self.fn(self.boxes, self.scores, 0.3, 0.5, 1e-3, "linear")


class RoIAlign(_OpBench):
    """roi_align on a 2x256x100x152 map, 7x7 output, scale 1/4, aligned."""

    op_name = "roi_align"
    params = (IMPLS, [100, 1000])
    param_names = ["impl", "rois"]
    slow_sizes = (1000,)

    def prepare(self, size):
        gen = generator()
        self.features = torch.randn(2, 256, 100, 152, generator=gen)
        boxes = random_boxes(size, gen, image_size=400.0, max_side=200.0)
        index = torch.randint(0, 2, (size, 1), generator=gen).float()
        self.rois = torch.cat([index, boxes], dim=1)
        self.trainable = self.features.clone().requires_grad_(True)

    def time_forward(self, impl, size):
        self.fn(self.features, self.rois, (7, 7), 0.25, 0, "avg", True)

    def time_forward_backward(self, impl, size):
        self.fn(self.trainable, self.rois, (7, 7), 0.25, 0, "avg", True).sum().backward()

    def peakmem_forward(self, impl, size):
        self.fn(self.features, self.rois, (7, 7), 0.25, 0, "avg", True)


class BboxOverlaps(_OpBench):
    """Pairwise IoU of two sets of N boxes."""

    op_name = "bbox_overlaps"
    params = (IMPLS, [100, 1000, 3000])
    param_names = ["impl", "boxes"]

    def prepare(self, size):
        gen = generator()
        self.first = random_boxes(size, gen)
        self.second = random_boxes(size, gen)

    def time_bbox_overlaps(self, impl, size):
        self.fn(self.first, self.second, "iou", False)

    def peakmem_bbox_overlaps(self, impl, size):
        self.fn(self.first, self.second, "iou", False)
