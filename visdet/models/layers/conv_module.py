"""Convolution + normalisation + activation, with mmcv ConvModule's names and init.

Submodules are ``conv``, the norm under its mmcv name (``bn``, ``gn``, ...) and
``activate``, so ``state_dict`` keys are ``conv.weight``, ``conv.bias``, ``bn.weight``,
``bn.running_mean``, ... exactly as mmcv's.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from visdet.models.layers.activation import ActConfig, build_activation_layer
from visdet.models.layers.conv import build_conv_layer
from visdet.models.layers.norm import NormConfig, build_norm_layer
from visdet.models.layers.weight_init import constant_init, kaiming_init

#: mmcv's default activation for ConvModule.
RELU_CFG: Mapping[str, Any] = MappingProxyType({"type": "ReLU"})

DEFAULT_ORDER = ("conv", "norm", "act")
NATIVE_PADDING_MODES = ("zeros", "circular")


class ConvModule(nn.Module):
    """A 2-d convolution optionally followed by a norm layer and an activation.

    Shapes: (N, in_channels, H, W) -> (N, out_channels, H', W') with H', W' given by
    ``nn.Conv2d``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Kernel size.
        stride: Stride.
        padding: Zero padding.
        dilation: Dilation.
        groups: Groups.
        bias: ``"auto"`` (bias only when there is no norm, as mmcv) or a bool.
        conv_cfg: ``None`` or ``{"type": "Conv2d"}``.
        norm_cfg: ``None`` (no norm) or a norm config (see ``build_norm_layer``).
        act_cfg: ``None`` (no activation) or an activation config; mmcv's default ReLU.
        inplace: Default ``inplace`` for the activation.
        padding_mode: ``"zeros"`` or ``"circular"``.
        order: Order of ``"conv"``, ``"norm"``, ``"act"``.
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
        groups: int = 1,
        bias: bool | str = "auto",
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: NormConfig | None = None,
        act_cfg: ActConfig | None = RELU_CFG,
        inplace: bool = True,
        padding_mode: str = "zeros",
        order: tuple[str, str, str] = DEFAULT_ORDER,
    ) -> None:
        super().__init__()
        if not isinstance(order, tuple) or sorted(order) != ["act", "conv", "norm"]:
            raise ValueError(f"order must be a permutation of {DEFAULT_ORDER}, got {order!r}")
        if padding_mode not in NATIVE_PADDING_MODES:
            raise NotImplementedError(
                f"padding_mode {padding_mode!r} is not implemented; use one of {NATIVE_PADDING_MODES}"
            )
        if bias != "auto" and not isinstance(bias, bool):
            raise TypeError(f"bias must be 'auto' or a bool, got {bias!r}")
        self.conv_cfg = dict(conv_cfg) if isinstance(conv_cfg, Mapping) else conv_cfg
        self.norm_cfg = dict(norm_cfg) if isinstance(norm_cfg, Mapping) else norm_cfg
        self.act_cfg = dict(act_cfg) if isinstance(act_cfg, Mapping) else act_cfg
        self.inplace = inplace
        self.order = order
        self.with_norm = norm_cfg is not None
        self.with_activation = act_cfg is not None
        self.with_bias = (not self.with_norm) if bias == "auto" else bias

        self.padding_mode = padding_mode  # mmcv 2.1 quirk: "circular" is accepted but never reaches the
        conv_options = dict(conv_cfg or {})  # conv, which pads with zeros; visdet does the same
        self.conv = build_conv_layer(
            conv_options or None,
            in_channels=in_channels,
            out_channels=out_channels,
            kernel_size=kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=self.with_bias,
        )
        self.in_channels = self.conv.in_channels
        self.out_channels = self.conv.out_channels
        self.kernel_size = self.conv.kernel_size
        self.stride = self.conv.stride
        self.padding = padding
        self.dilation = self.conv.dilation
        self.groups = self.conv.groups

        self.norm_name: str | None = None
        if norm_cfg is not None:
            norm_after_conv = order.index("norm") > order.index("conv")
            channels = out_channels if norm_after_conv else in_channels
            self.norm_name, norm = build_norm_layer(norm_cfg, channels)
            self.add_module(self.norm_name, norm)

        if act_cfg is not None:
            self.activate = build_activation_layer(act_cfg, inplace=inplace)

        # mmcv initialises at construction (draws from the global RNG after nn.Conv2d's
        # own reset), so the same seed gives the same weights as mmcv.
        self.init_weights()

    @property
    def norm(self) -> nn.Module | None:
        """The norm layer, or ``None``."""
        return getattr(self, self.norm_name) if self.norm_name else None

    def init_weights(self) -> None:
        """Initialise as mmcv does: He-normal (fan_out) conv weights, zero bias, norm weight 1 bias 0."""
        act_type = self.act_cfg.get("type") if isinstance(self.act_cfg, Mapping) else None
        if act_type == "LeakyReLU":
            slope = float(self.act_cfg.get("negative_slope", 0.01))  # type: ignore[union-attr]
            kaiming_init(self.conv, a=slope, nonlinearity="leaky_relu")
        else:
            kaiming_init(self.conv, a=0.0, nonlinearity="relu")
        if self.norm is not None:
            constant_init(self.norm, 1.0, bias=0.0)

    def forward(self, x: torch.Tensor, activate: bool = True, norm: bool = True) -> torch.Tensor:
        """Apply the layers in ``order``.

        Args:
            x: Tensor[N, in_channels, H, W].
            activate: Apply the activation (if any).
            norm: Apply the norm layer (if any).

        Returns:
            Tensor[N, out_channels, H', W'].
        """
        for layer in self.order:
            if layer == "conv":
                x = self.conv(x)
            elif layer == "norm" and norm and self.norm is not None:
                x = self.norm(x)
            elif layer == "act" and activate and self.with_activation:
                x = self.activate(x)
        return x
