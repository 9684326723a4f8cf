"""Detector schemas: FasterRCNN, MaskRCNN, CascadeRCNN, RPN, RetinaNet, FCOS, RTMDet, and their DetDataPreprocessor.

A detector schema names its :mod:`~visdet.build.routing` routes: where mmdet's
``train_cfg``/``test_cfg`` entries go. :func:`visdet.build.build_model` routes a config
first, then validates and builds it; ``train_cfg``/``test_cfg`` fields exist here so
that editors (JSON Schema) accept mmdet-shaped files, and are empty after routing.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator
from torch import nn

from visdet.build.component import Component, ComponentOf, InitConfig, build_optional, init_field
from visdet.build.components.backbones import SMALL_RESNET
from visdet.build.components.dense_heads import FCOSHeadConfig, RetinaHeadConfig, RPNHeadConfig, RTMDetSepBNHeadConfig
from visdet.build.components.roi_heads import CascadeRoIHeadConfig, StandardRoIHeadConfig
from visdet.build.registry import registry
from visdet.build.routing import RPN_ROUTES, SINGLE_STAGE_ROUTES, TWO_STAGE_ROUTES, Route
from visdet.models.data_preprocessors import DetDataPreprocessor
from visdet.models.detectors import FCOS, RPN, CascadeRCNN, FasterRCNN, MaskRCNN, RetinaNet, RTMDet

ROUTED_NOTE = "mmdet's place for the heads' {}; moved onto the heads before validation (see visdet.build.routing)"
NOT_USED = "no effect on image tensors; accepted for mmdet compatibility"


@registry("data_preprocessor").register
class DetDataPreprocessorConfig(Component):
    """``DetDataPreprocessor``: normalise, convert channels, pad into a batch."""

    type: Literal["DetDataPreprocessor"]
    mean: list[float] | None = Field(None, min_length=1, max_length=3)
    std: list[float] | None = Field(None, min_length=1, max_length=3)
    pad_size_divisor: int = Field(1, ge=1)
    pad_value: float = 0
    bgr_to_rgb: bool = False
    rgb_to_bgr: bool = False
    pad_mask: bool = Field(False, description="pad gt masks to the batch size in training (pad_gt_masks)")
    pad_seg: Literal[False] = Field(False, description="segmentation padding is not implemented")
    mask_pad_value: int = 0
    seg_pad_value: int = Field(255, description=NOT_USED)
    boxtype2tensor: bool = Field(True, description=NOT_USED)
    non_blocking: bool = Field(False, description=NOT_USED)
    batch_augments: list[Annotated[Component, ComponentOf("batch_augment")]] | None = Field(
        None, description="augmentations of the batch on the model's device, in training (visdet's types)"
    )
    example: ClassVar[dict[str, Any]] = {"type": "DetDataPreprocessor", "mean": [0.0, 0.0, 0.0],
                                         "std": [255.0, 255.0, 255.0], "pad_size_divisor": 8}  # fmt: skip

    def build(self) -> DetDataPreprocessor:
        """The preprocessor."""
        augments = [augment.build() for augment in self.batch_augments] if self.batch_augments else None
        return DetDataPreprocessor(
            **self.arguments("pad_seg", "seg_pad_value", "boxtype2tensor", "non_blocking", "batch_augments"),
            batch_augments=augments,
        )


class _DetectorFields(Component):
    """What every detector config has besides its parts."""

    routes: ClassVar[tuple[Route, ...]]
    # dotted paths of the ``num_classes`` entries a dataset's class count sets
    num_classes_paths: ClassVar[tuple[str, ...]] = ()
    backbone: Annotated[Component, ComponentOf("backbone")]
    neck: Annotated[Component, ComponentOf("neck")] | None = None
    data_preprocessor: Annotated[Component, ComponentOf("data_preprocessor")] | None = None
    train_cfg: dict[str, Any] | None = Field(None, description=ROUTED_NOTE.format("training settings"))
    test_cfg: dict[str, Any] | None = Field(None, description=ROUTED_NOTE.format("test settings"))
    init_cfg: InitConfig = init_field()
    pretrained: None = Field(None, description="deprecated in mmdet; load a checkpoint into the built model")

    def parts(self) -> dict[str, nn.Module | None]:
        """The built backbone, neck and data preprocessor."""
        return {"backbone": self.backbone.build(), "neck": build_optional(self.neck),
                "data_preprocessor": build_optional(self.data_preprocessor)}  # fmt: skip


TINY_PARTS = {
    "backbone": {"type": "ResNet", **SMALL_RESNET},
    "neck": {"type": "FPN", "in_channels": [4, 8, 16, 32], "out_channels": 4, "num_outs": 5},
}
TINY_RPN = {**RPNHeadConfig.example, "anchor_generator": {"type": "AnchorGenerator", "strides": [4, 8, 16, 32, 64],
                                                          "ratios": [0.5, 1.0, 2.0], "scales": [8]}}  # fmt: skip
TINY_ROI = {**StandardRoIHeadConfig.example, "bbox_roi_extractor": {
    "type": "SingleRoIExtractor", "roi_layer": {"type": "RoIAlign", "output_size": 2}, "out_channels": 4,
    "featmap_strides": [4, 8, 16, 32]}}  # fmt: skip


@registry("detector").register
class FasterRCNNConfig(_DetectorFields):
    """``FasterRCNN``: backbone, optional neck, RPN head and RoI head."""

    type: Literal["FasterRCNN"]
    routes: ClassVar[tuple[Route, ...]] = TWO_STAGE_ROUTES
    num_classes_paths: ClassVar[tuple[str, ...]] = ("roi_head.bbox_head.num_classes",)
    rpn_head: Annotated[Component, ComponentOf("dense_head")]
    roi_head: Annotated[Component, ComponentOf("roi_head")]
    example: ClassVar[dict[str, Any]] = {"type": "FasterRCNN", **TINY_PARTS, "rpn_head": TINY_RPN, "roi_head": TINY_ROI}

    def build(self) -> FasterRCNN:
        """The detector."""
        return FasterRCNN(rpn_head=self.rpn_head.build(), roi_head=self.roi_head.build(), **self.parts())


TINY_MASK_ROI = {**TINY_ROI, "mask_roi_extractor": {**TINY_ROI["bbox_roi_extractor"], "roi_layer": {
    "type": "RoIAlign", "output_size": 4}}, "mask_head": {"type": "FCNMaskHead", "num_convs": 1, "in_channels": 4,
    "conv_out_channels": 4, "num_classes": 3}, "train_cfg": {**TINY_ROI["train_cfg"], "mask_size": 8},
    "test_cfg": {**TINY_ROI["test_cfg"], "mask_thr_binary": 0.5}}  # fmt: skip


@registry("detector").register
class MaskRCNNConfig(_DetectorFields):
    """``MaskRCNN``: backbone, optional neck, RPN head and a RoI head with a mask branch."""

    type: Literal["MaskRCNN"]
    routes: ClassVar[tuple[Route, ...]] = TWO_STAGE_ROUTES
    num_classes_paths: ClassVar[tuple[str, ...]] = ("roi_head.bbox_head.num_classes", "roi_head.mask_head.num_classes")
    rpn_head: Annotated[Component, ComponentOf("dense_head")]
    roi_head: Annotated[Component, ComponentOf("roi_head")]
    example: ClassVar[dict[str, Any]] = {"type": "MaskRCNN", **TINY_PARTS, "rpn_head": TINY_RPN,
                                         "roi_head": TINY_MASK_ROI}  # fmt: skip

    @field_validator("roi_head", mode="after")
    @classmethod
    def _has_mask_head(cls, roi_head: Component) -> Component:
        if getattr(roi_head, "mask_head", None) is None:
            raise ValueError("MaskRCNN needs a mask head (roi_head.mask_head, e.g. FCNMaskHead)")
        return roi_head

    def build(self) -> MaskRCNN:
        """The detector."""
        return MaskRCNN(rpn_head=self.rpn_head.build(), roi_head=self.roi_head.build(), **self.parts())


TINY_CASCADE_ROI = {**CascadeRoIHeadConfig.example, "bbox_roi_extractor": TINY_ROI["bbox_roi_extractor"]}


@registry("detector").register
class CascadeRCNNConfig(_DetectorFields):
    """``CascadeRCNN``: backbone, optional neck, RPN head and a ``CascadeRoIHead`` (Cascade Mask R-CNN with masks)."""

    type: Literal["CascadeRCNN"]
    routes: ClassVar[tuple[Route, ...]] = TWO_STAGE_ROUTES
    num_classes_paths: ClassVar[tuple[str, ...]] = ("roi_head.bbox_head.num_classes", "roi_head.mask_head.num_classes")
    rpn_head: Annotated[Component, ComponentOf("dense_head")]
    roi_head: Annotated[Component, ComponentOf("roi_head")]
    example: ClassVar[dict[str, Any]] = {"type": "CascadeRCNN", **TINY_PARTS, "rpn_head": TINY_RPN,
                                         "roi_head": TINY_CASCADE_ROI}  # fmt: skip

    def build(self) -> CascadeRCNN:
        """The detector."""
        return CascadeRCNN(rpn_head=self.rpn_head.build(), roi_head=self.roi_head.build(), **self.parts())


@registry("detector").register
class RPNConfig(_DetectorFields):
    """``RPN``: a region proposal network alone (detections are class-agnostic proposals)."""

    type: Literal["RPN"]
    routes: ClassVar[tuple[Route, ...]] = RPN_ROUTES
    rpn_head: Annotated[Component, ComponentOf("dense_head")]
    example: ClassVar[dict[str, Any]] = {"type": "RPN", **TINY_PARTS, "rpn_head": TINY_RPN}

    def build(self) -> RPN:
        """The detector."""
        return RPN(rpn_head=self.rpn_head.build(), **self.parts())


TINY_RETINA = {**RetinaHeadConfig.example, "anchor_generator": {
    "type": "AnchorGenerator", "octave_base_scale": 4, "scales_per_octave": 2, "ratios": [0.5, 1.0],
    "strides": [4, 8, 16, 32, 64]}}  # fmt: skip


@registry("detector").register
class RetinaNetConfig(_DetectorFields):
    """``RetinaNet``: backbone, optional neck and a ``RetinaHead`` (one-stage settings on the head)."""

    type: Literal["RetinaNet"]
    routes: ClassVar[tuple[Route, ...]] = SINGLE_STAGE_ROUTES
    num_classes_paths: ClassVar[tuple[str, ...]] = ("bbox_head.num_classes",)
    bbox_head: Annotated[Component, ComponentOf("dense_head")]
    example: ClassVar[dict[str, Any]] = {"type": "RetinaNet", **TINY_PARTS, "bbox_head": TINY_RETINA}

    def build(self) -> RetinaNet:
        """The detector."""
        return RetinaNet(bbox_head=self.bbox_head.build(), **self.parts())


TINY_FCOS = {**FCOSHeadConfig.example, "strides": [8, 16, 32, 64, 128],
             "regress_ranges": [[-1, 64], [64, 128], [128, 256], [256, 512], [512, 1e8]]}  # fmt: skip


@registry("detector").register
class FCOSConfig(_DetectorFields):
    """``FCOS``: backbone, optional neck and an ``FCOSHead`` (one-stage settings on the head)."""

    type: Literal["FCOS"]
    routes: ClassVar[tuple[Route, ...]] = SINGLE_STAGE_ROUTES
    num_classes_paths: ClassVar[tuple[str, ...]] = ("bbox_head.num_classes",)
    bbox_head: Annotated[Component, ComponentOf("dense_head")]
    example: ClassVar[dict[str, Any]] = {"type": "FCOS", **TINY_PARTS, "bbox_head": TINY_FCOS}

    def build(self) -> FCOS:
        """The detector."""
        return FCOS(bbox_head=self.bbox_head.build(), **self.parts())


TINY_RTMDET_HEAD = {**RTMDetSepBNHeadConfig.example, "anchor_generator": {
    "type": "MlvlPointGenerator", "offset": 0, "strides": [4, 8, 16, 32, 64]}}  # fmt: skip


@registry("detector").register
class RTMDetConfig(_DetectorFields):
    """``RTMDet``: backbone, neck and an RTMDet head (one-stage settings on the head)."""

    type: Literal["RTMDet"]
    routes: ClassVar[tuple[Route, ...]] = SINGLE_STAGE_ROUTES
    num_classes_paths: ClassVar[tuple[str, ...]] = ("bbox_head.num_classes",)
    neck: Annotated[Component, ComponentOf("neck")]  # type: ignore[assignment]
    bbox_head: Annotated[Component, ComponentOf("dense_head")]
    use_syncbn: bool = Field(True, description="SyncBatchNorm under a multi-process group (no effect on one process)")
    example: ClassVar[dict[str, Any]] = {"type": "RTMDet", **TINY_PARTS, "bbox_head": TINY_RTMDET_HEAD}

    def build(self) -> RTMDet:
        """The detector."""
        return RTMDet(bbox_head=self.bbox_head.build(), use_syncbn=self.use_syncbn, **self.parts())
