"""Depthwise-separable convolution (MobileNet), with mmcv's ``DepthwiseSeparableConvModule`` names.

Shapes: (N, in_channels, H, W) -> (N, out_channels, H', W'). A ``k x k`` depthwise
``ConvModule`` (``groups=in_channels``, with its own norm and activation) is followed by
a ``1 x 1`` pointwise ``ConvModule``; ``state_dict`` keys are ``depthwise_conv.conv.weight``,
``depthwise_conv.bn.*``, ``pointwise_conv.conv.weight``, ``pointwise_conv.bn.*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from visdet.models.layers.activation import ActConfig
from visdet.models.layers.conv_module import DEFAULT_ORDER, RELU_CFG, ConvModule
from visdet.models.layers.norm import NormConfig

#: The value of ``dw_*_cfg`` / ``pw_*_cfg`` that means "use ``norm_cfg`` / ``act_cfg``" (mmcv's).
DEFAULT = "default"


class DepthwiseSeparableConvModule(nn.Module):
    """A depthwise ``ConvModule`` then a pointwise (1x1) ``ConvModule``.

    Args:
        in_channels: Input channels (also the depthwise conv's groups and outputs).
        out_channels: Output channels of the pointwise conv.
        kernel_size: Depthwise kernel size.
        stride: Depthwise stride.
        padding: Depthwise zero padding.
        dilation: Depthwise dilation.
        norm_cfg: Norm of both convs unless ``dw_norm_cfg`` / ``pw_norm_cfg`` say otherwise.
        act_cfg: Activation of both convs unless ``dw_act_cfg`` / ``pw_act_cfg`` say otherwise
            (mmcv's default ReLU).
        dw_norm_cfg: The depthwise conv's norm, or ``"default"`` (``norm_cfg``).
        dw_act_cfg: The depthwise conv's activation, or ``"default"`` (``act_cfg``).
        pw_norm_cfg: The pointwise conv's norm, or ``"default"`` (``norm_cfg``).
        pw_act_cfg: The pointwise conv's activation, or ``"default"`` (``act_cfg``).
        conv_cfg: Conv config of both convs.
        bias: ``"auto"`` or a bool, for both convs (see ``ConvModule``).
        inplace: Default ``inplace`` of both activations.
        padding_mode: Padding mode of both convs.
        order: Layer order of both ``ConvModule``s.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        norm_cfg: NormConfig | None = None,
        act_cfg: ActConfig | None = RELU_CFG,
        dw_norm_cfg: NormConfig | str | None = DEFAULT,
        dw_act_cfg: ActConfig | str | None = DEFAULT,
        pw_norm_cfg: NormConfig | str | None = DEFAULT,
        pw_act_cfg: ActConfig | str | None = DEFAULT,
        conv_cfg: Mapping[str, Any] | None = None,
        bias: bool | str = "auto",
        inplace: bool = True,
        padding_mode: str = "zeros",
        order: tuple[str, str, str] = DEFAULT_ORDER,
    ) -> None:
        super().__init__()
        for name, value in (("dw_norm_cfg", dw_norm_cfg), ("dw_act_cfg", dw_act_cfg),
                            ("pw_norm_cfg", pw_norm_cfg), ("pw_act_cfg", pw_act_cfg)):  # fmt: skip
            if isinstance(value, str) and value != DEFAULT:
                raise ValueError(f"{name} must be a config, None or {DEFAULT!r}, got {value!r}")
        shared = dict(conv_cfg=conv_cfg, bias=bias, inplace=inplace, padding_mode=padding_mode, order=order)
        self.depthwise_conv = ConvModule(
            in_channels=in_channels,
            out_channels=in_channels,
            kernel_size=kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=in_channels,
            norm_cfg=norm_cfg if dw_norm_cfg == DEFAULT else dw_norm_cfg,
            act_cfg=act_cfg if dw_act_cfg == DEFAULT else dw_act_cfg,
            **shared,
        )
        self.pointwise_conv = ConvModule(
            in_channels=in_channels,
            out_channels=out_channels,
            kernel_size=1,
            norm_cfg=norm_cfg if pw_norm_cfg == DEFAULT else pw_norm_cfg,
            act_cfg=act_cfg if pw_act_cfg == DEFAULT else pw_act_cfg,
            **shared,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[N, in_channels, H, W] -> Tensor[N, out_channels, H', W']."""
        return self.pointwise_conv(self.depthwise_conv(x))
