"""RoIAlign: bilinear pooling of a feature map over regions, as mmcv 2.1's CPU kernel does it.

Shapes: ``input`` is ``Tensor[N, C, H, W]``; ``rois`` is ``Tensor[K, 5]`` rows
``(batch_index, x1, y1, x2, y2)`` in input-image coordinates; the result is
``Tensor[K, C, PH, PW]`` for ``output_size = (PH, PW)``.

Rules reproduced from mmcv (all arithmetic in the input's dtype, in mmcv's order):

* a RoI is scaled by ``spatial_scale`` (rounded to float32, as mmcv passes it) and, if
  ``aligned``, shifted by -0.5; its size is ``end - start``, and without ``aligned`` it
  is at least 1 (legacy behaviour);
* each of the ``PH x PW`` bins takes a ``gh x gw`` grid of samples, where ``g`` is
  ``sampling_ratio`` if positive, else ``ceil(roi_size / bins)`` per RoI and axis
  (so different RoIs may have different grids, and a zero-size aligned RoI has none);
* a sample at ``y < -1`` or ``y > H`` (likewise x) contributes 0; otherwise it is clamped
  to ``[0, H - 1]`` and bilinearly interpolated;
* ``avg`` sums the samples in grid order and divides by ``max(gh * gw, 1)``; ``max``
  takes the largest sample, starting from -10000 (mmcv's CPU initial value; its CUDA
  kernel starts from -FLT_MAX instead; visdet uses the CPU value on every device), so an
  out-of-range sample counts as a 0 and an empty grid outputs -10000.

Degenerate RoIs: with ``aligned=True`` an inverted RoI (``x2 < x1`` or ``y2 < y1`` after
scaling) raises ``ValueError`` (mmcv's CPU kernel asserts); a zero-size one outputs 0
(``avg``) or -10000 (``max``) and gets no gradient. With ``aligned=False`` any RoI is
widened to size 1. NaN or inf in ``rois`` raises ``ValueError``; the batch index is
truncated toward zero (as C's ``int`` cast) and must lie in ``[0, N)``.

Implementation of ``avg``: the sampling grid of a RoI is a product of a y-grid and an
x-grid, and an out-of-range sample is out of range along one axis, so the average is
separable: ``out[c] = Ay @ crop[c] @ Ax.T / count``, where ``Ay[ph, y]`` sums the
bilinear y-weights of bin row ``ph``'s samples on pixel row ``y`` (``Ax`` likewise) and
``crop`` is the part of the map the RoI touches. RoIs are processed in chunks of similar
crop size with two batched matmuls, so the cost follows the RoI areas, not the number
of samples. The sums therefore run in another order than mmcv's per-sample loop:
results agree to float rounding (about 1e-7 relative), not bit for bit. The backward
pass applies the transposed maps (``Ay.T @ grad @ Ax / count``) and scatter-adds the
crops, the gradient mmcv's backward kernel computes. ``max`` is in
:mod:`visdet.ops._roi_align_max`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from visdet.ops._checks import (
    check_choice,
    check_finite,
    check_floating,
    check_int,
    check_number,
    check_tensor,
)
from visdet.ops._roi_align_max import MAX_POOL_INITIAL, RoIAlignMax
from visdet.ops._roi_geometry import bilinear_axis, roi_geometry, sample_coords

__all__ = ["MAX_POOL_INITIAL", "roi_align"]

# Elements (RoIs x crop pixels x channels) gathered per chunk in avg mode: bounds the
# temporary memory (2**23 float32 = 32 MiB) while keeping the matmuls large.
_CHUNK_ELEMENTS = 1 << 23


def _axis_terms(start: Tensor, bin_size: Tensor, grid: Tensor, pooled: int, size: int):
    """Per-axis sample corners relative to each RoI's crop, and the crop origin/extent."""
    g_max = max(int(grid.max()), 1) if grid.numel() else 1
    index = torch.arange(g_max, device=start.device)
    coords = sample_coords(start, bin_size, grid, pooled, index[None].expand(start.shape[0], -1))
    valid, low, high, w_low, w_high = bilinear_axis(coords, size)
    used = valid & (index[None, None, :] < grid[:, None, None])
    w_low = torch.where(used, w_low, torch.zeros_like(w_low))
    w_high = torch.where(used, w_high, torch.zeros_like(w_high))
    origin = torch.where(used, low, torch.full_like(low, size)).amin(dim=(1, 2))
    origin = torch.where(origin == size, torch.zeros_like(origin), origin)  # nothing used
    last = torch.where(used, high, torch.full_like(high, -1)).amax(dim=(1, 2))
    extent = (last - origin + 1).clamp(min=1)
    return origin, extent, low - origin[:, None, None], high - origin[:, None, None], w_low, w_high


