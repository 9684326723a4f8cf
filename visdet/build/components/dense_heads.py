"""Dense-head schemas: ``RPNHead`` (``train_cfg.rpn``), ``RetinaHead``, ``FCOSHead``, RTMDet and RTMDet-Ins heads."""

from __future__ import annotations

import warnings
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from visdet.build.component import Component, ComponentOf, InitConfig, component_default, init_field
from visdet.build.components.backbones import CSPNormConfig
from visdet.build.components.common import ActConfig, NormConfig
from visdet.build.components.train_settings import AnchorTrainSettings
from visdet.build.registry import registry
from visdet.models.dense_heads import (
    DenseTestConfig,
    FCOSHead,
    ProposalConfig,
    RetinaHead,
    RPNHead,
    RTMDetHead,
    RTMDetInsHead,
    RTMDetInsSepBNHead,
    RTMDetInsTestConfig,
    RTMDetSepBNHead,
)
from visdet.models.dense_heads.fcos_head import DEFAULT_REGRESS_RANGES


@registry("dense_head").register
class RPNHeadConfig(Component):
    """``RPNHead``: objectness and box deltas per anchor, proposals by NMS."""

    type: Literal["RPNHead"]
    in_channels: int = Field(ge=1)
    feat_channels: int = Field(256, ge=1)
    num_convs: int = Field(1, ge=1)
    num_classes: int = Field(1, description="proposals are class-agnostic: mmdet warns and uses 1")
    # mmdet's AnchorHead default (three scales, three ratios, five FPN strides)
    anchor_generator: Annotated[Component, ComponentOf("prior_generator")] = component_default(
        {"type": "AnchorGenerator", "scales": [8, 16, 32], "ratios": [0.5, 1.0, 2.0], "strides": [4, 8, 16, 32, 64]}
    )
    bbox_coder: Annotated[Component, ComponentOf("bbox_coder")] = component_default({"type": "DeltaXYWHBBoxCoder"})
    loss_cls: Annotated[Component, ComponentOf("loss")] = component_default(
        {"type": "CrossEntropyLoss", "use_sigmoid": True, "loss_weight": 1.0}
    )
    loss_bbox: Annotated[Component, ComponentOf("loss")] = component_default(
        {"type": "SmoothL1Loss", "beta": 1.0 / 9.0, "loss_weight": 1.0}
    )
    reg_decoded_bbox: bool = False
    train_cfg: AnchorTrainSettings | None = Field(None, description="mmdet's train_cfg.rpn")
    test_cfg: ProposalConfig | None = Field(None, description="mmdet's test_cfg.rpn")
    rpn_proposal: ProposalConfig | None = Field(
        None, description="proposals while training (mmdet's train_cfg.rpn_proposal); default: test_cfg"
    )
    init_cfg: InitConfig = init_field()
    example: ClassVar[dict[str, Any]] = {
        "type": "RPNHead", "in_channels": 4, "feat_channels": 4,
        "anchor_generator": {"type": "AnchorGenerator", "strides": [4, 8], "ratios": [1.0], "scales": [8]},
        "train_cfg": {"assigner": {"type": "MaxIoUAssigner", "pos_iou_thr": 0.7, "neg_iou_thr": 0.3},
                      "sampler": {"type": "RandomSampler", "num": 16, "pos_fraction": 0.5,
                                  "add_gt_as_proposals": False}},
    }  # fmt: skip

    def build(self) -> RPNHead:
        """The head, with its training parts when ``train_cfg`` is given."""
        if self.num_classes != 1:  # mmdet warns and forces 1
            warnings.warn(f"rpn_head.num_classes should be 1, got {self.num_classes}; using 1", stacklevel=2)
        return RPNHead(
            in_channels=self.in_channels,
            feat_channels=self.feat_channels,
            num_convs=self.num_convs,
            anchor_generator=self.anchor_generator.build(),
            bbox_coder=self.bbox_coder.build(),
            loss_cls=self.loss_cls.build(),
            loss_bbox=self.loss_bbox.build(),
            reg_decoded_bbox=self.reg_decoded_bbox,
            test_proposals=self.test_cfg,
            train_proposals=self.rpn_proposal,
            **(self.train_cfg.parts() if self.train_cfg is not None else {}),
        )


