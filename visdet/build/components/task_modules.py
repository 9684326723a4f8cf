"""Task-module schemas: prior generators, box coders, IoU calculators, assigners, match costs, samplers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator

from visdet.build.component import Component, ComponentOf, build_optional, component_default
from visdet.build.registry import registry
from visdet.models.task_modules import (
    AnchorGenerator,
    BBoxL1Cost,
    BboxOverlaps2D,
    ClassificationCost,
    DeltaXYWHBBoxCoder,
    DistancePointBBoxCoder,
    DynamicSoftLabelAssigner,
    FocalLossCost,
    HungarianAssigner,
    IoUCost,
    MaxIoUAssigner,
    MlvlPointGenerator,
    PseudoSampler,
    RandomSampler,
)


@registry("prior_generator").register
class AnchorGeneratorConfig(Component):
    """``AnchorGenerator``: anchors per level from strides, ratios and scales."""

    type: Literal["AnchorGenerator"]
    strides: list[int | list[int]] = Field(min_length=1)
    ratios: list[float] = Field(min_length=1)
    scales: list[float] | None = None
    base_sizes: list[float] | None = None
    scale_major: bool = True
    octave_base_scale: float | None = None
    scales_per_octave: int | None = None
    centers: list[list[float]] | None = None
    center_offset: float = 0.0
    example: ClassVar[dict[str, Any]] = {"type": "AnchorGenerator", "strides": [4, 8], "ratios": [0.5, 1.0, 2.0],
                                         "scales": [8]}  # fmt: skip

    def build(self) -> AnchorGenerator:
        """The prior generator."""
        return AnchorGenerator(**self.arguments())


@registry("prior_generator").register
class MlvlPointGeneratorConfig(Component):
    """``MlvlPointGenerator``: one point per feature-map cell (anchor-free heads)."""

    type: Literal["MlvlPointGenerator"]
    strides: list[int | list[int]] = Field(min_length=1)
    offset: float = Field(0.5, description="point offset inside a cell, in strides (0.5: the centre)")
    example: ClassVar[dict[str, Any]] = {"type": "MlvlPointGenerator", "strides": [4, 8]}

    def build(self) -> MlvlPointGenerator:
        """The prior generator."""
        return MlvlPointGenerator(**self.arguments())


@registry("bbox_coder").register
class DeltaXYWHBBoxCoderConfig(Component):
    """``DeltaXYWHBBoxCoder``: (dx, dy, dw, dh) deltas, normalised by means and stds."""

    type: Literal["DeltaXYWHBBoxCoder"]
    target_means: list[float] = Field([0.0, 0.0, 0.0, 0.0], min_length=4, max_length=4)
    target_stds: list[float] = Field([1.0, 1.0, 1.0, 1.0], min_length=4, max_length=4)
    clip_border: bool = True
    add_ctr_clamp: bool = False
    ctr_clamp: float = 32
    example: ClassVar[dict[str, Any]] = {"type": "DeltaXYWHBBoxCoder"}

    def build(self) -> DeltaXYWHBBoxCoder:
        """The box coder."""
        return DeltaXYWHBBoxCoder(**self.arguments())


@registry("bbox_coder").register
class DistancePointBBoxCoderConfig(Component):
    """``DistancePointBBoxCoder``: boxes as distances from a point to their four sides."""

    type: Literal["DistancePointBBoxCoder"]
    clip_border: bool = True
    example: ClassVar[dict[str, Any]] = {"type": "DistancePointBBoxCoder"}

    def build(self) -> DistancePointBBoxCoder:
        """The box coder."""
        return DistancePointBBoxCoder(**self.arguments())


@registry("iou_calculator").register
class BboxOverlaps2DConfig(Component):
    """``BboxOverlaps2D``: the IoU calculator of the assigners."""

    type: Literal["BboxOverlaps2D"]
    scale: float = 1.0
    dtype: Literal["fp16"] | None = None
    example: ClassVar[dict[str, Any]] = {"type": "BboxOverlaps2D"}

    def build(self) -> BboxOverlaps2D:
        """The IoU calculator."""
        return BboxOverlaps2D(**self.arguments())


@registry("assigner").register
class MaxIoUAssignerConfig(Component):
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
    iou_calculator: Annotated[Component, ComponentOf("iou_calculator")] | None = component_default(
        {"type": "BboxOverlaps2D"}
    )
    example: ClassVar[dict[str, Any]] = {"type": "MaxIoUAssigner", "pos_iou_thr": 0.5, "neg_iou_thr": 0.4}

    def build(self) -> MaxIoUAssigner:
        """The assigner."""
        kwargs = self.arguments("iou_calculator")
        return MaxIoUAssigner(iou_calculator=build_optional(self.iou_calculator), **kwargs)


@registry("assigner").register
class DynamicSoftLabelAssignerConfig(Component):
    """``DynamicSoftLabelAssigner``: RTMDet's soft-label cost with dynamic-k matching."""

    type: Literal["DynamicSoftLabelAssigner"]
    soft_center_radius: float = 3.0
    topk: int = Field(13, ge=1)
    iou_weight: float = 3.0
    iou_calculator: Annotated[Component, ComponentOf("iou_calculator")] = component_default(
        {"type": "BboxOverlaps2D"}
    )
    example: ClassVar[dict[str, Any]] = {"type": "DynamicSoftLabelAssigner"}

    def build(self) -> DynamicSoftLabelAssigner:
        """The assigner."""
        return DynamicSoftLabelAssigner(iou_calculator=self.iou_calculator.build(),
                                        **self.arguments("iou_calculator"))  # fmt: skip


