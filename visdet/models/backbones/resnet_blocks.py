"""Residual blocks of ResNet / ResNeXt with mmdet's attribute names.

``BasicBlock``: conv1 (3x3) - norm1 - relu - conv2 (3x3) - norm2, + shortcut, relu.
``Bottleneck``: conv1 (1x1) - norm1 - relu - conv2 (3x3, grouped for ResNeXt) - norm2 -
relu - conv3 (1x1) - norm3, + shortcut, relu. Norm layers are registered under their mmcv
names (``bn1``/``gn1``, ...) and reachable as ``norm1``, ``norm2``, ``norm3``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.utils.checkpoint as checkpoint
from torch import nn

from visdet.models.layers.conv import build_conv_layer
from visdet.models.layers.norm import NormConfig, build_norm_layer

STYLES = ("pytorch", "caffe")


def _reject_unsupported(dcn: object, plugins: object) -> None:
    if dcn is not None:
        raise NotImplementedError("deformable convolution (dcn) is not implemented in visdet")
    if plugins is not None:
        raise NotImplementedError("block plugins are not implemented in visdet")


def _run(inner: Any, x: torch.Tensor, with_cp: bool) -> torch.Tensor:
    # Gradient checkpointing only pays when something upstream needs gradients.
    if with_cp and x.requires_grad:
        return checkpoint.checkpoint(inner, x, use_reentrant=False)
    return inner(x)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34).

    Shapes: (N, inplanes, H, W) -> (N, planes, H / stride, W / stride).

    Args:
        inplanes: Input channels.
        planes: Output channels.
        stride: Stride of conv1.
        dilation: Dilation (and padding) of conv1.
        downsample: Shortcut module, or ``None`` for identity.
        style: ``"pytorch"`` or ``"caffe"`` (no effect on this block; kept for configs).
        with_cp: Gradient checkpointing of the block body.
        conv_cfg: Conv config.
        norm_cfg: Norm config.
        dcn: Must be ``None``.
        plugins: Must be ``None``.
    """

    expansion = 1

    def __init__(
        self,
        *,
        inplanes: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
        style: str = "pytorch",
        with_cp: bool = False,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: NormConfig,
        dcn: object = None,
        plugins: object = None,
    ) -> None:
        super().__init__()
        _reject_unsupported(dcn, plugins)
        if style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {style!r}")
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.conv1 = build_conv_layer(
            conv_cfg,
            in_channels=inplanes,
            out_channels=planes,
            kernel_size=3,
            stride=stride,
            padding=dilation,
            dilation=dilation,
            bias=False,
        )
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(
            conv_cfg, in_channels=planes, out_channels=planes, kernel_size=3, padding=1, bias=False
        )
        self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride
        self.dilation = dilation
        self.style = style
        self.with_cp = with_cp

    @property
    def norm1(self) -> nn.Module:
        """Norm after conv1."""
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        """Norm after conv2 (zeroed by ``zero_init_residual``)."""
        return getattr(self, self.norm2_name)

    @property
    def last_norm(self) -> nn.Module:
        """The norm that ``zero_init_residual`` zeroes."""
        return self.norm2

    def _body(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        out += identity
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[N, inplanes, H, W] -> Tensor[N, planes, H', W']."""
        return self.relu(_run(self._body, x, self.with_cp))


class Bottleneck(nn.Module):
    """1x1 - 3x3 - 1x1 bottleneck with a residual connection (ResNet-50+, ResNeXt).

    Shapes: (N, inplanes, H, W) -> (N, planes * 4, H / stride, W / stride).

    Args:
        inplanes: Input channels.
        planes: Bottleneck base width; output has ``planes * 4`` channels.
        stride: Block stride: on the 3x3 conv for ``"pytorch"`` style, on the first 1x1
            conv for ``"caffe"`` style.
        dilation: Dilation (and padding) of the 3x3 conv.
        downsample: Shortcut module, or ``None`` for identity.
        style: ``"pytorch"`` or ``"caffe"``.
        with_cp: Gradient checkpointing of the block body.
        conv_cfg: Conv config.
        norm_cfg: Norm config.
        groups: Groups of the 3x3 conv (ResNeXt cardinality); 1 for ResNet.
        base_width: ResNeXt width per group at ``base_channels``.
        base_channels: ResNeXt reference width; width = floor(planes * base_width /
            base_channels) * groups when ``groups > 1``.
        dcn: Must be ``None``.
        plugins: Must be ``None``.
    """

    expansion = 4

    def __init__(
        self,
        *,
        inplanes: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
        style: str = "pytorch",
        with_cp: bool = False,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: NormConfig,
        groups: int = 1,
        base_width: int = 4,
        base_channels: int = 64,
        dcn: object = None,
        plugins: object = None,
    ) -> None:
        super().__init__()
        _reject_unsupported(dcn, plugins)
        if style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {style!r}")
        self.inplanes = inplanes
        self.planes = planes
        self.stride = stride
        self.dilation = dilation
        self.style = style
        self.with_cp = with_cp
        self.conv1_stride, self.conv2_stride = (1, stride) if style == "pytorch" else (stride, 1)
        width = planes if groups == 1 else math.floor(planes * (base_width / base_channels)) * groups
        outplanes = planes * self.expansion

        self.norm1_name, norm1 = build_norm_layer(norm_cfg, width, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, width, postfix=2)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, outplanes, postfix=3)
        self.conv1 = build_conv_layer(
            conv_cfg,
            in_channels=inplanes,
            out_channels=width,
            kernel_size=1,
            stride=self.conv1_stride,
            bias=False,
        )
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(
            conv_cfg,
            in_channels=width,
            out_channels=width,
            kernel_size=3,
            stride=self.conv2_stride,
            padding=dilation,
            dilation=dilation,
            groups=groups,
            bias=False,
        )
        self.add_module(self.norm2_name, norm2)
        self.conv3 = build_conv_layer(conv_cfg, in_channels=width, out_channels=outplanes, kernel_size=1, bias=False)
        self.add_module(self.norm3_name, norm3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def norm1(self) -> nn.Module:
        """Norm after conv1."""
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        """Norm after conv2."""
        return getattr(self, self.norm2_name)

    @property
    def norm3(self) -> nn.Module:
        """Norm after conv3 (zeroed by ``zero_init_residual``)."""
        return getattr(self, self.norm3_name)

    @property
    def last_norm(self) -> nn.Module:
        """The norm that ``zero_init_residual`` zeroes."""
        return self.norm3

    def _body(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.relu(self.norm2(self.conv2(out)))
        out = self.norm3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        out += identity
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[N, inplanes, H, W] -> Tensor[N, planes * 4, H', W']."""
        return self.relu(_run(self._body, x, self.with_cp))
