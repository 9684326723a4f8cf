"""Detector schemas: ``FasterRCNN`` with its ``train_cfg``/``test_cfg`` and preprocessor."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from visdet.config.schemas.backbones import FPNSchema, ResNetSchema
from visdet.config.schemas.base import Component, InitConfig, Section, register
from visdet.config.schemas.heads import (
    ProposalSettings,
    RCNNTestSettings,
    RCNNTrainSettings,
    RPNHeadSchema,
    RPNTrainSettings,
    StandardRoIHeadSchema,
)


@register
class DetDataPreprocessorSchema(Component):
    """``DetDataPreprocessor``: normalise, convert channels, pad into a batch."""

    type: Literal["DetDataPreprocessor"]
    mean: list[float] | None = Field(None, min_length=1, max_length=3)
    std: list[float] | None = Field(None, min_length=1, max_length=3)
    pad_size_divisor: int = Field(1, ge=1)
    pad_value: float = 0
    bgr_to_rgb: bool = False
    rgb_to_bgr: bool = False
    pad_mask: Literal[False] = False
    pad_seg: Literal[False] = False
    mask_pad_value: int = 0
    seg_pad_value: int = 255
    boxtype2tensor: bool = True
    non_blocking: bool = False
    batch_augments: None = None


class TwoStageTrainSettings(Section):
    """The detector's ``train_cfg``: RPN assignment, training proposals, R-CNN sampling."""

    rpn: RPNTrainSettings | None = None
    rpn_proposal: ProposalSettings | None = None
    rcnn: RCNNTrainSettings | None = None


class TwoStageTestSettings(Section):
    """The detector's ``test_cfg``: test proposals and the final detections."""

    rpn: ProposalSettings
    rcnn: RCNNTestSettings


@register
class FasterRCNNSchema(Component):
    """``FasterRCNN``: backbone, optional neck, RPN head and RoI head."""

    type: Literal["FasterRCNN"]
    backbone: ResNetSchema
    neck: FPNSchema | None = None
    rpn_head: RPNHeadSchema
    roi_head: StandardRoIHeadSchema
    train_cfg: TwoStageTrainSettings | None = None
    test_cfg: TwoStageTestSettings
    data_preprocessor: DetDataPreprocessorSchema | None = None
    init_cfg: InitConfig = None
    pretrained: Any = None
