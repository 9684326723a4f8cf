"""Neck schemas: ``FPN``, ``CSPNeXtPAFPN``, ``ChannelMapper``."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from visdet.build.component import Component, InitConfig, init_field
from visdet.build.components.backbones import CSP_NORM_DEFAULT, CSPNormConfig
from visdet.build.components.common import ActConfig, NormConfig
from visdet.build.registry import registry
from visdet.models.necks import FPN, ChannelMapper, CSPNeXtPAFPN


@registry("neck").register
class FPNConfig(Component):
    """``FPN`` feature pyramid neck."""

    type: Literal["FPN"]
    in_channels: list[int] = Field(min_length=1)
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
    init_cfg: InitConfig = init_field()
    example: ClassVar[dict[str, Any]] = {"type": "FPN", "in_channels": [4, 8, 16, 32], "out_channels": 8,
                                         "num_outs": 5}  # fmt: skip

    def build(self) -> FPN:
        """The neck."""
        return FPN(**self.arguments())


@registry("neck").register
class CSPNeXtPAFPNConfig(Component):
    """``CSPNeXtPAFPN``: RTMDet's path-aggregation neck of CSP layers."""

    type: Literal["CSPNeXtPAFPN"]
    in_channels: list[int] = Field(min_length=2)
    out_channels: int = Field(ge=1)
    num_csp_blocks: int = Field(3, ge=0)
    use_depthwise: bool = False
    expand_ratio: float = Field(0.5, gt=0)
    upsample_cfg: dict[str, Any] = {"scale_factor": 2, "mode": "nearest"}
    conv_cfg: dict[str, Any] | None = None
    norm_cfg: CSPNormConfig = CSP_NORM_DEFAULT
    act_cfg: ActConfig = ActConfig(type="Swish")
    init_cfg: InitConfig = init_field()
    example: ClassVar[dict[str, Any]] = {"type": "CSPNeXtPAFPN", "in_channels": [4, 8, 16], "out_channels": 4,
                                         "num_csp_blocks": 1}  # fmt: skip

    def build(self) -> CSPNeXtPAFPN:
        """The neck (``init_cfg`` is not passed: weights come from load_checkpoint)."""
        return CSPNeXtPAFPN(**self.arguments())


@registry("neck").register
class ChannelMapperConfig(Component):
    """``ChannelMapper``: one conv per level to a common width, plus stride-2 extra levels (DETR family)."""

    type: Literal["ChannelMapper"]
    in_channels: list[int] = Field(min_length=1)
    out_channels: int = Field(ge=1)
    kernel_size: int = Field(3, ge=1)
    conv_cfg: dict[str, Any] | None = None
    norm_cfg: NormConfig | None = None
    act_cfg: ActConfig | None = ActConfig(type="ReLU")
    bias: bool | Literal["auto"] = "auto"
    num_outs: int | None = Field(None, ge=1)
    init_cfg: InitConfig = init_field()
    example: ClassVar[dict[str, Any]] = {"type": "ChannelMapper", "in_channels": [4, 8, 16], "out_channels": 8,
                                         "kernel_size": 1, "norm_cfg": {"type": "GN", "num_groups": 4},
                                         "act_cfg": None, "num_outs": 4}  # fmt: skip

    def build(self) -> ChannelMapper:
        """The neck (``init_cfg`` is not passed: weights come from load_checkpoint)."""
        return ChannelMapper(**self.arguments())
