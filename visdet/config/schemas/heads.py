"""Head schemas: ``RPNHead``, ``StandardRoIHead`` with its RoI extractor and box head.

A head's train/test settings are written in mmdet's places (the detector's
``train_cfg``/``test_cfg``, see :mod:`visdet.config.schemas.detector`); mmdet also
accepts them on the head itself, so the heads take them too.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from visdet.config.schemas.base import Component, InitConfig, NMSConfig, Section, register
from visdet.config.schemas.task_modules import (
    AnchorGeneratorSchema,
    BoxLossSchema,
    ClsLossSchema,
    DeltaXYWHBBoxCoderSchema,
    MaxIoUAssignerSchema,
    SamplerSchema,
)


class ProposalSettings(Section):
    """How RPN outputs become proposals (``test_cfg.rpn``, ``train_cfg.rpn_proposal``)."""

    nms_pre: int = -1
    max_per_img: int = 1000
    nms: NMSConfig = NMSConfig(iou_threshold=0.7)
    min_bbox_size: float = -1


class RPNTrainSettings(Section):
    """``train_cfg.rpn``: anchor assignment and sampling of the RPN loss."""

    assigner: MaxIoUAssignerSchema
    sampler: SamplerSchema | None = None
    allowed_border: int = -1
    pos_weight: float = -1
    debug: bool = False


class RCNNTrainSettings(Section):
    """``train_cfg.rcnn``: proposal assignment and sampling of the second stage."""

    assigner: MaxIoUAssignerSchema
    sampler: SamplerSchema | None = None
    pos_weight: float = -1
    debug: bool = False


class RCNNTestSettings(Section):
    """``test_cfg.rcnn``: score threshold, NMS and detections kept per image."""

    score_thr: float = Field(0.05, ge=0, le=1)
    nms: NMSConfig = NMSConfig(iou_threshold=0.5)
    max_per_img: int = 100


@register
class RPNHeadSchema(Component):
    """``RPNHead``: objectness and box deltas per anchor."""

    type: Literal["RPNHead"]
    in_channels: int = Field(ge=1)
    feat_channels: int = Field(256, ge=1)
    num_convs: int = Field(1, ge=1)
    num_classes: int = 1
    anchor_generator: AnchorGeneratorSchema
    bbox_coder: DeltaXYWHBBoxCoderSchema = DeltaXYWHBBoxCoderSchema(type="DeltaXYWHBBoxCoder")
    loss_cls: ClsLossSchema | None = None
    loss_bbox: BoxLossSchema | None = None
    reg_decoded_bbox: bool = False
    train_cfg: RPNTrainSettings | None = None
    test_cfg: ProposalSettings | None = None
    init_cfg: InitConfig = None


@register
class RoIAlignSchema(Component):
    """``RoIAlign`` layer of an RoI extractor."""

    type: Literal["RoIAlign"]
    output_size: int | list[int] = 7
    sampling_ratio: int = Field(0, ge=0)
    pool_mode: Literal["avg", "max"] = "avg"
    aligned: bool = True
    use_torchvision: Literal[False] = False


@register
class SingleRoIExtractorSchema(Component):
    """``SingleRoIExtractor``: each RoI pooled from one FPN level chosen by its scale."""

    type: Literal["SingleRoIExtractor"]
    roi_layer: RoIAlignSchema
    out_channels: int = Field(ge=1)
    featmap_strides: list[int]
    finest_scale: float = 56
    init_cfg: InitConfig = None


@register
class ConvFCBBoxHeadSchema(Component):
    """The box heads of the ConvFC family (``Shared2FCBBoxHead`` and relatives)."""

    type: Literal["Shared2FCBBoxHead", "Shared4Conv1FCBBoxHead", "ConvFCBBoxHead", "BBoxHead"]
    num_shared_convs: int | None = None
    num_shared_fcs: int | None = None
    num_cls_convs: int | None = None
    num_cls_fcs: int | None = None
    num_reg_convs: int | None = None
    num_reg_fcs: int | None = None
    conv_out_channels: int | None = None
    fc_out_channels: int = Field(1024, ge=1)
    conv_cfg: dict | None = None
    norm_cfg: dict | None = None
    with_avg_pool: bool = False
    with_cls: bool = True
    with_reg: bool = True
    roi_feat_size: int = Field(7, ge=1)
    in_channels: int = Field(256, ge=1)
    num_classes: int = Field(80, ge=1)
    bbox_coder: DeltaXYWHBBoxCoderSchema | None = None
    predict_box_type: Literal["hbox"] = "hbox"
    reg_predictor_cfg: dict | None = None
    cls_predictor_cfg: dict | None = None
    reg_class_agnostic: bool = False
    reg_decoded_bbox: bool = False
    loss_cls: ClsLossSchema | None = None
    loss_bbox: BoxLossSchema | None = None
    init_cfg: InitConfig = None


@register
class StandardRoIHeadSchema(Component):
    """``StandardRoIHead``: RoI pooling plus a box head."""

    type: Literal["StandardRoIHead"]
    bbox_roi_extractor: SingleRoIExtractorSchema
    bbox_head: Annotated[ConvFCBBoxHeadSchema, Field()]
    train_cfg: RCNNTrainSettings | None = None
    test_cfg: RCNNTestSettings | None = None
    init_cfg: InitConfig = None