def _axis_matrix(terms, index: Tensor, length: int) -> Tensor:
    """``Tensor[k, pooled, length]``: summed bilinear weights of each bin on crop pixels."""
    _, _, low, high, w_low, w_high = terms
    low, high = low[index].clamp(0, length - 1), high[index].clamp(0, length - 1)
    w_low, w_high = w_low[index], w_high[index]
    matrix = w_low.new_zeros((*w_low.shape[:2], length))
    matrix.scatter_add_(2, low, w_low)
    matrix.scatter_add_(2, high, w_high)
    return matrix


def _chunks(extent_h: Tensor, extent_w: Tensor, channels: int) -> list[Tensor]:
    """Group RoIs of similar crop size so that each group's padded crops fit the budget."""
    area = extent_h * extent_w
    order = torch.sort(area, stable=True)[1]
    heights, widths = extent_h[order].tolist(), extent_w[order].tolist()
    chunks, begin, max_h, max_w = [], 0, 0, 0
    for end, (h, w) in enumerate(zip(heights, widths, strict=True)):
        new_h, new_w = max(max_h, h), max(max_w, w)
        if end > begin and (end - begin + 1) * new_h * new_w * channels > _CHUNK_ELEMENTS:
            chunks.append(order[begin:end])
            begin, new_h, new_w = end, h, w
        max_h, max_w = new_h, new_w
    if begin < len(heights):
        chunks.append(order[begin:])
    return chunks


