"""Mask-head schemas: ``FCNMaskHead`` (Mask R-CNN's mask branch)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from visdet.build.component import Component, ComponentOf, Section, component_default
from visdet.build.registry import registry
from visdet.models.roi_heads import FCNMaskHead


class UpsampleConfig(Section):
    """``upsample_cfg``: how the mask head doubles its resolution."""

    type: Literal["deconv", "nearest", "bilinear"] | None = "deconv"
    scale_factor: int | float | None = 2


class PredictorConfig(Section):
    """``predictor_cfg``: only a plain 1x1 ``nn.Conv2d`` predictor exists."""

    type: Literal["Conv", "Conv2d"] = "Conv"


@registry("mask_head").register
class FCNMaskHeadConfig(Component):
    """``FCNMaskHead``: convs, an upsampling step and a 1x1 per-class mask predictor."""

    type: Literal["FCNMaskHead"]
    num_convs: int = Field(4, ge=0)
    roi_feat_size: int = Field(14, ge=1, description="reserved in mmdet; not used")
    in_channels: int = Field(256, ge=1)
    conv_kernel_size: int = Field(3, ge=1)
    conv_out_channels: int = Field(256, ge=1)
    num_classes: int = Field(80, ge=1)
    class_agnostic: bool = False
    upsample_cfg: UpsampleConfig = UpsampleConfig()
    conv_cfg: dict[str, Any] | None = None
    norm_cfg: dict[str, Any] | None = None
    predictor_cfg: PredictorConfig = PredictorConfig()
    loss_mask: Annotated[Component, ComponentOf("loss")] = component_default(
        {"type": "CrossEntropyLoss", "use_mask": True, "loss_weight": 1.0}
    )
    init_cfg: None = Field(None, description="mmdet forbids init_cfg on FCNMaskHead (must be null)")
    example: ClassVar[dict[str, Any]] = {"type": "FCNMaskHead", "num_convs": 1, "in_channels": 4,
                                         "conv_out_channels": 4, "num_classes": 3, "roi_feat_size": 4}  # fmt: skip

    @model_validator(mode="after")
    def _mask_loss(self) -> FCNMaskHeadConfig:
        if not getattr(self.loss_mask, "use_mask", False):
            raise ValueError("loss_mask: the mask head needs CrossEntropyLoss with use_mask=True")
        return self

    def build(self) -> FCNMaskHead:
        """The mask head."""
        kwargs = self.arguments("upsample_cfg", "predictor_cfg", "loss_mask")
        return FCNMaskHead(
            **kwargs,
            upsample_method=self.upsample_cfg.type,
            scale_factor=self.upsample_cfg.scale_factor,
            predictor_cfg=self.predictor_cfg.plain(),
            loss_mask=self.loss_mask.build(),
        )
