"""Feature Pyramid Network (Lin et al. 2017) with mmdet 3.3's structure and names.

Shapes: L input maps Tensor[N, in_channels[l], H_l, W_l] -> ``num_outs`` maps
Tensor[N, out_channels, H'_k, W'_k]: one per used input level (same size as that input),
then extra levels, each half the previous size (max-pool or stride-2 conv).

State-dict keys: ``lateral_convs.<i>.conv.*`` (1x1) and ``fpn_convs.<i>.conv.*`` (3x3;
the extra stride-2 convs continue the ``fpn_convs`` indices), plus norm layers under their
mmcv names when ``norm_cfg`` is set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from visdet.models.layers.activation import ActConfig
from visdet.models.layers.conv_module import ConvModule
from visdet.models.layers.norm import NormConfig
from visdet.models.layers.weight_init import xavier_init

EXTRA_CONV_SOURCES = ("on_input", "on_lateral", "on_output")
#: mmdet's FPN upsampling: nearest, to the size of the finer level.
DEFAULT_UPSAMPLE_CFG: Mapping[str, Any] = MappingProxyType({"mode": "nearest"})
#: mmdet's FPN ``init_cfg``: Xavier-uniform convs, zero bias.
DEFAULT_INIT_CFG: Mapping[str, Any] = MappingProxyType({"type": "Xavier", "layer": "Conv2d", "distribution": "uniform"})


class FPN(nn.Module):
    """Top-down feature pyramid with lateral connections.

    Args:
        in_channels: Channels of each input level.
        out_channels: Channels of every output level.
        num_outs: Number of output levels.
        start_level: First input level used.
        end_level: Last input level used (inclusive); -1 means the last one. When it is
            not the last one, no extra levels are allowed.
        add_extra_convs: ``False``: extra levels by max-pool (kernel 1, stride 2) of the
            last output. ``True`` (= ``"on_input"``), ``"on_input"``, ``"on_lateral"``,
            ``"on_output"``: extra levels by stride-2 3x3 convs whose first one reads the
            last used input, the last lateral or the last output.
        relu_before_extra_convs: ReLU before every extra conv after the first.
        no_norm_on_lateral: No norm in the lateral 1x1 convs.
        conv_cfg: Conv config.
        norm_cfg: Norm config, or ``None``.
        act_cfg: Activation config, or ``None`` (mmdet's default: no activation).
        upsample_cfg: ``F.interpolate`` options; without ``scale_factor`` the coarser level
            is resized to the finer level's size.
        init_cfg: mmdet's default Xavier-uniform init, or ``None`` (keep ConvModule's
            He init).
    """

    def __init__(
        self,
        *,
        in_channels: Sequence[int],
        out_channels: int,
        num_outs: int,
        start_level: int = 0,
        end_level: int = -1,
        add_extra_convs: bool | str = False,
        relu_before_extra_convs: bool = False,
        no_norm_on_lateral: bool = False,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: NormConfig | None = None,
        act_cfg: ActConfig | None = None,
        upsample_cfg: Mapping[str, Any] = DEFAULT_UPSAMPLE_CFG,
        init_cfg: Mapping[str, Any] | None = DEFAULT_INIT_CFG,
    ) -> None:
        super().__init__()
        if isinstance(in_channels, (str, bytes)) or not isinstance(in_channels, Sequence):
            raise TypeError(f"in_channels must be a sequence of ints, got {in_channels!r}")
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_ins = len(self.in_channels)
        self.num_outs = num_outs
        self.relu_before_extra_convs = relu_before_extra_convs
        self.no_norm_on_lateral = no_norm_on_lateral
        self.upsample_cfg = dict(upsample_cfg)
        if init_cfg is not None and dict(init_cfg) != dict(DEFAULT_INIT_CFG):
            raise NotImplementedError(f"FPN init_cfg {dict(init_cfg)!r} is not supported")
        self.init_cfg = dict(init_cfg) if isinstance(init_cfg, Mapping) else init_cfg

        if not 0 <= start_level < self.num_ins:
            raise ValueError(f"start_level must be in [0, {self.num_ins}), got {start_level}")
        if end_level in (-1, self.num_ins - 1):
            self.backbone_end_level = self.num_ins
            if num_outs < self.num_ins - start_level:
                raise ValueError(
                    f"num_outs={num_outs} must be >= len(in_channels) - start_level = {self.num_ins - start_level}"
                )
        else:
            if not start_level <= end_level < self.num_ins:
                raise ValueError(f"end_level must be -1 or in [start_level, {self.num_ins}), got {end_level}")
            self.backbone_end_level = end_level + 1
            if num_outs != end_level - start_level + 1:
                raise ValueError(
                    f"num_outs={num_outs} must equal end_level - start_level + 1 = "
                    f"{end_level - start_level + 1} when end_level is not the last level"
                )
        self.start_level = start_level
        self.end_level = end_level

        if isinstance(add_extra_convs, str):
            if add_extra_convs not in EXTRA_CONV_SOURCES:
                raise ValueError(
                    f"add_extra_convs must be a bool or one of {EXTRA_CONV_SOURCES}, got {add_extra_convs!r}"
                )
        elif not isinstance(add_extra_convs, bool):
            raise TypeError(f"add_extra_convs must be a bool or str, got {add_extra_convs!r}")
        self.add_extra_convs: bool | str = "on_input" if add_extra_convs is True else add_extra_convs

        conv_kwargs = dict(conv_cfg=conv_cfg, act_cfg=act_cfg, inplace=False)
        self.lateral_convs = nn.ModuleList()
        self.fpn_convs = nn.ModuleList()
        for i in range(start_level, self.backbone_end_level):
            self.lateral_convs.append(
                ConvModule(
                    in_channels=self.in_channels[i],
                    out_channels=out_channels,
                    kernel_size=1,
                    norm_cfg=None if no_norm_on_lateral else norm_cfg,
                    **conv_kwargs,
                )
            )
            self.fpn_convs.append(
                ConvModule(
                    in_channels=out_channels,
                    out_channels=out_channels,
                    kernel_size=3,
                    padding=1,
                    norm_cfg=norm_cfg,
                    **conv_kwargs,
                )
            )
        extra_levels = num_outs - self.backbone_end_level + start_level
        if self.add_extra_convs and extra_levels >= 1:
            for i in range(extra_levels):
                if i == 0 and self.add_extra_convs == "on_input":
                    extra_in = self.in_channels[self.backbone_end_level - 1]
                else:
                    extra_in = out_channels
                self.fpn_convs.append(
                    ConvModule(
                        in_channels=extra_in,
                        out_channels=out_channels,
                        kernel_size=3,
                        stride=2,
                        padding=1,
                        norm_cfg=norm_cfg,
                        **conv_kwargs,
                    )
                )

    def init_weights(self) -> None:
        """Initialise as mmdet's FPN: Xavier-uniform conv weights (in registration order), zero bias."""
        if self.init_cfg is None:
            return
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                xavier_init(module, distribution="uniform")

    def _check_inputs(self, inputs: Sequence[torch.Tensor]) -> None:
        if len(inputs) != self.num_ins:
            raise ValueError(
                f"FPN expects {self.num_ins} input levels, got {len(inputs)} with shapes "
                f"{[tuple(x.shape) for x in inputs]}"
            )
        for level, (x, channels) in enumerate(zip(inputs, self.in_channels)):
            if x.dim() != 4 or x.shape[1] != channels:
                raise ValueError(f"FPN input level {level} must have shape (N, {channels}, H, W), got {tuple(x.shape)}")

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Build the pyramid.

        Args:
            inputs: ``len(in_channels)`` maps Tensor[N, in_channels[l], H_l, W_l].

        Returns:
            ``num_outs`` maps Tensor[N, out_channels, H'_k, W'_k].
        """
        self._check_inputs(inputs)
        laterals = [conv(inputs[i + self.start_level]) for i, conv in enumerate(self.lateral_convs)]
        used_levels = len(laterals)
        for i in range(used_levels - 1, 0, -1):
            if "scale_factor" in self.upsample_cfg:
                upsampled = F.interpolate(laterals[i], **self.upsample_cfg)
            else:
                size = laterals[i - 1].shape[2:]
                upsampled = F.interpolate(laterals[i], size=size, **self.upsample_cfg)
            laterals[i - 1] = laterals[i - 1] + upsampled

        outs = [self.fpn_convs[i](laterals[i]) for i in range(used_levels)]
        if self.num_outs > used_levels:
            if not self.add_extra_convs:
                for _ in range(self.num_outs - used_levels):
                    outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            else:
                if self.add_extra_convs == "on_input":
                    source = inputs[self.backbone_end_level - 1]
                elif self.add_extra_convs == "on_lateral":
                    source = laterals[-1]
                else:
                    source = outs[-1]
                outs.append(self.fpn_convs[used_levels](source))
                for i in range(used_levels + 1, self.num_outs):
                    previous = F.relu(outs[-1]) if self.relu_before_extra_convs else outs[-1]
                    outs.append(self.fpn_convs[i](previous))
        return tuple(outs)
