"""``MaskFeatModule``: RTMDet-Ins's mask prototypes from the pyramid (mmdet's ``MaskFeatModule``).

Shapes: L levels ``[B, C_in, H_l, W_l]`` -> ``[B, P, H_0, W_0]`` (P = ``num_prototypes``)
at the first level's size. The first ``num_levels`` levels are resized bilinearly to level
0 (``align_corners=False``), concatenated, fused by a 1x1 ``fusion_conv`` back to C_in,
passed through ``stacked_convs`` 3x3 ``ConvModule`` layers and projected by a 1x1
``projection``. Attribute and ``state_dict`` names are mmdet's (``fusion_conv``,
``stacked_convs.<i>.conv``, ``stacked_convs.<i>.bn``, ``projection``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from visdet.models.layers import ConvModule


class MaskFeatModule(nn.Module):
    """Mask prototype branch; see the module docstring.

    Args:
        in_channels: Channels of the pyramid features.
        feat_channels: Channels of the stacked convs.
        stacked_convs: 3x3 ``ConvModule`` layers.
        num_levels: Pyramid levels fused (the first ``num_levels``).
        num_prototypes: Output channels P.
        act_cfg: Activation of the stacked convs.
        norm_cfg: Norm of the stacked convs.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        feat_channels: int = 256,
        stacked_convs: int = 4,
        num_levels: int = 3,
        num_prototypes: int = 8,
        act_cfg: Mapping[str, Any] | None = MappingProxyType({"type": "ReLU", "inplace": True}),
        norm_cfg: Mapping[str, Any] | None = MappingProxyType({"type": "BN"}),
    ) -> None:
        super().__init__()
        if num_levels < 1 or stacked_convs < 1:
            raise ValueError(f"MaskFeatModule needs num_levels >= 1 and stacked_convs >= 1, got {num_levels}, "
                             f"{stacked_convs}")  # fmt: skip
        self.num_levels = num_levels
        self.fusion_conv = nn.Conv2d(num_levels * in_channels, in_channels, 1)
        convs = [
            ConvModule(in_channels=in_channels if i == 0 else feat_channels, out_channels=feat_channels,
                       kernel_size=3, padding=1, act_cfg=act_cfg, norm_cfg=norm_cfg)
            for i in range(stacked_convs)
        ]  # fmt: skip
        self.stacked_convs = nn.Sequential(*convs)
        self.projection = nn.Conv2d(feat_channels, num_prototypes, kernel_size=1)

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        """Prototypes ``[B, P, H_0, W_0]`` from at least ``num_levels`` feature maps."""
        if len(features) < self.num_levels:
            raise ValueError(f"MaskFeatModule: {len(features)} feature levels, needs {self.num_levels}")
        size = features[0].shape[-2:]
        fused = [features[0]] + [F.interpolate(features[i], size=size, mode="bilinear")
                                 for i in range(1, self.num_levels)]  # fmt: skip
        return self.projection(self.stacked_convs(self.fusion_conv(torch.cat(fused, dim=1))))
