"""Multi-scale deformable attention (Deformable DETR's sampling core), in PyTorch.

Shapes: B images, K keys over L levels (level ``l`` is an ``H_l x W_l`` map, so
``K = sum(H_l * W_l)``), Q queries, M heads of D channels, P points per level.

* ``value``: ``Tensor[B, K, M, D]``, the levels' maps flattened row-major and concatenated;
* ``spatial_shapes``: ``Tensor[L, 2]`` (int) rows ``(H_l, W_l)``;
* ``sampling_locations``: ``Tensor[B, Q, M, L, P, 2]``, ``(x, y)`` normalised to the
  level's map: ``(0, 0)`` is its top-left corner, ``(1, 1)`` its bottom-right corner;
* ``attention_weights``: ``Tensor[B, Q, M, L, P]``;
* result: ``Tensor[B, Q, M * D]``, head-major channels.

Each point is read by bilinear interpolation with pixel centres at ``(i + 0.5) / W``
(``grid_sample`` with ``align_corners=False``); neighbours outside the map count as zero
(``padding_mode='zeros'``). The L * P samples of a head are weighted and summed in
level-major order.

This is the arithmetic of mmcv 2.1's ``multi_scale_deformable_attn_pytorch``, which mmcv
itself runs on CPU: the same tensor operations in the same order, so the result and its
gradients are bit-identical to mmcv's on CPU. On CUDA mmcv runs its compiled kernel
instead (same formula, another summation order); visdet runs this function everywhere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["multi_scale_deformable_attn_pytorch"]


def _check_shapes(value: Tensor, spatial_shapes: Tensor, locations: Tensor, weights: Tensor) -> list[tuple[int, int]]:
    if value.dim() != 4:
        raise ValueError(f"value must be Tensor[B, K, M, D], got shape {tuple(value.shape)}")
    if spatial_shapes.dim() != 2 or spatial_shapes.shape[1] != 2:
        raise ValueError(f"spatial_shapes must be Tensor[L, 2], got shape {tuple(spatial_shapes.shape)}")
    if locations.dim() != 6 or locations.shape[-1] != 2:
        raise ValueError(f"sampling_locations must be Tensor[B, Q, M, L, P, 2], got shape {tuple(locations.shape)}")
    batch, queries, heads, levels, points, _ = locations.shape
    if weights.shape != (batch, queries, heads, levels, points):
        raise ValueError(
            f"attention_weights must have shape {(batch, queries, heads, levels, points)}, got {tuple(weights.shape)}"
        )
    if value.shape[0] != batch or value.shape[2] != heads:
        raise ValueError(f"value {tuple(value.shape)} does not match sampling_locations {tuple(locations.shape)}")
    shapes = [(int(h), int(w)) for h, w in spatial_shapes.tolist()]
    if len(shapes) != levels:
        raise ValueError(f"spatial_shapes has {len(shapes)} levels, sampling_locations {levels}")
    if sum(h * w for h, w in shapes) != value.shape[1]:
        covered = sum(h * w for h, w in shapes)
        raise ValueError(f"spatial_shapes {shapes} cover {covered} keys, value has {value.shape[1]}")
    return shapes


def multi_scale_deformable_attn_pytorch(
    value: Tensor, value_spatial_shapes: Tensor, sampling_locations: Tensor, attention_weights: Tensor
) -> Tensor:
    """Sample each level at the given points and sum the samples with the attention weights.

    Args:
        value: ``Tensor[B, K, M, D]``.
        value_spatial_shapes: ``Tensor[L, 2]`` rows ``(H_l, W_l)``.
        sampling_locations: ``Tensor[B, Q, M, L, P, 2]``, ``(x, y)`` in ``[0, 1]`` inside the map.
        attention_weights: ``Tensor[B, Q, M, L, P]``.

    Returns:
        ``Tensor[B, Q, M * D]`` (contiguous).

    Raises:
        ValueError: Shapes that do not fit together.
    """
    shapes = _check_shapes(value, value_spatial_shapes, sampling_locations, attention_weights)
    batch, _, heads, channels = value.shape
    _, queries, _, levels, points, _ = sampling_locations.shape
    per_level = value.split([h * w for h, w in shapes], dim=1)
    grids = 2 * sampling_locations - 1  # grid_sample's [-1, 1] frame
    sampled = []
    for level, (height, width) in enumerate(shapes):
        # [B, HW, M, D] -> [B, M * D, HW] -> [B * M, D, H, W]
        level_map = per_level[level].flatten(2).transpose(1, 2).reshape(batch * heads, channels, height, width)
        # [B, Q, M, P, 2] -> [B * M, Q, P, 2]
        level_grid = grids[:, :, :, level].transpose(1, 2).flatten(0, 1)
        # [B * M, D, Q, P]
        sampled.append(F.grid_sample(level_map, level_grid, mode="bilinear", padding_mode="zeros", align_corners=False))
    # [B, Q, M, L, P] -> [B * M, 1, Q, L * P]
    weights = attention_weights.transpose(1, 2).reshape(batch * heads, 1, queries, levels * points)
    # [B * M, D, Q, L, P] -> [B * M, D, Q, L * P], weighted sum over the samples -> [B, M * D, Q]
    stacked = torch.stack(sampled, dim=-2).flatten(-2)
    output = (stacked * weights).sum(-1).view(batch, heads * channels, queries)
    return output.transpose(1, 2).contiguous()