@registry("sampler").register
class RandomSamplerConfig(Component):
    """``RandomSampler``: ``num`` samples, at most ``pos_fraction`` positives."""

    type: Literal["RandomSampler"]
    num: int = Field(ge=1)
    pos_fraction: float = Field(ge=0, le=1)
    neg_pos_ub: int = -1
    add_gt_as_proposals: bool = True
    example: ClassVar[dict[str, Any]] = {"type": "RandomSampler", "num": 8, "pos_fraction": 0.5}

    def build(self) -> RandomSampler:
        """The sampler."""
        return RandomSampler(**self.arguments())


@registry("sampler").register
class PseudoSamplerConfig(Component):
    """``PseudoSampler``: every assigned box is a sample."""

    type: Literal["PseudoSampler"]
    context: Any = Field(None, description="mmdet passes the head here; unused")
    example: ClassVar[dict[str, Any]] = {"type": "PseudoSampler"}

    def build(self) -> PseudoSampler:
        """The sampler."""
        return PseudoSampler()


@registry("match_cost").register
class FocalLossCostConfig(Component):
    """``FocalLossCost``: focal-loss classification cost of the Hungarian assigner."""

    type: Literal["FocalLossCost"]
    alpha: float = 0.25
    gamma: float = 2
    eps: float = 1e-12
    binary_input: bool = False
    weight: float = 1.0
    example: ClassVar[dict[str, Any]] = {"type": "FocalLossCost", "weight": 2.0}

    def build(self) -> FocalLossCost:
        """The match cost."""
        return FocalLossCost(**self.arguments())


@registry("match_cost").register
class ClassificationCostConfig(Component):
    """``ClassificationCost``: negative softmax probability of the gt class."""

    type: Literal["ClassificationCost"]
    weight: float = 1.0
    example: ClassVar[dict[str, Any]] = {"type": "ClassificationCost"}

    def build(self) -> ClassificationCost:
        """The match cost."""
        return ClassificationCost(**self.arguments())


@registry("match_cost").register
class BBoxL1CostConfig(Component):
    """``BBoxL1Cost``: L1 distance of image-normalised boxes."""

    type: Literal["BBoxL1Cost"]
    box_format: Literal["xyxy", "xywh"] = "xyxy"
    weight: float = 1.0
    example: ClassVar[dict[str, Any]] = {"type": "BBoxL1Cost", "weight": 5.0, "box_format": "xywh"}

    def build(self) -> BBoxL1Cost:
        """The match cost."""
        return BBoxL1Cost(**self.arguments())


@registry("match_cost").register
class IoUCostConfig(Component):
    """``IoUCost``: negative (G)IoU."""

    type: Literal["IoUCost"]
    iou_mode: Literal["iou", "iof", "giou"] = "giou"
    weight: float = 1.0
    example: ClassVar[dict[str, Any]] = {"type": "IoUCost", "iou_mode": "giou", "weight": 2.0}

    def build(self) -> IoUCost:
        """The match cost."""
        return IoUCost(**self.arguments())


MatchCostField = Annotated[Component, ComponentOf("match_cost")]


@registry("assigner").register
class HungarianAssignerConfig(Component):
    """``HungarianAssigner``: one-to-one matching by the summed match costs (one or a list)."""

    type: Literal["HungarianAssigner"]
    match_costs: list[MatchCostField] = Field(
        min_length=1, description="the match costs (summed); one cost config is taken as a list of one"
    )
    example: ClassVar[dict[str, Any]] = {
        "type": "HungarianAssigner",
        "match_costs": [{"type": "FocalLossCost", "weight": 2.0},
                        {"type": "BBoxL1Cost", "weight": 5.0, "box_format": "xywh"},
                        {"type": "IoUCost", "iou_mode": "giou", "weight": 2.0}],
    }  # fmt: skip

    @field_validator("match_costs", mode="before")
    @classmethod
    def _one_as_list(cls, value: Any) -> Any:
        """Mmdet accepts one cost config as well as a list."""
        return [value] if isinstance(value, Mapping) else value

    def build(self) -> HungarianAssigner:
        """The assigner."""
        return HungarianAssigner(match_costs=[cost.build() for cost in self.match_costs])
