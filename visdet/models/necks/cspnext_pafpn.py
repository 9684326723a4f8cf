"""CSPNeXtPAFPN, RTMDet's neck: a path-aggregation FPN of CSP layers, with mmdet 3.3's names.

Shapes: L input maps Tensor[N, in_channels[l], H_l, W_l], each level half the size of
the previous one (the top-down path upsamples by ``upsample_cfg``, by default
``scale_factor=2``, so H_l = 2 * H_{l+1} is required) -> L maps
Tensor[N, out_channels, H_l, W_l].

Top-down, from the coarsest level: ``reduce_layers[k]`` (1x1) maps the running coarse map
to the next finer level's width, which is upsampled, concatenated with that finer input
(upsampled first) and fused by ``top_down_blocks[k]`` (a ``CSPLayer`` without identity).
Bottom-up, from the finest: ``downsamples[k]`` (3x3, stride 2) of the running map,
concatenated with the top-down map of the next coarser level, fused by
``bottom_up_blocks[k]``. Finally ``out_convs[l]`` (3x3) maps each level to out_channels.
With ``use_depthwise`` the 3x3 convs (downsamples, out convs, the blocks' ``conv1``) are
depthwise-separable.

State-dict keys, as mmdet's: ``reduce_layers.<k>.*``, ``top_down_blocks.<k>.*``,
``downsamples.<k>.*``, ``bottom_up_blocks.<k>.*``, ``out_convs.<l>.*``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from visdet.models.layers.activation import ActConfig
from visdet.models.layers.conv_module import ConvModule
from visdet.models.layers.csp_blocks import conv_module_class
from visdet.models.layers.csp_init import KAIMING_INIT_CFG, check_init_cfg, init_convs_as_mmdet
from visdet.models.layers.csp_layer import CSPLayer
from visdet.models.layers.norm import NormConfig
from visdet.models.layers.spp_bottleneck import CSP_NORM_CFG, SWISH_CFG

#: mmdet's ``upsample_cfg`` of CSPNeXtPAFPN (``nn.Upsample`` options).
DEFAULT_UPSAMPLE_CFG: Mapping[str, Any] = MappingProxyType({"scale_factor": 2, "mode": "nearest"})


class CSPNeXtPAFPN(nn.Module):
    """Top-down then bottom-up fusion of multi-level features with CSP layers.

    Args:
        in_channels: Channels of each input level, finest first (at least 2 levels).
        out_channels: Channels of every output level.
        num_csp_blocks: ``CSPNeXtBlock``s in each CSP layer.
        use_depthwise: Depthwise-separable convs: the bottom-up stride-2 convs, the output convs and the
            CSP blocks' ``conv1``.
        expand_ratio: Hidden-width ratio of each CSP layer.
        upsample_cfg: ``nn.Upsample`` options of the top-down path.
        conv_cfg: Conv config.
        norm_cfg: Norm config (mmdet's default BN with momentum 0.03, eps 0.001).
        act_cfg: Activation config (mmdet's default ``Swish``; RTMDet's configs set SiLU).
        init_cfg: mmdet's default Kaiming-uniform init (:meth:`init_weights`) or ``None``.
    """

    def __init__(
        self,
        *,
        in_channels: Sequence[int],
        out_channels: int,
        num_csp_blocks: int = 3,
        use_depthwise: bool = False,
        expand_ratio: float = 0.5,
        upsample_cfg: Mapping[str, Any] = DEFAULT_UPSAMPLE_CFG,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: NormConfig = CSP_NORM_CFG,
        act_cfg: ActConfig = SWISH_CFG,
        init_cfg: Mapping[str, Any] | None = KAIMING_INIT_CFG,
    ) -> None:
        super().__init__()
        if isinstance(in_channels, (str, bytes)) or not isinstance(in_channels, Sequence) or len(in_channels) < 2:
            raise ValueError(f"in_channels must be a sequence of at least 2 ints, got {in_channels!r}")
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.upsample_cfg = dict(upsample_cfg)
        self.init_cfg = check_init_cfg(init_cfg, "CSPNeXtPAFPN")
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        csp_common = dict(
            num_blocks=num_csp_blocks,
            add_identity=False,
            use_depthwise=use_depthwise,
            use_cspnext_block=True,
            expand_ratio=expand_ratio,
            **common,
        )
        channels = self.in_channels

        self.upsample = nn.Upsample(**self.upsample_cfg)
        self.reduce_layers = nn.ModuleList()
        self.top_down_blocks = nn.ModuleList()
        for idx in range(len(channels) - 1, 0, -1):
            self.reduce_layers.append(
                ConvModule(in_channels=channels[idx], out_channels=channels[idx - 1], kernel_size=1, **common)
            )
            self.top_down_blocks.append(
                CSPLayer(in_channels=channels[idx - 1] * 2, out_channels=channels[idx - 1], **csp_common)
            )

        self.downsamples = nn.ModuleList()
        self.bottom_up_blocks = nn.ModuleList()
        for idx in range(len(channels) - 1):
            self.downsamples.append(
                conv_module_class(use_depthwise)(
                    in_channels=channels[idx],
                    out_channels=channels[idx],
                    kernel_size=3,
                    stride=2,
                    padding=1,
                    **common,
                )  # fmt: skip
            )
            self.bottom_up_blocks.append(
                CSPLayer(in_channels=channels[idx] * 2, out_channels=channels[idx + 1], **csp_common)
            )

        self.out_convs = nn.ModuleList(
            conv_module_class(use_depthwise)(
                in_channels=c, out_channels=out_channels, kernel_size=3, padding=1, **common
            )
            for c in channels
        )

    def init_weights(self) -> None:
        """Initialise as mmdet by default: Kaiming-uniform (a = sqrt(5), fan_in) convs, zero biases."""
        init_convs_as_mmdet(self, self.init_cfg, "CSPNeXtPAFPN")

    def _check_inputs(self, inputs: Sequence[torch.Tensor]) -> None:
        if len(inputs) != len(self.in_channels):
            raise ValueError(
                f"CSPNeXtPAFPN expects {len(self.in_channels)} input levels, got {len(inputs)} with shapes "
                f"{[tuple(x.shape) for x in inputs]}"
            )
        for level, (x, channels) in enumerate(zip(inputs, self.in_channels)):
            if x.dim() != 4 or x.shape[1] != channels:
                raise ValueError(
                    f"CSPNeXtPAFPN input level {level} must have shape (N, {channels}, H, W), got {tuple(x.shape)}"
                )

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Fuse the levels.

        Args:
            inputs: ``len(in_channels)`` maps Tensor[N, in_channels[l], H_l, W_l], finest first.

        Returns:
            One Tensor[N, out_channels, H_l, W_l] per level.
        """
        self._check_inputs(inputs)
        num_levels = len(self.in_channels)
        # top-down: inner_outs[0] is the running coarse map, replaced by its reduced form
        inner_outs = [inputs[-1]]
        for idx in range(num_levels - 1, 0, -1):
            k = num_levels - 1 - idx
            coarse = self.reduce_layers[k](inner_outs[0])
            inner_outs[0] = coarse
            upsampled = self.upsample(coarse)
            if upsampled.shape[2:] != inputs[idx - 1].shape[2:]:
                raise ValueError(
                    f"CSPNeXtPAFPN: level {idx} upsampled to {tuple(upsampled.shape[2:])} does not match level "
                    f"{idx - 1} of size {tuple(inputs[idx - 1].shape[2:])} (each level must be half the previous)"
                )
            fused = self.top_down_blocks[k](torch.cat([upsampled, inputs[idx - 1]], 1))
            inner_outs.insert(0, fused)

        outs = [inner_outs[0]]
        for idx in range(num_levels - 1):
            down = self.downsamples[idx](outs[-1])
            outs.append(self.bottom_up_blocks[idx](torch.cat([down, inner_outs[idx + 1]], 1)))

        return tuple(conv(out) for conv, out in zip(self.out_convs, outs))
