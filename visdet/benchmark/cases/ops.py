"""Benchmark cases for the functional ops (``visdet.ops``) and mmcv's equivalents.

Sizes: N boxes for the NMS family, N x N pairs for ``bbox_overlaps``, R RoIs for
``roi_align``. Boxes are random xyxy boxes in a 1000x1000 image (sides 4..200 px), so
NMS suppresses a realistic share of them. Both implementations get the same tensors
and the same arguments; mmcv's ops are ``autograd.Function.apply`` and take positional
arguments only, so every call here is positional.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from visdet.benchmark.cases.base import (
    Case,
    Workload,
    generator,
    random_boxes,
    register,
    require,
)

_SOURCES: dict[str, dict[str, tuple[str, ...]]] = {
    "nms": {"visdet": ("visdet.ops:nms", "visdet.ops.nms:nms"), "mmdet": ("mmcv.ops:nms",)},
    "batched_nms": {
        "visdet": ("visdet.ops:batched_nms", "visdet.ops.nms:batched_nms"),
        "mmdet": ("mmcv.ops:batched_nms",),
    },
    "soft_nms": {
        "visdet": ("visdet.ops:soft_nms", "visdet.ops.soft_nms:soft_nms"),
        "mmdet": ("mmcv.ops:soft_nms",),
    },
    "multiclass_nms": {
        "visdet": ("visdet.ops:multiclass_nms", "visdet.ops.multiclass_nms:multiclass_nms"),
        "mmdet": ("mmdet.models.layers:multiclass_nms",),
    },
    "roi_align": {
        "visdet": ("visdet.ops:roi_align", "visdet.ops.roi_align:roi_align"),
        "mmdet": ("mmcv.ops:roi_align",),
    },
    "multi_scale_deformable_attn": {
        "visdet": ("visdet.ops.multi_scale_deform_attn:multi_scale_deformable_attn_pytorch",),
        # mmcv runs this function itself on CPU (its compiled kernel is CUDA/MLU only)
        "mmdet": ("mmcv.ops.multi_scale_deform_attn:multi_scale_deformable_attn_pytorch",),
    },
    "bbox_overlaps": {
        "visdet": ("visdet.ops:bbox_overlaps", "visdet.ops.bbox_overlaps:bbox_overlaps"),
        # visdet's bbox_overlaps has mmdet's signature (mode, is_aligned, eps).
        "mmdet": ("mmdet.structures.bbox:bbox_overlaps",),
    },
}

IOU_THRESHOLD = 0.5
NUM_CLASSES = 80
# roi_align: one FPN-level-like map (stride 4 of a 400x608 image), Faster R-CNN's 7x7
# output with adaptive sampling and aligned coordinates.
ROI_FEATURE_SHAPE = (2, 256, 100, 152)
ROI_OUTPUT = (7, 7)
ROI_SPATIAL_SCALE = 0.25


def _op(name: str, impl: str) -> Callable:
    return require(*_SOURCES[name][impl])


def _builders(name: str, make: Callable[[Callable, int, torch.device], Workload]) -> dict:
    def builder_for(impl: str):
        def build(size: int, device: torch.device) -> Workload:
            return make(_op(name, impl), size, device)

        return build

    return {impl: builder_for(impl) for impl in ("visdet", "mmdet")}


def _boxes_scores(size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    gen = generator()
    boxes = random_boxes(size, gen)
    scores = torch.rand(size, generator=gen)
    return boxes.to(device), scores.to(device)


def _nms(op: Callable, size: int, device: torch.device) -> Workload:
    boxes, scores = _boxes_scores(size, device)
    return Workload(forward=lambda: op(boxes, scores, IOU_THRESHOLD))


def _batched_nms(op: Callable, size: int, device: torch.device) -> Workload:
    boxes, scores = _boxes_scores(size, device)
    idxs = torch.randint(0, NUM_CLASSES, (size,), generator=generator()).to(device)
    cfg = {"type": "nms", "iou_threshold": IOU_THRESHOLD}
    return Workload(forward=lambda: op(boxes, scores, idxs, dict(cfg)))


def _soft_nms(op: Callable, size: int, device: torch.device) -> Workload:
    boxes, scores = _boxes_scores(size, device)
    # iou_threshold, sigma, min_score, method (mmcv's defaults, spelled out)
    return Workload(forward=lambda: op(boxes, scores, 0.3, 0.5, 1e-3, "linear"))


def _multiclass_nms(op: Callable, size: int, device: torch.device) -> Workload:
    gen = generator()
    boxes = random_boxes(size, gen).to(device)
    # softmax scores over K classes plus background (last column), as a bbox head gives
    scores = torch.rand(size, NUM_CLASSES + 1, generator=gen).softmax(dim=1).to(device)
    cfg = {"type": "nms", "iou_threshold": IOU_THRESHOLD}
    return Workload(forward=lambda: op(boxes, scores, 0.05 / NUM_CLASSES, dict(cfg), 100))


def _roi_align(op: Callable, size: int, device: torch.device) -> Workload:
    gen = generator()
    batch, _, height, width = ROI_FEATURE_SHAPE
    features = torch.randn(ROI_FEATURE_SHAPE, generator=gen).to(device)
    image_size = min(height, width) / ROI_SPATIAL_SCALE
    boxes = random_boxes(size, gen, image_size=image_size, max_side=image_size / 2)
    batch_index = torch.randint(0, batch, (size, 1), generator=gen).float()
    rois = torch.cat([batch_index, boxes], dim=1).to(device)
    args = (ROI_OUTPUT, ROI_SPATIAL_SCALE, 0, "avg", True)
    trainable = features.clone().requires_grad_(True)

    def train() -> None:
        op(trainable, rois, *args).sum().backward()
        trainable.grad = None

    return Workload(forward=lambda: op(features, rois, *args), train=train)


# deformable attention: Deformable DETR / DINO's defaults (8 heads of 32 channels, 4 levels, 4 points) on
# the strides 8-64 maps of a 400x608 image (5,067 keys)
MSDA_SHAPES = ((50, 76), (25, 38), (13, 19), (7, 10))
MSDA_HEADS, MSDA_CHANNELS, MSDA_POINTS = 8, 32, 4


def _multi_scale_deformable_attn(op: Callable, size: int, device: torch.device) -> Workload:
    gen = generator()
    keys = sum(h * w for h, w in MSDA_SHAPES)
    levels = len(MSDA_SHAPES)
    value = torch.randn(1, keys, MSDA_HEADS, MSDA_CHANNELS, generator=gen).to(device)
    shapes = torch.tensor(MSDA_SHAPES, dtype=torch.long, device=device)
    locations = torch.rand(1, size, MSDA_HEADS, levels, MSDA_POINTS, 2, generator=gen).to(device)
    weights = torch.rand(1, size, MSDA_HEADS, levels, MSDA_POINTS, generator=gen).softmax(-1).to(device)
    trainable = [t.clone().requires_grad_(True) for t in (value, locations, weights)]

    def train() -> None:
        op(trainable[0], shapes, trainable[1], trainable[2]).sum().backward()
        for tensor in trainable:
            tensor.grad = None

    return Workload(forward=lambda: op(value, shapes, locations, weights), train=train)


def _bbox_overlaps(op: Callable, size: int, device: torch.device) -> Workload:
    gen = generator()
    first = random_boxes(size, gen).to(device)
    second = random_boxes(size, gen).to(device)
    return Workload(forward=lambda: op(first, second, "iou", False))


register(
    Case(
        component="ops/nms",
        size_name="boxes",
        sizes=(1000, 4000, 10000),
        quick_sizes=(64,),
        builders=_builders("nms", _nms),
        description=f"greedy NMS, iou_threshold={IOU_THRESHOLD}, random boxes",
    )
)
register(
    Case(
        component="ops/batched_nms",
        size_name="boxes",
        sizes=(1000, 10000),
        quick_sizes=(64,),
        builders=_builders("batched_nms", _batched_nms),
        description=f"per-class NMS over {NUM_CLASSES} random classes",
    )
)
register(
    Case(
        component="ops/soft_nms",
        size_name="boxes",
        sizes=(500, 2000),
        quick_sizes=(32,),
        builders=_builders("soft_nms", _soft_nms),
        description="linear soft-NMS, iou_threshold=0.3, sigma=0.5, min_score=1e-3",
    )
)
register(
    Case(
        component="ops/multiclass_nms",
        size_name="boxes",
        sizes=(1000, 5000),
        quick_sizes=(32,),
        builders=_builders("multiclass_nms", _multiclass_nms),
        description=f"{NUM_CLASSES}+1 softmax scores per box, shared boxes, max_num=100",
    )
)
register(
    Case(
        component="ops/roi_align",
        size_name="rois",
        sizes=(100, 500, 1000),
        quick_sizes=(8,),
        builders=_builders("roi_align", _roi_align),
        description=f"features {ROI_FEATURE_SHAPE}, output {ROI_OUTPUT}, scale "
        f"{ROI_SPATIAL_SCALE}, sampling_ratio=0, aligned; train = forward + backward",
    )
)
register(
    Case(
        component="ops/multi_scale_deformable_attn",
        size_name="queries",
        sizes=(300, 5067),
        quick_sizes=(8,),
        builders=_builders("multi_scale_deformable_attn", _multi_scale_deformable_attn),
        description=f"{MSDA_HEADS} heads x {MSDA_CHANNELS} channels, {MSDA_POINTS} points on the levels "
        f"{MSDA_SHAPES} (decoder: 300 queries; encoder: one per key); train = forward + backward",
    )
)
register(
    Case(
        component="ops/bbox_overlaps",
        size_name="boxes (N x N pairs)",
        sizes=(100, 1000, 3000),
        quick_sizes=(16,),
        builders=_builders("bbox_overlaps", _bbox_overlaps),
        description="pairwise IoU of two sets of N random boxes",
    )
)
