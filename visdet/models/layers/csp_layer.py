"""Cross Stage Partial layer (CSPNet) of CSPDarknet, CSPNeXt and their PAFPNs, with mmdet's names.

Shapes: Tensor[N, in_channels, H, W] -> Tensor[N, out_channels, H, W]. With hidden
width M = int(out_channels * expand_ratio): ``main_conv`` (1x1 to M) feeds ``blocks``
(``num_blocks`` residual blocks of width M), ``short_conv`` (1x1 to M) bypasses them;
the two are concatenated (main first, 2M channels), optionally rescaled per channel by
``attention``, and ``final_conv`` (1x1) maps them to out_channels.

``state_dict`` keys: ``main_conv.*``, ``short_conv.*``, ``final_conv.*``,
``blocks.<i>.conv1.*``, ``blocks.<i>.conv2.*`` and with channel attention
``attention.fc.*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from visdet.models.layers.activation import ActConfig
from visdet.models.layers.channel_attention import ChannelAttention
from visdet.models.layers.conv_module import ConvModule
from visdet.models.layers.csp_blocks import CSPNeXtBlock, DarknetBottleneck
from visdet.models.layers.norm import NormConfig
from visdet.models.layers.spp_bottleneck import CSP_NORM_CFG, SWISH_CFG


class CSPLayer(nn.Module):
    """Split into a residual-block branch and a shortcut, concatenate, fuse with a 1x1 conv.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        expand_ratio: Hidden width M as a fraction of ``out_channels``.
        num_blocks: Residual blocks in the main branch.
        add_identity: Identity connection inside each block.
        use_depthwise: Depthwise-separable convs inside the blocks.
        use_cspnext_block: ``CSPNeXtBlock`` (RTMDet) instead of ``DarknetBottleneck`` (YOLOX).
        channel_attention: ``ChannelAttention`` on the 2M concatenated channels.
        conv_cfg: Conv config.
        norm_cfg: Norm config.
        act_cfg: Activation config (mmdet's default: ``Swish``).
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        expand_ratio: float = 0.5,
        num_blocks: int = 1,
        add_identity: bool = True,
        use_depthwise: bool = False,
        use_cspnext_block: bool = False,
        channel_attention: bool = False,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: NormConfig | None = CSP_NORM_CFG,
        act_cfg: ActConfig | None = SWISH_CFG,
    ) -> None:
        super().__init__()
        if num_blocks < 0:
            raise ValueError(f"num_blocks must be >= 0, got {num_blocks}")
        mid_channels = int(out_channels * expand_ratio)
        if mid_channels < 1:
            raise ValueError(
                f"CSPLayer hidden width int(out_channels * expand_ratio) = int({out_channels} * {expand_ratio}) "
                "must be at least 1"
            )
        self.channel_attention = channel_attention
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.main_conv = ConvModule(in_channels=in_channels, out_channels=mid_channels, kernel_size=1, **common)
        self.short_conv = ConvModule(in_channels=in_channels, out_channels=mid_channels, kernel_size=1, **common)
        self.final_conv = ConvModule(in_channels=2 * mid_channels, out_channels=out_channels, kernel_size=1, **common)
        block = CSPNeXtBlock if use_cspnext_block else DarknetBottleneck
        self.blocks = nn.Sequential(
            *(
                block(
                    in_channels=mid_channels,
                    out_channels=mid_channels,
                    expansion=1.0,
                    add_identity=add_identity,
                    use_depthwise=use_depthwise,
                    **common,
                )
                for _ in range(num_blocks)
            )
        )
        if channel_attention:
            self.attention = ChannelAttention(channels=2 * mid_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[N, in_channels, H, W] -> Tensor[N, out_channels, H, W]."""
        x_short = self.short_conv(x)
        x_main = self.blocks(self.main_conv(x))
        x_final = torch.cat((x_main, x_short), dim=1)
        if self.channel_attention:
            x_final = self.attention(x_final)
        return self.final_conv(x_final)
