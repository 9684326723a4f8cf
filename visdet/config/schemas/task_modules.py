"""Schemas of the task modules: anchor generator, box coder, assigner, samplers, losses."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from visdet.config.schemas.base import Component, register


@register
class AnchorGeneratorSchema(Component):
    """``AnchorGenerator``: anchors per level from strides, ratios and scales."""

    type: Literal["AnchorGenerator"]
    strides: list[int | list[int]]
    ratios: list[float]
    scales: list[float] | None = None
    base_sizes: list[float] | None = None
    scale_major: bool = True
    octave_base_scale: float | None = None
    scales_per_octave: int | None = None
    centers: list[list[float]] | None = None
    center_offset: float = 0.0


@register
class DeltaXYWHBBoxCoderSchema(Component):
    """``DeltaXYWHBBoxCoder``: (dx, dy, dw, dh) deltas, normalised by means and stds."""

    type: Literal["DeltaXYWHBBoxCoder"]
    target_means: list[float] = Field([0.0, 0.0, 0.0, 0.0], min_length=4, max_length=4)
    target_stds: list[float] = Field([1.0, 1.0, 1.0, 1.0], min_length=4, max_length=4)
    clip_border: bool = True
    add_ctr_clamp: bool = False
    ctr_clamp: float = 32


@register
class BboxOverlaps2DSchema(Component):
    """``BboxOverlaps2D``: the IoU calculator of the assigners."""

    type: Literal["BboxOverlaps2D"]
    scale: float = 1.0
    dtype: Literal["fp16"] | None = None


@register
class MaxIoUAssignerSchema(Component):
    """``MaxIoUAssigner``: positives above ``pos_iou_thr``, negatives below ``neg_iou_thr``."""

    type: Literal["MaxIoUAssigner"]
    pos_iou_thr: float
    neg_iou_thr: float | list[float]
    min_pos_iou: float = 0.0
    gt_max_assign_all: bool = True
    ignore_iof_thr: float = -1
    ignore_wrt_candidates: bool = True
    match_low_quality: bool = True
    gpu_assign_thr: float = -1
    iou_calculator: BboxOverlaps2DSchema | None = None


@register
class RandomSamplerSchema(Component):
    """``RandomSampler``: ``num`` samples, at most ``pos_fraction`` positives."""

    type: Literal["RandomSampler"]
    num: int = Field(ge=1)
    pos_fraction: float = Field(ge=0, le=1)
    neg_pos_ub: int = -1
    add_gt_as_proposals: bool = True


@register
class PseudoSamplerSchema(Component):
    """``PseudoSampler``: every assigned box is a sample."""

    type: Literal["PseudoSampler"]


SamplerSchema = Annotated[RandomSamplerSchema | PseudoSamplerSchema, Field(discriminator="type")]

Reduction = Literal["none", "mean", "sum"]


@register
class CrossEntropyLossSchema(Component):
    """``CrossEntropyLoss`` (softmax, or sigmoid with ``use_sigmoid``)."""

    type: Literal["CrossEntropyLoss"]
    use_sigmoid: bool = False
    use_mask: bool = False
    reduction: Reduction = "mean"
    class_weight: list[float] | None = None
    ignore_index: int | None = None
    loss_weight: float = 1.0
    avg_non_ignore: bool = False


@register
class L1LossSchema(Component):
    """``L1Loss``."""

    type: Literal["L1Loss"]
    reduction: Reduction = "mean"
    loss_weight: float = 1.0


@register
class SmoothL1LossSchema(Component):
    """``SmoothL1Loss`` (quadratic below ``beta``)."""

    type: Literal["SmoothL1Loss"]
    beta: float = Field(1.0, gt=0)
    reduction: Reduction = "mean"
    loss_weight: float = 1.0


ClsLossSchema = CrossEntropyLossSchema
BoxLossSchema = Annotated[L1LossSchema | SmoothL1LossSchema, Field(discriminator="type")]
