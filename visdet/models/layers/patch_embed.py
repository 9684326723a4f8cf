"""Patch embedding of vision transformers (mmdet's ``PatchEmbed`` and ``AdaptivePadding``).

Shapes: image Tensor[N, C, H, W] -> (Tensor[N, H' * W', embed_dims], (H', W')) with
H' = ceil(H / stride) under the default ``"corner"`` padding (the image is zero-padded on
the bottom and right until the kernel covers it).

State-dict keys as mmdet's: ``projection`` (the conv) and ``norm`` (optional).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from visdet.models.layers.conv import build_conv_layer
from visdet.models.layers.norm import NormConfig, build_norm_layer

PADDING_MODES = ("same", "corner")


def pair(value: int | tuple[int, ...] | list[int] | str) -> tuple[Any, Any]:
    """``value`` as a pair: a scalar repeated (mmengine's ``to_2tuple``), a 2-sequence as is."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"expected a scalar or a pair, got {value!r}")
        return tuple(value)  # type: ignore[return-value]
    return (value, value)


class AdaptivePadding(nn.Module):
    """Zero-pad an image so that a kernel with this stride covers it completely.

    Args:
        kernel_size: Kernel size (int or pair).
        stride: Stride (int or pair).
        dilation: Dilation (int or pair).
        padding: ``"corner"`` pads bottom and right; ``"same"`` splits the padding as
            TensorFlow's SAME (the smaller half first).
    """

    def __init__(
        self,
        *,
        kernel_size: int | tuple[int, int] = 1,
        stride: int | tuple[int, int] = 1,
        dilation: int | tuple[int, int] = 1,
        padding: str = "corner",
    ) -> None:
        super().__init__()
        if padding not in PADDING_MODES:
            raise ValueError(f"padding must be one of {PADDING_MODES}, got {padding!r}")
        self.padding = padding
        self.kernel_size = pair(kernel_size)
        self.stride = pair(stride)
        self.dilation = pair(dilation)

    def get_pad_shape(self, input_shape: tuple[int, int] | torch.Size) -> tuple[int, int]:
        """(pad_h, pad_w) for an input of spatial size (H, W)."""
        pads = []
        for size, kernel, stride, dilation in zip(input_shape, self.kernel_size, self.stride, self.dilation):
            out = math.ceil(size / stride)
            pads.append(max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0))
        return pads[0], pads[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[..., H, W] -> Tensor[..., H + pad_h, W + pad_w]."""
        pad_h, pad_w = self.get_pad_shape(x.shape[-2:])
        if pad_h > 0 or pad_w > 0:
            if self.padding == "corner":
                x = F.pad(x, [0, pad_w, 0, pad_h])
            else:
                x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return x


def conv_out_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a convolution (or unfold) along one axis."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


class PatchEmbed(nn.Module):
    """Embed non-overlapping (or strided) image patches with a convolution.

    Args:
        in_channels: Image channels.
        embed_dims: Output features per patch.
        conv_type: ``"Conv2d"`` (the only convolution type).
        kernel_size: Patch size.
        stride: Patch stride (``None``: ``kernel_size``).
        padding: An int/pair for the conv's own zero padding, or an adaptive mode
            (``"corner"``, ``"same"``) applied before a conv without padding.
        dilation: Conv dilation.
        bias: Whether the conv has a bias.
        norm_cfg: Norm over the embedding (``{"type": "LN"}``); ``None``: no norm.
        input_size: Image size used to compute ``init_out_size`` (absolute position
            embeddings); ``None`` leaves both ``init_input_size`` and ``init_out_size`` None.
        init_cfg: Accepted for mmdet compatibility; ignored.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        embed_dims: int = 768,
        conv_type: str = "Conv2d",
        kernel_size: int | tuple[int, int] = 16,
        stride: int | tuple[int, int] | None = 16,
        padding: int | tuple[int, int] | str = "corner",
        dilation: int | tuple[int, int] = 1,
        bias: bool = True,
        norm_cfg: NormConfig | None = None,
        input_size: int | tuple[int, int] | None = None,
        init_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.embed_dims = embed_dims
        if stride is None:
            stride = kernel_size
        kernel = pair(kernel_size)
        strides = pair(stride)
        dilations = pair(dilation)
        if isinstance(padding, str):
            self.adap_padding: AdaptivePadding | None = AdaptivePadding(
                kernel_size=kernel, stride=strides, dilation=dilations, padding=padding
            )
            padding = 0
        else:
            self.adap_padding = None
        pads = pair(padding)
        self.projection = build_conv_layer(
            {"type": conv_type},
            in_channels=in_channels,
            out_channels=embed_dims,
            kernel_size=kernel,
            stride=strides,
            padding=pads,
            dilation=dilations,
            bias=bias,
        )
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1] if norm_cfg is not None else None
        self.init_input_size: tuple[int, int] | None = None
        self.init_out_size: tuple[int, int] | None = None
        if input_size:
            size = pair(input_size)
            self.init_input_size = size
            if self.adap_padding is not None:
                pad_h, pad_w = self.adap_padding.get_pad_shape(size)
                size = (size[0] + pad_h, size[1] + pad_w)
            self.init_out_size = (
                conv_out_size(size[0], kernel[0], strides[0], pads[0], dilations[0]),
                conv_out_size(size[1], kernel[1], strides[1], pads[1], dilations[1]),
            )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Tensor[N, C, H, W] -> (Tensor[N, H' * W', embed_dims], (H', W'))."""
        if self.adap_padding is not None:
            x = self.adap_padding(x)
        x = self.projection(x)
        out_size = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2)
        if self.norm is not None:
            x = self.norm(x)
        return x, out_size