@registry("dense_head").register
class RetinaHeadConfig(Component):
    """``RetinaHead``: stacked conv subnets, per-anchor sigmoid class scores and box deltas."""

    type: Literal["RetinaHead"]
    num_classes: int = Field(ge=1)
    in_channels: int = Field(ge=1)
    stacked_convs: int = Field(4, ge=0)
    feat_channels: int = Field(256, ge=1)
    conv_cfg: dict[str, Any] | None = None
    norm_cfg: NormConfig | None = None
    # RetinaNet's octave anchors: 3 scales per octave from 4, three ratios, strides 8..128
    anchor_generator: Annotated[Component, ComponentOf("prior_generator")] = component_default(
        {"type": "AnchorGenerator", "octave_base_scale": 4, "scales_per_octave": 3, "ratios": [0.5, 1.0, 2.0],
         "strides": [8, 16, 32, 64, 128]}
    )  # fmt: skip
    bbox_coder: Annotated[Component, ComponentOf("bbox_coder")] = component_default({"type": "DeltaXYWHBBoxCoder"})
    loss_cls: Annotated[Component, ComponentOf("loss")] = component_default(
        {"type": "CrossEntropyLoss", "use_sigmoid": True, "loss_weight": 1.0}
    )
    loss_bbox: Annotated[Component, ComponentOf("loss")] = component_default(
        {"type": "SmoothL1Loss", "beta": 1.0 / 9.0, "loss_weight": 1.0}
    )
    reg_decoded_bbox: bool = False
    train_cfg: AnchorTrainSettings | None = Field(None, description="mmdet's train_cfg of a one-stage detector")
    test_cfg: DenseTestConfig | None = Field(None, description="mmdet's test_cfg of a one-stage detector")
    init_cfg: InitConfig = init_field()
    example: ClassVar[dict[str, Any]] = {
        "type": "RetinaHead", "num_classes": 3, "in_channels": 4, "feat_channels": 4, "stacked_convs": 1,
        "anchor_generator": {"type": "AnchorGenerator", "octave_base_scale": 4, "scales_per_octave": 2,
                             "ratios": [1.0], "strides": [4, 8]},
        "loss_cls": {"type": "FocalLoss"}, "loss_bbox": {"type": "L1Loss"},
        "train_cfg": {"assigner": {"type": "MaxIoUAssigner", "pos_iou_thr": 0.5, "neg_iou_thr": 0.4,
                                   "min_pos_iou": 0},
                      "sampler": {"type": "PseudoSampler"}},
        "test_cfg": {"nms_pre": 50, "score_thr": 0.05, "min_bbox_size": 0,
                     "nms": {"type": "nms", "iou_threshold": 0.5}, "max_per_img": 20},
    }  # fmt: skip

    def build(self) -> RetinaHead:
        """The head, with its training parts when ``train_cfg`` is given."""
        return RetinaHead(
            num_classes=self.num_classes,
            in_channels=self.in_channels,
            feat_channels=self.feat_channels,
            stacked_convs=self.stacked_convs,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg.plain() if self.norm_cfg is not None else None,
            anchor_generator=self.anchor_generator.build(),
            bbox_coder=self.bbox_coder.build(),
            loss_cls=self.loss_cls.build(),
            loss_bbox=self.loss_bbox.build(),
            reg_decoded_bbox=self.reg_decoded_bbox,
            test_cfg=self.test_cfg,
            **(self.train_cfg.parts() if self.train_cfg is not None else {}),
        )


