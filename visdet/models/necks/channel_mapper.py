"""``ChannelMapper``: one conv per input level to a common width (DETR-family neck, mmdet 3.3).

Shapes: L maps ``Tensor[N, in_channels[l], H_l, W_l]`` -> ``num_outs`` maps
``Tensor[N, out_channels, H'_k, W'_k]``: the first L keep their input's size
(``kernel_size`` conv, "same" padding for odd kernels); each extra one is a stride-2 3x3 conv,
the first reading the last *input* map, the next ones the previous output.

State-dict keys: ``convs.<l>.conv.*`` and ``extra_convs.<k>.conv.*`` (plus the norm under its
mmcv name, ``gn`` in DETR configs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from visdet.models.layers.activation import ActConfig
from visdet.models.layers.conv_module import RELU_CFG, ConvModule
from visdet.models.layers.norm import NormConfig
from visdet.models.layers.weight_init import xavier_init

#: mmdet's ``init_cfg`` of ``ChannelMapper``: Xavier-uniform convs, zero bias.
DEFAULT_INIT_CFG: Mapping[str, Any] = MappingProxyType({"type": "Xavier", "layer": "Conv2d", "distribution": "uniform"})


class ChannelMapper(nn.Module):
    """Map each level's channels to ``out_channels``, optionally adding coarser levels.

    Args:
        in_channels: Channels of each input level.
        out_channels: Channels of every output.
        kernel_size: Kernel of the per-level convs (padding ``(kernel_size - 1) // 2``).
        conv_cfg: Conv config.
        norm_cfg: Norm config (``{"type": "GN", "num_groups": 32}`` in DETR configs) or ``None``.
        act_cfg: Activation config or ``None`` (DETR configs: ``None``; mmdet's default ReLU).
        bias: ``"auto"`` (bias only without a norm) or a bool.
        num_outs: Number of outputs; ``None``: one per input. More than the inputs adds
            stride-2 3x3 convs.
        init_cfg: mmdet's Xavier-uniform init (applied by :meth:`init_weights`) or ``None``.
    """

    def __init__(
        self,
        *,
        in_channels: Sequence[int],
        out_channels: int,
        kernel_size: int = 3,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: NormConfig | None = None,
        act_cfg: ActConfig | None = RELU_CFG,
        bias: bool | str = "auto",
        num_outs: int | None = None,
        init_cfg: Mapping[str, Any] | None = DEFAULT_INIT_CFG,
    ) -> None:
        super().__init__()
        if isinstance(in_channels, (str, bytes)) or not isinstance(in_channels, Sequence):
            raise TypeError(f"in_channels must be a list of ints, got {in_channels!r}")
        if init_cfg is not None and dict(init_cfg) != dict(DEFAULT_INIT_CFG):
            raise NotImplementedError(f"ChannelMapper init_cfg {dict(init_cfg)!r} is not supported")
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_outs = len(self.in_channels) if num_outs is None else num_outs
        self.init_cfg = dict(init_cfg) if init_cfg is not None else None
        options = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg, bias=bias)
        self.convs = nn.ModuleList(
            ConvModule(
                in_channels=channels,
                out_channels=out_channels,
                kernel_size=kernel_size,
                padding=(kernel_size - 1) // 2,
                **options,
            )
            for channels in self.in_channels
        )
        self.extra_convs: nn.ModuleList | None = None
        if self.num_outs > len(self.in_channels):
            self.extra_convs = nn.ModuleList()
            for k in range(self.num_outs - len(self.in_channels)):
                extra_in = self.in_channels[-1] if k == 0 else out_channels
                self.extra_convs.append(
                    ConvModule(
                        in_channels=extra_in, out_channels=out_channels, kernel_size=3, stride=2, padding=1, **options
                    )
                )

    def init_weights(self) -> None:
        """Initialise as mmdet: Xavier-uniform conv weights in registration order, zero bias."""
        if self.init_cfg is None:
            return
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                xavier_init(module, distribution="uniform")

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """``len(in_channels)`` maps ``[N, C_l, H_l, W_l]`` -> ``num_outs`` maps ``[N, out_channels, ., .]``."""
        if len(inputs) != len(self.convs):
            raise ValueError(f"ChannelMapper expects {len(self.convs)} input levels, got {len(inputs)}")
        outs = [conv(x) for conv, x in zip(self.convs, inputs)]
        if self.extra_convs:
            for k, conv in enumerate(self.extra_convs):
                outs.append(conv(inputs[-1] if k == 0 else outs[-1]))
        return tuple(outs)
