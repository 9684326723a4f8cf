"""The two residual blocks a ``CSPLayer`` stacks, with mmdet's names.

Shapes: Tensor[N, in_channels, H, W] -> Tensor[N, out_channels, H, W] (stride 1); the
input is added back when ``add_identity`` and in_channels == out_channels. With hidden
width M = int(out_channels * expansion):

* ``DarknetBottleneck`` (YOLOX's CSPDarknet): ``conv1`` 1x1 to M, ``conv2`` 3x3 (a
  ``DepthwiseSeparableConvModule`` with ``use_depthwise``) to out_channels.
* ``CSPNeXtBlock`` (RTMDet's CSPNeXt): ``conv1`` 3x3 to M (depthwise-separable with
  ``use_depthwise``), ``conv2`` a ``kernel_size`` x ``kernel_size`` depthwise-separable
  conv to out_channels.

``state_dict`` keys: ``conv1.*`` and ``conv2.*`` (``conv2.depthwise_conv.*`` /
``conv2.pointwise_conv.*`` for the depthwise-separable ones), as mmdet's.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from visdet.models.layers.activation import ActConfig
from visdet.models.layers.conv_module import ConvModule
from visdet.models.layers.depthwise_separable_conv_module import DepthwiseSeparableConvModule
from visdet.models.layers.norm import NormConfig
from visdet.models.layers.spp_bottleneck import CSP_NORM_CFG, SWISH_CFG

#: mmdet's default ``act_cfg`` of ``CSPNeXtBlock`` (and of the CSPNeXt backbone).
SILU_CFG: Mapping[str, Any] = MappingProxyType({"type": "SiLU"})


def conv_module_class(use_depthwise: bool) -> type[ConvModule] | type[DepthwiseSeparableConvModule]:
    """``DepthwiseSeparableConvModule`` when ``use_depthwise``, else ``ConvModule`` (mmdet's switch)."""
    return DepthwiseSeparableConvModule if use_depthwise else ConvModule


class _ResidualPair(nn.Module):
    """``conv2(conv1(x))``, plus ``x`` when ``add_identity`` and the widths agree."""

    conv1: nn.Module
    conv2: nn.Module

    def __init__(self, *, in_channels: int, out_channels: int, add_identity: bool) -> None:
        super().__init__()
        self.add_identity = add_identity and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[N, in_channels, H, W] -> Tensor[N, out_channels, H, W]."""
        out = self.conv2(self.conv1(x))
        return out + x if self.add_identity else out


class DarknetBottleneck(_ResidualPair):
    """1x1 conv to the hidden width, 3x3 conv back, optional identity.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        expansion: Hidden width as a fraction of ``out_channels``.
        add_identity: Add the input (only when in_channels == out_channels).
        use_depthwise: Depthwise-separable 3x3 conv.
        conv_cfg: Conv config of both convs.
        norm_cfg: Norm config.
        act_cfg: Activation config (mmdet's default: ``Swish``).
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        expansion: float = 0.5,
        add_identity: bool = True,
        use_depthwise: bool = False,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: NormConfig | None = CSP_NORM_CFG,
        act_cfg: ActConfig | None = SWISH_CFG,
    ) -> None:
        super().__init__(in_channels=in_channels, out_channels=out_channels, add_identity=add_identity)
        hidden = int(out_channels * expansion)
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv1 = ConvModule(in_channels=in_channels, out_channels=hidden, kernel_size=1, **common)
        self.conv2 = conv_module_class(use_depthwise)(
            in_channels=hidden, out_channels=out_channels, kernel_size=3, stride=1, padding=1, **common
        )


class CSPNeXtBlock(_ResidualPair):
    """3x3 conv to the hidden width, large-kernel depthwise-separable conv back, optional identity.

    As in mmdet, ``conv1`` is built without ``conv_cfg`` (only ``conv2`` takes it).

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        expansion: Hidden width as a fraction of ``out_channels``.
        add_identity: Add the input (only when in_channels == out_channels).
        use_depthwise: Depthwise-separable ``conv1``.
        kernel_size: Depthwise kernel of ``conv2`` (padding ``kernel_size // 2``).
        conv_cfg: Conv config of ``conv2``.
        norm_cfg: Norm config.
        act_cfg: Activation config (mmdet's default: ``SiLU``).
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        expansion: float = 0.5,
        add_identity: bool = True,
        use_depthwise: bool = False,
        kernel_size: int = 5,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: NormConfig | None = CSP_NORM_CFG,
        act_cfg: ActConfig | None = SILU_CFG,
    ) -> None:
        super().__init__(in_channels=in_channels, out_channels=out_channels, add_identity=add_identity)
        hidden = int(out_channels * expansion)
        self.conv1 = conv_module_class(use_depthwise)(
            in_channels=in_channels, out_channels=hidden, kernel_size=3, stride=1, padding=1,
            norm_cfg=norm_cfg, act_cfg=act_cfg,
        )  # fmt: skip
        self.conv2 = DepthwiseSeparableConvModule(
            in_channels=hidden, out_channels=out_channels, kernel_size=kernel_size, stride=1,
            padding=kernel_size // 2, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg,
        )  # fmt: skip
