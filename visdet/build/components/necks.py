"""Neck schemas: ``FPN``."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from visdet.build.component import Component, InitConfig, init_field
from visdet.build.components.common import ActConfig, NormConfig
from visdet.build.registry import registry
from visdet.models.necks import FPN


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