class _RoIAlignAvg(torch.autograd.Function):
    """Average-pooled RoIAlign as two batched matmuls per chunk of RoIs."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        input: Tensor,
        rois: Tensor,
        output_size: tuple[int, int],
        spatial_scale: float,
        sampling_ratio: int,
        aligned: bool,
    ) -> Tensor:
        num, channels, height, width = input.shape
        pooled_h, pooled_w = output_size
        geometry = roi_geometry(rois, output_size, spatial_scale, sampling_ratio, aligned)
        y_terms = _axis_terms(geometry.start_h, geometry.bin_h, geometry.grid_h, pooled_h, height)
        x_terms = _axis_terms(geometry.start_w, geometry.bin_w, geometry.grid_w, pooled_w, width)
        features = input.permute(0, 2, 3, 1).reshape(num * height * width, channels)
        output = input.new_empty((rois.shape[0], pooled_h, pooled_w, channels))
        plans = []
        for index in _chunks(y_terms[1], x_terms[1], channels):
            crop_h, crop_w = int(y_terms[1][index].max()), int(x_terms[1][index].max())
            rows_y = (y_terms[0][index, None] + torch.arange(crop_h, device=input.device)).clamp(
                max=height - 1
            )
            cols_x = (x_terms[0][index, None] + torch.arange(crop_w, device=input.device)).clamp(
                max=width - 1
            )
            rows = (
                (geometry.batch[index, None] * height + rows_y)[:, :, None] * width
                + cols_x[:, None, :]
            ).reshape(-1)
            crop = features.index_select(0, rows).view(index.numel(), crop_h, crop_w, channels)
            matrix_y = _axis_matrix(y_terms, index, crop_h)
            matrix_x = _axis_matrix(x_terms, index, crop_w)
            along_x = torch.matmul(matrix_x[:, None], crop)  # [k, crop_h, PW, C]
            pooled = torch.matmul(matrix_y, along_x.reshape(index.numel(), crop_h, -1))
            count = geometry.count[index, None, None, None]
            output[index] = pooled.view(index.numel(), pooled_h, pooled_w, channels) / count
            plans.append((index, rows, matrix_y, matrix_x))
        ctx.plans = plans
        ctx.save_for_backward(geometry.count)
        ctx.input_shape = input.shape
        return output.permute(0, 3, 1, 2).contiguous()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output: Tensor):  # type: ignore[override]
        (count,) = ctx.saved_tensors
        num, channels, height, width = ctx.input_shape
        grad = grad_output.permute(0, 2, 3, 1)
        grad_features = grad.new_zeros((num * height * width, channels))
        for index, rows, matrix_y, matrix_x in ctx.plans:
            grad_bins = grad[index] / count[index, None, None, None]  # [k, PH, PW, C]
            k, pooled_h, pooled_w, _ = grad_bins.shape
            grad_rows = torch.matmul(matrix_y.transpose(1, 2), grad_bins.reshape(k, pooled_h, -1))
            grad_rows = grad_rows.view(k, -1, pooled_w, channels)  # [k, crop_h, PW, C]
            grad_crop = torch.matmul(matrix_x.transpose(1, 2)[:, None], grad_rows)
            grad_features.index_add_(0, rows, grad_crop.reshape(-1, channels))
        grad_input = grad_features.view(num, height, width, channels).permute(0, 3, 1, 2)
        return grad_input.contiguous(), None, None, None, None, None


def _output_size(output_size: object) -> tuple[int, int]:
    if isinstance(output_size, int) and not isinstance(output_size, bool):
        size = (output_size, output_size)
    elif isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        size = (
            check_int(output_size[0], "output_size[0]"),
            check_int(output_size[1], "output_size[1]"),
        )
    else:
        raise TypeError(f"output_size must be an int or a pair of ints, got {output_size!r}")
    if size[0] <= 0 or size[1] <= 0:
        raise ValueError(f"output_size must be positive, got {size}")
    return size


def roi_align(
    input: Tensor,
    rois: Tensor,
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = 0,
    pool_mode: str = "avg",
    aligned: bool = True,
) -> Tensor:
    """Pool ``input`` over each RoI into a fixed ``output_size`` grid with bilinear sampling.

    Args:
        input: ``Tensor[N, C, H, W]`` feature map (float).
        rois: ``Tensor[K, 5]`` rows ``(batch_index, x1, y1, x2, y2)``, same dtype and device.
        output_size: ``(PH, PW)``, or one int for both.
        spatial_scale: Factor from RoI coordinates to feature-map coordinates (e.g. 1/16).
        sampling_ratio: Samples per bin and axis; ``<= 0`` chooses
            ``ceil(roi_size / bins)`` per RoI.
        pool_mode: ``"avg"`` or ``"max"`` over the samples of a bin.
        aligned: Shift the scaled RoI by -0.5 pixel (the pixel-centre model); False is
            the legacy mode that also widens every RoI to at least 1 pixel.

    Returns:
        ``Tensor[K, C, PH, PW]`` in the input's dtype, differentiable w.r.t. ``input``
        (not w.r.t. ``rois``, like mmcv).

    Raises:
        TypeError: Non-tensor or non-float inputs, dtype mismatch, bad ``output_size``.
        ValueError: Bad shapes, NaN/inf in ``rois``, batch index outside ``[0, N)``,
            inverted RoIs with ``aligned=True``, unknown ``pool_mode``.
    """
    check_tensor(input, "input")
    check_floating(input, "input")
    if input.dim() != 4:
        raise ValueError(f"input must have shape (N, C, H, W), got {tuple(input.shape)}")
    check_tensor(rois, "rois")
    check_floating(rois, "rois")
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise ValueError(f"rois must have shape (K, 5), got {tuple(rois.shape)}")
    if rois.dtype != input.dtype:
        raise TypeError(f"rois must have the input's dtype {input.dtype}, got {rois.dtype}")
    if rois.device != input.device:
        raise ValueError(f"rois is on {rois.device} but input is on {input.device}")
    check_finite(rois, "rois")
    size = _output_size(output_size)
    spatial_scale = check_number(spatial_scale, "spatial_scale")
    sampling_ratio = check_int(sampling_ratio, "sampling_ratio")
    check_choice(pool_mode, "pool_mode", ("avg", "max"))
    if rois.shape[0]:
        batch = rois[:, 0].long()
        if bool(((batch < 0) | (batch >= input.shape[0])).any()):
            raise ValueError(
                f"rois[:, 0] must be batch indices in [0, {input.shape[0]}), got values "
                f"{sorted(set(batch.tolist()))[:8]}"
            )
    function = _RoIAlignAvg if pool_mode == "avg" else RoIAlignMax
    return function.apply(input, rois.detach(), size, spatial_scale, sampling_ratio, bool(aligned))
