"""Backbone and neck schemas: ``ResNet`` and ``FPN`` (mmdet keyword names)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from visdet.config.schemas.base import ActConfig, Component, InitConfig, NormConfig, register


@register
class ResNetSchema(Component):
    """``ResNet`` (depth 18 to 152), mmdet's keyword names and defaults."""

    type: Literal["ResNet"]
    depth: Literal[18, 34, 50, 101, 152]
    in_channels: int = Field(3, ge=1)
    stem_channels: int | None = Field(None, ge=1)
    base_channels: int = Field(64, ge=1)
    num_stages: int = Field(4, ge=1, le=4)
    strides: list[int] = [1, 2, 2, 2]
    dilations: list[int] = [1, 1, 1, 1]
    out_indices: list[int] = [0, 1, 2, 3]
    style: Literal["pytorch", "caffe"] = "pytorch"
    deep_stem: bool = False
    avg_down: bool = False
    frozen_stages: int = Field(-1, ge=-1, le=4)
    conv_cfg: dict[str, Any] | None = None
    norm_cfg: NormConfig = NormConfig()
    norm_eval: bool = True
    dcn: dict[str, Any] | None = None
    stage_with_dcn: list[bool] = [False, False, False, False]
    plugins: list[dict[str, Any]] | None = None
    with_cp: bool = False
    zero_init_residual: bool = True
    pretrained: str | None = None
    init_cfg: InitConfig = None


@register
class FPNSchema(Component):
    """``FPN`` feature pyramid neck."""

    type: Literal["FPN"]
    in_channels: list[int]
    out_channels: int = Field(ge=1)
    num_outs: int = Field(ge=1)
    start_level: int = 0
    end_level: int = -1
    add_extra_convs: bool | Literal["on_input", "on_lateral", "on_output"] = False
    relu_before_extra_convs: bool = False
    no_norm_on_lateral: bool = False
    conv_cfg: dict[str, Any] | None = None
    norm_cfg: NormConfig | None = None
    act_cfg: ActConfig | None = None
    upsample_cfg: dict[str, Any] = {"mode": "nearest"}
    init_cfg: InitConfig = None
