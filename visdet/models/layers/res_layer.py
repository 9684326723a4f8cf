"""A stage of residual blocks (mmdet's ``ResLayer``): ``layerK`` in ResNet.

Children are the blocks, named ``0``, ``1``, ...; the block that changes stride or width
gets a ``downsample`` shortcut: ``Sequential([AvgPool2d?], Conv2d 1x1, norm)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from torch import nn

from visdet.models.layers.conv import build_conv_layer
from visdet.models.layers.norm import NormConfig, build_norm_layer


class ResidualBlockType(Protocol):
    """What ResLayer needs from a block class."""

    expansion: int

    def __call__(self, **kwargs: Any) -> nn.Module:
        """Build one block from keyword arguments."""
        ...


def build_shortcut(
    *,
    inplanes: int,
    outplanes: int,
    stride: int,
    avg_down: bool,
    conv_cfg: Mapping[str, Any] | None,
    norm_cfg: NormConfig,
) -> nn.Sequential:
    """The projection shortcut: 1x1 conv (strided, or after an average pool) + norm.

    Args:
        inplanes: Input channels.
        outplanes: Output channels.
        stride: Spatial stride of the shortcut.
        avg_down: Downsample with ``AvgPool2d(stride, ceil_mode=True,
            count_include_pad=False)`` and a stride-1 conv (ResNet-D) instead of a
            strided conv.
        conv_cfg: Conv config.
        norm_cfg: Norm config.

    Returns:
        ``Sequential`` with indices matching mmdet's ``downsample.<i>`` keys.
    """
    layers: list[nn.Module] = []
    conv_stride = stride
    if avg_down:
        conv_stride = 1
        layers.append(nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True, count_include_pad=False))
    layers.append(
        build_conv_layer(
            conv_cfg,
            in_channels=inplanes,
            out_channels=outplanes,
            kernel_size=1,
            stride=conv_stride,
            bias=False,
        )
    )
    layers.append(build_norm_layer(norm_cfg, outplanes)[1])
    return nn.Sequential(*layers)


class ResLayer(nn.Sequential):
    """``num_blocks`` residual blocks; the first (or last) one strides and projects.

    Shapes: (N, inplanes, H, W) -> (N, planes * block.expansion, H / stride, W / stride)
    (ceil for odd sizes as the convolutions give).

    Args:
        block: Block class (``BasicBlock`` or ``Bottleneck``) with an ``expansion``.
        inplanes: Input channels.
        planes: Base width of the blocks; output has ``planes * block.expansion``.
        num_blocks: Number of blocks.
        stride: Stride of the downsampling block.
        avg_down: Average-pool shortcut (ResNet-D).
        conv_cfg: Conv config.
        norm_cfg: Norm config.
        downsample_first: Stride and project in the first block (ResNet) or in the last
            one (mmdet's Hourglass).
        **block_kwargs: Passed to every block (``dilation``, ``style``, ``with_cp``, ...).
    """

    def __init__(
        self,
        *,
        block: ResidualBlockType,
        inplanes: int,
        planes: int,
        num_blocks: int,
        stride: int = 1,
        avg_down: bool = False,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: NormConfig,
        downsample_first: bool = True,
        **block_kwargs: Any,
    ) -> None:
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {num_blocks}")
        self.block = block
        outplanes = planes * block.expansion
        shortcut = None
        if stride != 1 or inplanes != outplanes:
            shortcut = build_shortcut(
                inplanes=inplanes,
                outplanes=outplanes,
                stride=stride,
                avg_down=avg_down,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
            )
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, **block_kwargs)
        blocks: list[nn.Module] = []
        if downsample_first:
            blocks.append(block(inplanes=inplanes, planes=planes, stride=stride, downsample=shortcut, **common))
            for _ in range(1, num_blocks):
                blocks.append(block(inplanes=outplanes, planes=planes, stride=1, **common))
        else:
            for _ in range(num_blocks - 1):
                blocks.append(block(inplanes=inplanes, planes=inplanes, stride=1, **common))
            blocks.append(block(inplanes=inplanes, planes=planes, stride=stride, downsample=shortcut, **common))
        super().__init__(*blocks)
