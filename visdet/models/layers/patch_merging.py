"""Patch merging (downsampling between Swin stages), with mmdet's unfold layout.

Shapes: x Tensor[N, H * W, C_in] and (H, W) -> (Tensor[N, H' * W', C_out], (H', W')),
H' = ceil(H / 2) for the default 2x2 kernel with ``"corner"`` padding.

mmdet gathers each 2x2 neighbourhood with ``nn.Unfold``: the merged feature of a patch is
ordered channel-major, ``c * 4 + dy * 2 + dx`` (the original Swin concatenates
``x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]`` along channels instead),
so ``norm`` and ``reduction`` weights follow that order, and original checkpoints are
permuted by :func:`visdet.models.backbones.swin_converter.swin_converter`. Keys: ``norm``
(optional), ``reduction`` (Linear without bias by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from visdet.models.layers.norm import NormConfig, build_norm_layer
from visdet.models.layers.patch_embed import AdaptivePadding, conv_out_size, pair

DEFAULT_NORM_CFG: Mapping[str, Any] = MappingProxyType({"type": "LN"})


class PatchMerging(nn.Module):
    """Concatenate each ``kernel_size`` neighbourhood, normalise, project linearly.

    Args:
        in_channels: Input features C_in.
        out_channels: Output features C_out.
        kernel_size: Neighbourhood size (int or pair).
        stride: Stride (``None``: ``kernel_size``).
        padding: An int/pair for the unfold's zero padding, or an adaptive mode
            (``"corner"``, ``"same"``) applied first.
        dilation: Unfold dilation.
        bias: Whether ``reduction`` has a bias.
        norm_cfg: Norm over the kernel_h * kernel_w * C_in merged features; ``None``: none.
        init_cfg: Accepted for mmdet compatibility; ignored.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 2,
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] | str = "corner",
        dilation: int | tuple[int, int] = 1,
        bias: bool = False,
        norm_cfg: NormConfig | None = DEFAULT_NORM_CFG,
        init_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        kernel = pair(kernel_size)
        strides = pair(stride if stride else kernel_size)
        dilations = pair(dilation)
        if isinstance(padding, str):
            self.adap_padding: AdaptivePadding | None = AdaptivePadding(
                kernel_size=kernel, stride=strides, dilation=dilations, padding=padding
            )
            padding = 0
        else:
            self.adap_padding = None
        self.sampler = nn.Unfold(kernel_size=kernel, dilation=dilations, padding=pair(padding), stride=strides)
        sample_dim = kernel[0] * kernel[1] * in_channels
        self.norm = build_norm_layer(norm_cfg, sample_dim)[1] if norm_cfg is not None else None
        self.reduction = nn.Linear(sample_dim, out_channels, bias=bias)

    def forward(self, x: torch.Tensor, input_size: tuple[int, int]) -> tuple[torch.Tensor, tuple[int, int]]:
        """(Tensor[N, H * W, C_in], (H, W)) -> (Tensor[N, H' * W', C_out], (H', W'))."""
        n, length, channels = x.shape
        if not isinstance(input_size, (tuple, list)) or len(input_size) != 2:
            raise TypeError(f"input_size must be a pair (H, W), got {input_size!r}")
        h, w = input_size
        if length != h * w:
            raise ValueError(f"input feature has wrong size: L={length} but H*W={h}*{w}")
        x = x.view(n, h, w, channels).permute([0, 3, 1, 2])
        if self.adap_padding is not None:
            x = self.adap_padding(x)
            h, w = x.shape[-2:]
        x = self.sampler(x)
        s = self.sampler
        out_size = (
            conv_out_size(h, s.kernel_size[0], s.stride[0], s.padding[0], s.dilation[0]),
            conv_out_size(w, s.kernel_size[1], s.stride[1], s.padding[1], s.dilation[1]),
        )
        x = x.transpose(1, 2)
        if self.norm is not None:
            x = self.norm(x)
        return self.reduction(x), out_size