@registry("dense_head").register
class FCOSHeadConfig(Component):
    """``FCOSHead``: per-point sigmoid class scores, side distances and centerness (GN towers by default)."""

    type: Literal["FCOSHead"]
    num_classes: int = Field(ge=1)
    in_channels: int = Field(ge=1)
    feat_channels: int = Field(256, ge=1)
    stacked_convs: int = Field(4, ge=0)
    strides: list[int | list[int]] = Field([4, 8, 16, 32, 64], min_length=1)
    regress_ranges: list[list[float]] = Field([list(r) for r in DEFAULT_REGRESS_RANGES], min_length=1)
    center_sampling: bool = False
    center_sample_radius: float = 1.5
    norm_on_bbox: bool = False
    centerness_on_reg: bool = False
    dcn_on_last_conv: Literal[False] = Field(False, description="deformable convs are not implemented")
    conv_bias: bool | Literal["auto"] = "auto"
    conv_cfg: dict[str, Any] | None = None
    norm_cfg: NormConfig | None = Field(default_factory=lambda: NormConfig(type="GN", num_groups=32,
                                                                            requires_grad=True))  # fmt: skip
    cls_predictor_cfg: None = Field(None, description="NormedConv2d classifiers are not implemented")
    loss_cls: Annotated[Component, ComponentOf("loss")] = component_default(
        {"type": "FocalLoss", "use_sigmoid": True, "gamma": 2.0, "alpha": 0.25, "loss_weight": 1.0}
    )
    loss_bbox: Annotated[Component, ComponentOf("loss")] = component_default({"type": "IoULoss", "loss_weight": 1.0})
    loss_centerness: Annotated[Component, ComponentOf("loss")] = component_default(
        {"type": "CrossEntropyLoss", "use_sigmoid": True, "loss_weight": 1.0}
    )
    bbox_coder: Annotated[Component, ComponentOf("bbox_coder")] = component_default(
        {"type": "DistancePointBBoxCoder"}
    )
    train_cfg: dict[str, Any] | None = Field(None, description="mmdet stores it; FCOS assigns by itself, unused")
    test_cfg: DenseTestConfig | None = Field(None, description="mmdet's test_cfg of a one-stage detector")
    init_cfg: InitConfig = init_field()
    example: ClassVar[dict[str, Any]] = {
        "type": "FCOSHead", "num_classes": 3, "in_channels": 4, "feat_channels": 4, "stacked_convs": 1,
        "strides": [4, 8], "regress_ranges": [[-1, 16], [16, 1e8]], "norm_cfg": {"type": "GN", "num_groups": 2},
        "test_cfg": {"nms_pre": 50, "score_thr": 0.05, "min_bbox_size": 0,
                     "nms": {"type": "nms", "iou_threshold": 0.5}, "max_per_img": 20},
    }  # fmt: skip

    def build(self) -> FCOSHead:
        """The head."""
        return FCOSHead(
            num_classes=self.num_classes,
            in_channels=self.in_channels,
            feat_channels=self.feat_channels,
            stacked_convs=self.stacked_convs,
            strides=self.strides,
            regress_ranges=self.regress_ranges,
            center_sampling=self.center_sampling,
            center_sample_radius=self.center_sample_radius,
            norm_on_bbox=self.norm_on_bbox,
            centerness_on_reg=self.centerness_on_reg,
            conv_bias=self.conv_bias,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg.plain() if self.norm_cfg is not None else None,
            loss_cls=self.loss_cls.build(),
            loss_bbox=self.loss_bbox.build(),
            loss_centerness=self.loss_centerness.build(),
            bbox_coder=self.bbox_coder.build(),
            test_cfg=self.test_cfg,
        )


RTMDET_EXAMPLE_PARTS: dict[str, Any] = {
    "num_classes": 3, "in_channels": 4, "feat_channels": 4, "stacked_convs": 1,
    "anchor_generator": {"type": "MlvlPointGenerator", "offset": 0, "strides": [8, 16]},
    "bbox_coder": {"type": "DistancePointBBoxCoder"},
    "loss_cls": {"type": "QualityFocalLoss", "use_sigmoid": True, "beta": 2.0, "loss_weight": 1.0},
    "loss_bbox": {"type": "GIoULoss", "loss_weight": 2.0},
    "train_cfg": {"assigner": {"type": "DynamicSoftLabelAssigner", "topk": 13}, "allowed_border": -1,
                  "pos_weight": -1, "debug": False},
    "test_cfg": {"nms_pre": 100, "min_bbox_size": 0, "score_thr": 0.001,
                 "nms": {"type": "nms", "iou_threshold": 0.65}, "max_per_img": 30},
}  # fmt: skip


