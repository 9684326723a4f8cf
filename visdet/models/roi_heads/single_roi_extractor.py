"""``SingleRoIExtractor``: pool every RoI from the one pyramid level that suits its size.

Shapes: L feature levels ``Tensor[B, C, H_l, W_l]``; R rois ``Tensor[R, 5]`` as
``(batch_index, x1, y1, x2, y2)``; output ``Tensor[R, C, oh, ow]``.

Level of a RoI of area ``w * h`` (the FPN paper's rule, mmdet's constants):

* ``scale < finest_scale * 2``        -> level 0
* ``finest_scale * 2 <= scale < * 4`` -> level 1, and so on, clamped to ``L - 1``,

computed as ``floor(log2(sqrt(w * h) / finest_scale + 1e-6))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from visdet.models.roi_heads.roi_align_layer import RoIAlign

# mmdet adds this inside log2 so that a RoI exactly on a level boundary rounds up.
LEVEL_EPS = 1e-6


def map_roi_levels(rois: Tensor, num_levels: int, finest_scale: float) -> Tensor:
    """Pyramid level of each RoI.

    Args:
        rois: ``Tensor[R, 5]``.
        num_levels: Number of levels L.
        finest_scale: RoI scale (sqrt of area) mapped to the boundary of level 0.

    Returns:
        ``LongTensor[R]`` with values in ``[0, L - 1]``.
    """
    scale = torch.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))
    levels = torch.floor(torch.log2(scale / finest_scale + LEVEL_EPS))
    return levels.clamp(min=0, max=num_levels - 1).long()


def rescale_rois(rois: Tensor, scale_factor: float) -> Tensor:
    """Scale each RoI's width and height by ``scale_factor`` about its centre.

    Args:
        rois: ``Tensor[R, 5]``.
        scale_factor: Multiplier for width and height.

    Returns:
        ``Tensor[R, 5]`` with the same batch indices.
    """
    cx = (rois[:, 1] + rois[:, 3]) * 0.5
    cy = (rois[:, 2] + rois[:, 4]) * 0.5
    half_w = (rois[:, 3] - rois[:, 1]) * scale_factor * 0.5
    half_h = (rois[:, 4] - rois[:, 2]) * scale_factor * 0.5
    return torch.stack((rois[:, 0], cx - half_w, cy - half_h, cx + half_w, cy + half_h), dim=-1)


class SingleRoIExtractor(nn.Module):
    """Extract RoI features from a feature pyramid, one level per RoI.

    Args:
        roi_layers: One pooling layer per level, each built with
            ``spatial_scale = 1 / featmap_strides[l]`` (see ``build_roi_layers``).
        out_channels: Channels C of the features.
        featmap_strides: Stride of each level (e.g. ``[4, 8, 16, 32]``).
        finest_scale: Scale threshold of level 0 (mmdet default 56).
    """

    def __init__(
        self,
        *,
        roi_layers: Sequence[nn.Module],
        out_channels: int,
        featmap_strides: Sequence[int],
        finest_scale: float = 56,
    ) -> None:
        super().__init__()
        if len(roi_layers) != len(featmap_strides):
            raise ValueError(f"need one roi layer per stride: {len(roi_layers)} layers, {len(featmap_strides)} strides")
        self.roi_layers = nn.ModuleList(roi_layers)
        self.out_channels = out_channels
        self.featmap_strides = list(featmap_strides)
        self.finest_scale = finest_scale

    @staticmethod
    def build_roi_layers(
        *,
        featmap_strides: Sequence[int],
        output_size: int | tuple[int, int] = 7,
        sampling_ratio: int = 0,
        pool_mode: str = "avg",
        aligned: bool = True,
    ) -> list[RoIAlign]:
        """One ``RoIAlign`` per stride, with ``spatial_scale = 1 / stride``."""
        return [
            RoIAlign(
                output_size=output_size,
                spatial_scale=1 / stride,
                sampling_ratio=sampling_ratio,
                pool_mode=pool_mode,
                aligned=aligned,
            )
            for stride in featmap_strides
        ]

    @property
    def num_inputs(self) -> int:
        """Number of feature levels the extractor reads."""
        return len(self.featmap_strides)

    def forward(self, feats: Sequence[Tensor], rois: Tensor, roi_scale_factor: float | None = None) -> Tensor:
        """Pool features for ``rois``.

        Args:
            feats: L tensors ``[B, C, H_l, W_l]`` (only the first ``num_inputs`` are used
                when more are given).
            rois: ``Tensor[R, 5]``.
            roi_scale_factor: When set, RoIs are enlarged about their centres by this
                factor AFTER their level is chosen (mmdet's order).

        Returns:
            ``Tensor[R, C, oh, ow]``; zeros for R = 0.
        """
        if rois.dim() != 2 or rois.shape[-1] != 5:
            raise ValueError(f"rois must be (R, 5), got shape {tuple(rois.shape)}")
        feats = list(feats)[: self.num_inputs]
        rois = rois.type_as(feats[0])
        out_size = self.roi_layers[0].output_size
        num_levels = len(feats)
        roi_feats = feats[0].new_zeros(rois.size(0), self.out_channels, *out_size)
        if num_levels == 1:
            if rois.size(0) == 0:
                return roi_feats
            return self.roi_layers[0](feats[0], rois)
        levels = map_roi_levels(rois, num_levels, self.finest_scale)
        if roi_scale_factor is not None:
            rois = rescale_rois(rois, roi_scale_factor)
        for level in range(num_levels):
            inds = (levels == level).nonzero(as_tuple=False).squeeze(1)
            if inds.numel() > 0:
                roi_feats[inds] = self.roi_layers[level](feats[level], rois[inds])
            else:
                # mmdet keeps every level in the autograd graph (a zero contribution) so
                # distributed training never sees an unused input; kept for identical grads.
                roi_feats = roi_feats + feats[level].sum() * 0.0
        return roi_feats
