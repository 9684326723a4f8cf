"""RoIAlign (``avg``) that sums each bin's samples in mmcv's order: bit-exact forward.

Shapes as :func:`visdet.ops.roi_align`: ``input`` ``Tensor[N, C, H, W]``, ``rois``
``Tensor[K, 5]`` ``(batch_index, x1, y1, x2, y2)``, result ``Tensor[K, C, PH, PW]``.

:func:`visdet.ops.roi_align` computes the average as two matmuls, which agrees with
mmcv to float rounding. Where a threshold follows the pooling, that is not enough: mask
targets are ``roi_align(gt_mask) >= 0.5`` (mmdet's ``BitmapMasks.crop_and_resize``) and
a value that mmcv rounds to exactly 0.5 must not come out as 0.49999997. This variant
evaluates every sample as mmcv's CPU kernel does (``w1*v1 + w2*v2 + w3*v3 + w4*v4``),
adds the samples of a bin one by one in grid order starting from 0, then divides by the
sample count, so every output is the same float as mmcv's. It has no backward (targets
need none) and is slower than :func:`~visdet.ops.roi_align` for many channels.
"""

from __future__ import annotations

import torch
from torch import Tensor

from visdet.ops._roi_align_max import _interpolate, _pixel_reader, _slots
from visdet.ops._roi_geometry import roi_geometry
from visdet.ops.roi_align import roi_align

__all__ = ["roi_align_avg_ordered"]


def roi_align_avg_ordered(
    input: Tensor,
    rois: Tensor,
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = 0,
    aligned: bool = True,
) -> Tensor:
    """Average RoIAlign with mmcv's summation order (no gradient).

    Args:
        input: ``Tensor[N, C, H, W]`` floating feature map.
        rois: ``Tensor[K, 5]`` in ``input``'s dtype.
        output_size: ``PH`` (square) or ``(PH, PW)``.
        spatial_scale: Multiplier from RoI to ``input`` coordinates.
        sampling_ratio: Samples per bin and axis; ``0``: ``ceil(roi_size / bins)`` per RoI.
        aligned: Shift RoIs by -0.5 pixel (mmcv's ``aligned=True``).

    Returns:
        ``Tensor[K, C, PH, PW]``, equal element for element to mmcv's CPU ``roi_align``.
    """
    # the public op validates every argument the same way; an empty call returns its zeros
    size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    if rois.shape[0] == 0 or input.numel() == 0:
        return roi_align(input, rois, size, spatial_scale, sampling_ratio, "avg", aligned)
    roi_align(input[:1, :1, :1, :1], rois[:0], size, spatial_scale, sampling_ratio, "avg", aligned)
    num, channels, height, width = input.shape
    num_rois, bins = rois.shape[0], size[0] * size[1]
    with torch.no_grad():
        order, slots = _slots(rois, height, width, size, spatial_scale, sampling_ratio, aligned)
        count = roi_geometry(rois, size, spatial_scale, sampling_ratio, aligned).count
        take = _pixel_reader(input.contiguous(), slots)
        total = input.new_zeros((num_rois, bins, channels))
        for slot in slots:
            values = _interpolate(take, slot).view(slot.active, bins, channels)
            total[: slot.active] = total[: slot.active] + values
        pooled = torch.empty_like(total)
        pooled[order] = total
        pooled = pooled / count[:, None, None]
    return pooled.view(num_rois, *size, channels).permute(0, 3, 1, 2).contiguous()
