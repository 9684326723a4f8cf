"""Convolution layers built from an mmdet-style ``conv_cfg`` (``None`` means ``nn.Conv2d``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

# mmcv registers both names for torch's Conv2d.
CONV2D_TYPES = frozenset({"Conv", "Conv2d"})


def build_conv_layer(
    cfg: Mapping[str, Any] | None,
    *,
    in_channels: int,
    out_channels: int,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    bias: bool = True,
) -> nn.Conv2d:
    """Build a 2-d convolution from ``conv_cfg``.

    Args:
        cfg: ``None`` or ``{"type": "Conv2d" | "Conv", ...extra nn.Conv2d options}``.
            Deformable and other special convolutions are not implemented.
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Kernel size.
        stride: Stride.
        padding: Zero padding on each side.
        dilation: Dilation.
        groups: Groups.
        bias: Whether the convolution has a bias.

    Returns:
        The ``nn.Conv2d``; constructing it draws torch's default init from the global RNG,
        as mmcv's does.
    """
    options: dict[str, Any] = {}
    if cfg is not None:
        if not isinstance(cfg, Mapping):
            raise TypeError(f"conv_cfg must be None or a mapping, got {type(cfg).__name__}")
        options = dict(cfg)
        conv_type = options.pop("type", "Conv2d")
        if conv_type not in CONV2D_TYPES:
            raise NotImplementedError(
                f"conv_cfg type {conv_type!r} is not implemented in visdet; supported: {sorted(CONV2D_TYPES)}"
            )
    return nn.Conv2d(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        bias=bias,
        **options,
    )
