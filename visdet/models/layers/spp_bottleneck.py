"""Spatial pyramid pooling block of CSPDarknet/CSPNeXt, with mmdet's ``SPPBottleneck`` names.

Shapes: Tensor[N, in_channels, H, W] -> Tensor[N, out_channels, H, W]. A 1x1
``ConvModule`` halves the channels to M = in_channels // 2; the result and its
stride-1 max-pools with each kernel size k (padding k // 2, so H and W stay) are
concatenated (M * (1 + len(kernel_sizes)) channels) and a 1x1 ``ConvModule`` maps them
to ``out_channels``. ``state_dict`` keys: ``conv1.*``, ``conv2.*``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from visdet.models.layers.activation import ActConfig
from visdet.models.layers.autocast import no_cuda_autocast
from visdet.models.layers.conv_module import ConvModule
from visdet.models.layers.norm import NormConfig

#: mmdet's default ``norm_cfg`` of the CSPDarknet/CSPNeXt building blocks.
CSP_NORM_CFG: Mapping[str, Any] = MappingProxyType({"type": "BN", "momentum": 0.03, "eps": 0.001})
#: mmdet's default ``act_cfg`` of ``SPPBottleneck``, ``CSPLayer`` and ``DarknetBottleneck``.
SWISH_CFG: Mapping[str, Any] = MappingProxyType({"type": "Swish"})


class SPPBottleneck(nn.Module):
    """1x1 conv, parallel max-pools concatenated with their input, 1x1 conv.

    Args:
        in_channels: Input channels (must be at least 2: the hidden width is half of it).
        out_channels: Output channels.
        kernel_sizes: Kernel size of each max-pool (odd, so the size is kept).
        conv_cfg: Conv config.
        norm_cfg: Norm config of both convs.
        act_cfg: Activation config of both convs.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        kernel_sizes: Sequence[int] = (5, 9, 13),
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: NormConfig | None = CSP_NORM_CFG,
        act_cfg: ActConfig | None = SWISH_CFG,
    ) -> None:
        super().__init__()
        if in_channels < 2:
            raise ValueError(f"SPPBottleneck needs in_channels >= 2 (hidden width in_channels // 2), got {in_channels}")
        if not kernel_sizes or any(k < 1 or k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes must be odd positive ints (the size is kept), got {tuple(kernel_sizes)}")
        mid_channels = in_channels // 2
        common = dict(kernel_size=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv1 = ConvModule(in_channels=in_channels, out_channels=mid_channels, **common)
        self.poolings = nn.ModuleList(nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2) for k in kernel_sizes)
        self.conv2 = ConvModule(in_channels=mid_channels * (len(kernel_sizes) + 1), out_channels=out_channels, **common)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[N, in_channels, H, W] -> Tensor[N, out_channels, H, W]."""
        x = self.conv1(x)
        # mmdet pools and concatenates with CUDA autocast switched off (a no-op elsewhere).
        with no_cuda_autocast(x):
            x = torch.cat([x] + [pooling(x) for pooling in self.poolings], dim=1)
        return self.conv2(x)