@registry("dense_head").register
class RTMDetHeadConfig(Component):
    """``RTMDetHead``: shared towers, QFL/GIoU with dynamic soft labels (mmdet's ATSSHead/AnchorHead defaults)."""

    type: Literal["RTMDetHead"]
    num_classes: int = Field(ge=1)
    in_channels: int = Field(ge=1)
    with_objectness: bool = True
    act_cfg: ActConfig | None = Field(default_factory=lambda: ActConfig(type="ReLU"))
    feat_channels: int = Field(256, ge=1)
    stacked_convs: int = Field(4, ge=0)
    pred_kernel_size: int = Field(3, ge=1)
    conv_cfg: dict[str, Any] | None = None
    norm_cfg: NormConfig | None = Field(default_factory=lambda: NormConfig(type="GN", num_groups=32,
                                                                            requires_grad=True))  # fmt: skip
    # mmdet's AnchorHead defaults (RTMDet's configs give points, a distance coder, QFL and GIoU)
    anchor_generator: Annotated[Component, ComponentOf("prior_generator")] = component_default(
        {"type": "AnchorGenerator", "scales": [8, 16, 32], "ratios": [0.5, 1.0, 2.0], "strides": [4, 8, 16, 32, 64]}
    )
    bbox_coder: Annotated[Component, ComponentOf("bbox_coder")] = component_default({"type": "DeltaXYWHBBoxCoder"})
    loss_cls: Annotated[Component, ComponentOf("loss")] = component_default(
        {"type": "CrossEntropyLoss", "use_sigmoid": True, "loss_weight": 1.0}
    )
    loss_bbox: Annotated[Component, ComponentOf("loss")] = component_default(
        {"type": "SmoothL1Loss", "beta": 1.0 / 9.0, "loss_weight": 1.0}
    )
    reg_decoded_bbox: bool = True
    loss_centerness: Annotated[Component, ComponentOf("loss")] = component_default(
        {"type": "CrossEntropyLoss", "use_sigmoid": True, "loss_weight": 1.0}
    )
    train_cfg: AnchorTrainSettings | None = Field(None, description="mmdet's train_cfg of a one-stage detector")
    test_cfg: DenseTestConfig | None = Field(None, description="mmdet's test_cfg of a one-stage detector")
    init_cfg: InitConfig = init_field()
    example: ClassVar[dict[str, Any]] = {"type": "RTMDetHead", **RTMDET_EXAMPLE_PARTS,
                                         "norm_cfg": {"type": "GN", "num_groups": 2}}  # fmt: skip

    def head_arguments(self) -> dict[str, Any]:
        """The constructor keywords shared by both RTMDet heads."""
        parts = self.arguments("act_cfg", "norm_cfg", "anchor_generator", "bbox_coder", "loss_cls", "loss_bbox",
                               "loss_centerness", "train_cfg")  # fmt: skip
        return {
            **parts,
            "act_cfg": self.act_cfg.plain() if self.act_cfg is not None else None,
            "norm_cfg": self.norm_cfg.plain() if self.norm_cfg is not None else None,
            "anchor_generator": self.anchor_generator.build(),
            "bbox_coder": self.bbox_coder.build(),
            "loss_cls": self.loss_cls.build(),
            "loss_bbox": self.loss_bbox.build(),
            "loss_centerness": self.loss_centerness.build(),
            **(self.train_cfg.parts() if self.train_cfg is not None else {}),
        }

    def build(self) -> RTMDetHead:
        """The head, with its training parts when ``train_cfg`` is given."""
        return RTMDetHead(**self.head_arguments())


