"""Config sections shared by many components: ``norm_cfg``, ``act_cfg`` and friends."""

from __future__ import annotations

from typing import Literal

from visdet.build.component import Section

NormType = Literal["BN", "SyncBN", "GN", "LN", "IN", "BN1d", "BN2d", "BN3d", "IN1d", "IN2d", "IN3d"]


class NormConfig(Section):
    """``norm_cfg``: which normalisation layer, and whether its affine weights train."""

    type: NormType = "BN"
    requires_grad: bool = True
    eps: float | None = None
    momentum: float | None = None
    num_groups: int | None = None


class ActConfig(Section):
    """``act_cfg``: which activation layer."""

    type: Literal["ReLU", "LeakyReLU", "GELU", "SiLU", "Sigmoid", "Tanh", "ReLU6", "HSwish", "Swish"] = "ReLU"
    inplace: bool | None = None
    negative_slope: float | None = None

