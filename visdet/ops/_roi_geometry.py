"""Where RoIAlign samples: mmcv's per-RoI bins, sampling grids and bilinear corners.

K RoIs, ``PH x PW`` bins, a ``gh x gw`` sampling grid per bin. All arithmetic is done in
the RoIs' dtype and in the order of mmcv's CPU kernel, so sample coordinates, corner
indices and bilinear weights are the same numbers mmcv uses.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import torch
from torch import Tensor


def float32(value: float) -> float:
    """Round a Python float to the nearest float32 (mmcv passes spatial_scale as float)."""
    return struct.unpack("f", struct.pack("f", value))[0]


@dataclass(frozen=True)
class RoIGeometry:
    """Per-RoI quantities of mmcv's kernel, each ``Tensor[K]``."""

    batch: Tensor  # long, image index (truncated toward zero like C's int cast)
    start_h: Tensor  # scaled (and, if aligned, shifted) top edge
    start_w: Tensor
    bin_h: Tensor  # roi_height / PH
    bin_w: Tensor
    grid_h: Tensor  # long, samples per bin along y
    grid_w: Tensor
    count: Tensor  # max(grid_h * grid_w, 1) in the RoIs' dtype, the avg divisor


def roi_geometry(
    rois: Tensor,
    output_size: tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
) -> RoIGeometry:
    """Compute bins and sampling grids of every RoI as mmcv does.

    Raises:
        ValueError: If ``aligned`` and a scaled RoI has negative width or height.
    """
    dtype = rois.dtype
    pooled_h, pooled_w = output_size
    scale = torch.tensor(float32(spatial_scale), dtype=dtype, device=rois.device)
    shift = 0.5 if aligned else 0.0
    start_w = rois[:, 1] * scale - shift
    start_h = rois[:, 2] * scale - shift
    roi_w = (rois[:, 3] * scale - shift) - start_w
    roi_h = (rois[:, 4] * scale - shift) - start_h
    if aligned:
        bad = (roi_w < 0) | (roi_h < 0)
        if bool(bad.any()):
            first = int(torch.nonzero(bad)[0, 0])
            raise ValueError(
                "rois must have x2 >= x1 and y2 >= y1 when aligned=True (mmcv asserts); "
                f"row {first} is {rois[first].tolist()}"
            )
    else:  # legacy mode: every RoI is at least one pixel
        roi_w = roi_w.clamp(min=1.0)
        roi_h = roi_h.clamp(min=1.0)
    bin_h = roi_h / pooled_h
    bin_w = roi_w / pooled_w
    if sampling_ratio > 0:
        grid_h = torch.full(bin_h.shape, sampling_ratio, dtype=torch.long, device=rois.device)
        grid_w = grid_h.clone()
    else:  # mmcv: ceilf(roi_size / bins), the quotient passed to C's ceilf as a float
        grid_h = torch.ceil(bin_h.float()).long()
        grid_w = torch.ceil(bin_w.float()).long()
    count = (grid_h * grid_w).clamp(min=1).to(dtype)
    return RoIGeometry(
        batch=rois[:, 0].long(),
        start_h=start_h,
        start_w=start_w,
        bin_h=bin_h,
        bin_w=bin_w,
        grid_h=grid_h,
        grid_w=grid_w,
        count=count,
    )


def sample_coords(start: Tensor, bin_size: Tensor, grid: Tensor, pooled: int, index: Tensor) -> Tensor:
    """Coordinates ``Tensor[k, pooled, ...]`` of sample ``index`` in every bin along one axis.

    mmcv: ``start + p * bin_size + (i + 0.5) * bin_size / grid``, evaluated left to right.
    ``index`` is ``Tensor[k]`` (one sample per RoI) or ``Tensor[k, G]``.
    """
    dtype = start.dtype
    bins = torch.arange(pooled, device=start.device).to(dtype)
    base = start[:, None] + bins[None] * bin_size[:, None]  # [k, pooled]
    divisor = grid.clamp(min=1).to(dtype)
    if index.dim() == 1:
        offset = (index.to(dtype) + 0.5) * bin_size / divisor  # [k]
        return base + offset[:, None]
    offset = (index.to(dtype) + 0.5) * bin_size[:, None] / divisor[:, None]  # [k, G]
    return base[:, :, None] + offset[:, None, :]


def bilinear_axis(coord: Tensor, size: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Mmcv's per-axis bilinear terms for sample coordinates on an axis of length ``size``.

    Returns ``(valid, low, high, weight_low, weight_high)``: whether the sample is in
    ``[-1, size]`` (outside, mmcv makes it contribute 0), the neighbouring indices
    after clamping to ``[0, size - 1]``, and their weights ``1 - frac`` and ``frac``.
    """
    valid = (coord >= -1.0) & (coord <= size)
    coord = torch.where(coord <= 0, torch.zeros_like(coord), coord)
    low = coord.long()  # truncation toward zero; coord >= 0 here
    at_edge = low >= size - 1
    low = torch.where(at_edge, torch.full_like(low, size - 1), low)
    high = torch.where(at_edge, low, low + 1)
    coord = torch.where(at_edge, low.to(coord.dtype), coord)
    frac = coord - low.to(coord.dtype)
    return valid, low, high, 1 - frac, frac