@registry("dense_head").register
class RTMDetSepBNHeadConfig(RTMDetHeadConfig):
    """``RTMDetSepBNHead``: per-level towers sharing convs, separate BN (RTMDet's configs)."""

    type: Literal["RTMDetSepBNHead"]  # type: ignore[assignment]
    share_conv: bool = True
    use_depthwise: bool = False
    norm_cfg: CSPNormConfig | None = Field(  # type: ignore[assignment]
        default_factory=lambda: CSPNormConfig(type="BN", momentum=0.03, eps=0.001)
    )
    act_cfg: ActConfig | None = Field(default_factory=lambda: ActConfig(type="SiLU"))
    pred_kernel_size: int = Field(1, ge=1)
    exp_on_reg: bool = False
    example: ClassVar[dict[str, Any]] = {"type": "RTMDetSepBNHead", **RTMDET_EXAMPLE_PARTS, "with_objectness": False,
                                         "exp_on_reg": True}  # fmt: skip

    def build(self) -> RTMDetSepBNHead:
        """The head, with its training parts when ``train_cfg`` is given."""
        return RTMDetSepBNHead(**self.head_arguments())


RTMDET_INS_TEST = {**RTMDET_EXAMPLE_PARTS["test_cfg"], "mask_thr_binary": 0.5}
# strides 4 and 8: the gt masks of the examples' images are 4x the first level (the mask loss's stride)
RTMDET_INS_EXAMPLE_PARTS = {
    **RTMDET_EXAMPLE_PARTS, "test_cfg": RTMDET_INS_TEST,
    "anchor_generator": {"type": "MlvlPointGenerator", "offset": 0, "strides": [4, 8]},
}  # fmt: skip


@registry("dense_head").register
class RTMDetInsHeadConfig(RTMDetHeadConfig):
    """``RTMDetInsHead``: RTMDet's shared head plus dynamic-conv instance masks (Dice loss)."""

    type: Literal["RTMDetInsHead"]  # type: ignore[assignment]
    num_prototypes: int = Field(8, ge=1)
    dyconv_channels: int = Field(8, ge=1)
    num_dyconvs: int = Field(3, ge=1)
    mask_loss_stride: int = Field(4, ge=1)
    loss_mask: Annotated[Component, ComponentOf("loss")] = component_default(
        {"type": "DiceLoss", "loss_weight": 2.0, "eps": 5e-6, "reduction": "mean"}
    )
    test_cfg: RTMDetInsTestConfig | None = Field(  # type: ignore[assignment]
        None, description="mmdet's test_cfg of a one-stage detector, with mask_thr_binary"
    )
    head_class: ClassVar[type[RTMDetHead]] = RTMDetInsHead
    example: ClassVar[dict[str, Any]] = {"type": "RTMDetInsHead", **RTMDET_INS_EXAMPLE_PARTS,
                                         "norm_cfg": {"type": "GN", "num_groups": 2}}  # fmt: skip

    def head_arguments(self) -> dict[str, Any]:
        """RTMDet's keywords plus the mask branch's."""
        return {**super().head_arguments(), "loss_mask": self.loss_mask.build()}

    def build(self) -> RTMDetInsHead:
        """The head, with its training parts when ``train_cfg`` is given."""
        return self.head_class(**self.head_arguments())  # type: ignore[return-value]


@registry("dense_head").register
class RTMDetInsSepBNHeadConfig(RTMDetInsHeadConfig):
    """``RTMDetInsSepBNHead``: per-level towers and predictors, BN, SiLU (RTMDet-Ins's configs)."""

    type: Literal["RTMDetInsSepBNHead"]  # type: ignore[assignment]
    share_conv: bool = True
    with_objectness: bool = False
    norm_cfg: NormConfig | None = Field(default_factory=lambda: NormConfig(type="BN", requires_grad=True))
    act_cfg: ActConfig | None = Field(default_factory=lambda: ActConfig(type="SiLU", inplace=True))
    pred_kernel_size: int = Field(1, ge=1)
    head_class: ClassVar[type[RTMDetHead]] = RTMDetInsSepBNHead
    example: ClassVar[dict[str, Any]] = {"type": "RTMDetInsSepBNHead", **RTMDET_INS_EXAMPLE_PARTS}

    def build(self) -> RTMDetInsSepBNHead:
        """The head, with its training parts when ``train_cfg`` is given."""
        return self.head_class(**self.head_arguments())  # type: ignore[return-value]
