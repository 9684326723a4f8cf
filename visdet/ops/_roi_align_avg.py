"""RoIAlign with ``pool_mode="avg"`` as two small matmuls per RoI.

A RoI's samples form a product grid (y-samples x x-samples per bin) and a sample is out
of range exactly when its y or its x is, so the average of bilinear samples separates:
``out[c] = Ay @ patch[c] @ Ax.T / count``. ``Ay[ph, j]`` sums the bilinear y-weights of
bin row ``ph``'s samples that fall on patch row ``j`` (``Ax`` likewise), and ``patch``
holds the map values the RoI touches. Per axis the patch is either the RoI's pixel
range (a view, when the samples are dense) or, when the samples are sparse (a fixed
``sampling_ratio`` on a large RoI), just the two neighbours of every sample, listed
sample by sample; so the cost follows the smaller of area and sample count. On a
channels-last map the patch is copied to NCHW a chunk of channels at a time, which bounds
the copies and gives the NCHW map's values bit for bit (:func:`_pool_channels_last`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from visdet.ops._roi_geometry import bilinear_axis, roi_geometry, sample_coords
from visdet.ops._threads import loop_threads


@dataclass(frozen=True)
class _Axis:
    """One axis of every RoI's patch; tensors have K rows."""

    origin: list[int]  # first pixel of the RoI's range on this axis
    extent: list[int]  # pixels in the range
    length: list[int]  # patch length: `extent`, or 2 * bins * grid in list mode
    is_list: list[bool]  # patch is the per-sample neighbour list, not the range
    matrix: Tensor  # [K, bins, max(length)] summed weights per patch position
    neighbours: Tensor  # [K, 2 * bins * max grid] list-mode positions, relative to origin


def _axis(start: Tensor, bin_size: Tensor, grid: Tensor, pooled: int, size: int) -> _Axis:
    num = start.shape[0]
    g_max = max(int(grid.max()), 1) if num else 1
    index = torch.arange(g_max, device=start.device)
    coords = sample_coords(start, bin_size, grid, pooled, index[None].expand(num, -1))
    valid, low, high, w_low, w_high = bilinear_axis(coords, size)  # each [K, P, G]
    used = valid & (index[None, None, :] < grid[:, None, None])
    w_low = torch.where(used, w_low, torch.zeros_like(w_low))
    w_high = torch.where(used, w_high, torch.zeros_like(w_high))
    origin = torch.where(used, low, torch.full_like(low, size)).amin(dim=(1, 2)) if num else grid
    origin = torch.where(origin == size, torch.zeros_like(origin), origin)  # no sample used
    last = torch.where(used, high, torch.full_like(high, -1)).amax(dim=(1, 2)) if num else grid
    extent = (last - origin + 1).clamp(min=1)
    list_length = 2 * pooled * grid
    is_list = (list_length < extent) & (grid > 0)
    length = torch.where(is_list, list_length, extent)
    low, high = low - origin[:, None, None], high - origin[:, None, None]
    # list mode: position j = (i * pooled + p) * 2 + corner holds sample (p, i)'s corner
    slot = (index[None, :] * pooled + torch.arange(pooled, device=start.device)[:, None]) * 2
    col_low = torch.where(is_list[:, None, None], slot[None], low)
    col_high = torch.where(is_list[:, None, None], slot[None] + 1, high)
    max_length = max(int(length.max()), 1) if num else 1
    matrix = w_low.new_zeros((num, pooled, max_length))
    matrix.scatter_add_(2, col_low.clamp(0, max_length - 1), w_low)
    matrix.scatter_add_(2, col_high.clamp(0, max_length - 1), w_high)
    corners = torch.stack([low, high], dim=-1).transpose(1, 2)  # [K, G, P, 2]
    neighbours = torch.minimum(corners.clamp(min=0), (extent - 1)[:, None, None, None])
    return _Axis(
        origin=origin.tolist(),
        extent=extent.tolist(),
        length=length.tolist(),
        is_list=is_list.tolist(),
        matrix=matrix,
        neighbours=neighbours.reshape(num, 2 * pooled * g_max),
    )


def _patch_index(axis: _Axis, k: int) -> Tensor | None:
    return axis.neighbours[k, : axis.length[k]] if axis.is_list[k] else None


class RoIAlignAvg(torch.autograd.Function):
    """Average-pooled RoIAlign; backward applies the transposed maps like mmcv's kernel."""

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
        channels, height, width = input.shape[1:]
        geometry = roi_geometry(rois, output_size, spatial_scale, sampling_ratio, aligned)
        axis_y = _axis(geometry.start_h, geometry.bin_h, geometry.grid_h, output_size[0], height)
        axis_x = _axis(geometry.start_w, geometry.bin_w, geometry.grid_w, output_size[1], width)
        output = input.new_empty((rois.shape[0], channels, *output_size))
        batch = geometry.batch.tolist()
        with loop_threads():
            _pool_rois(input, batch, axis_y, axis_x, geometry.count, output)
        ctx.axes = (axis_y, axis_x)
        ctx.batch = batch
        ctx.save_for_backward(geometry.count)
        ctx.input_shape = input.shape
        return output

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output: Tensor):  # type: ignore[override]
        (count,) = ctx.saved_tensors
        axis_y, axis_x = ctx.axes
        grad_input = grad_output.new_zeros(ctx.input_shape)
        with loop_threads():
            _unpool_rois(grad_output, ctx.batch, axis_y, axis_x, count, grad_input)
        return grad_input, None, None, None, None, None


# Elements of a channel chunk's patch copy on a channels-last map, unless a quarter of the
# output allows more.
_CHUNK_ELEMENTS = 1 << 16


def _listed(patch: Tensor, rows: Tensor | None, cols: Tensor | None) -> Tensor:
    """``patch`` (``[C, H, W]``) at the listed rows and columns of a sparse axis (None: the whole range)."""
    if rows is not None:
        patch = patch.index_select(1, rows)
    if cols is not None:
        patch = patch.index_select(2, cols)
    return patch


def _pool_rois(input: Tensor, batch: list[int], axis_y: _Axis, axis_x: _Axis, count: Tensor, output: Tensor) -> None:
    """Fill ``output[k]`` (``[C, PH, PW]``) with RoI ``k``'s average-pooled features.

    On an NCHW map the patch is a view and both matmuls take all channels at once. A
    channels-last map (a fused model's features) is copied to the NCHW layout the
    matmuls take: on CPU with one thread (the loop's default, see
    :mod:`visdet.ops._threads`) in chunks of channels (:func:`_pool_channels_last`);
    otherwise each RoI's whole patch, as the chunks' products equal the whole patch's bit
    for bit only there (on more threads gemm splits a batch by its size; other devices'
    gemm is not checked).
    """
    channels_last = input.shape[1] > 1 and input.stride(1) == 1
    if channels_last and input.device.type == "cpu" and torch.get_num_threads() == 1:
        _pool_channels_last(input, batch, axis_y, axis_x, count, output)
        return
    for k, image in enumerate(batch):
        y0, x0 = axis_y.origin[k], axis_x.origin[k]
        patch = input[image, :, y0 : y0 + axis_y.extent[k], x0 : x0 + axis_x.extent[k]]
        if channels_last:
            patch = patch.contiguous()
        patch = _listed(patch, _patch_index(axis_y, k), _patch_index(axis_x, k))
        matrix_y = axis_y.matrix[k, :, : axis_y.length[k]]
        matrix_x = axis_x.matrix[k, :, : axis_x.length[k]]
        pooled = torch.matmul(torch.matmul(matrix_y, patch), matrix_x.t())
        torch.div(pooled, count[k], out=output[k])


def _pool_channels_last(
    input: Tensor, batch: list[int], axis_y: _Axis, axis_x: _Axis, count: Tensor, output: Tensor
) -> None:
    """:func:`_pool_rois` on a channels-last CPU map, one thread: the same values bit for bit, in chunks of channels.

    Each chunk's patch (at most :data:`_CHUNK_ELEMENTS` elements, or a quarter of the
    output) is copied to NCHW, never a whole large patch or the map. The first matmul is
    batched over channels, each channel's gemm the same whatever the chunk, but MKL's gemm
    rounds differently by where its output lies (measured, torch 2.13: the address modulo
    16 bytes; where its inputs lie does not matter), so each chunk's product is written
    into its channels' rows of one ``[C, PH, length_x]`` product of the RoI, a fresh
    allocation like the NCHW path's. The second matmul takes that whole product, the
    NCHW path's call exactly: splitting it by rows changes some float64 results (14x14
    bins). So every value is the NCHW path's, bit for bit; the temporaries are one chunk
    and the RoI's ``[C, PH, length_x]`` product.
    """
    channels, pooled_h = input.shape[1], output.shape[2]
    budget = max(_CHUNK_ELEMENTS, output.numel() // 4)
    for k, image in enumerate(batch):
        y0, x0 = axis_y.origin[k], axis_x.origin[k]
        region = input[image, :, y0 : y0 + axis_y.extent[k], x0 : x0 + axis_x.extent[k]]
        rows, cols = _patch_index(axis_y, k), _patch_index(axis_x, k)
        length_y, length_x = axis_y.length[k], axis_x.length[k]
        matrix_y = axis_y.matrix[k, :, :length_y]
        matrix_x = axis_x.matrix[k, :, :length_x]
        # per channel, the largest copy: the listed rows by the range's columns
        step = max(1, budget // (length_y * (axis_x.extent[k] if rows is not None else length_x)))
        product = input.new_empty((channels, pooled_h, length_x))
        for first in range(0, channels, step):
            patch = region[first : first + step]  # drops the last chunk's copy before the next is made
            patch = _listed(patch, rows, cols).contiguous()
            torch.bmm(matrix_y.expand(patch.shape[0], *matrix_y.shape), patch, out=product[first : first + step])
        torch.div(torch.matmul(product, matrix_x.t()), count[k], out=output[k])


def _unpool_rois(
    grad_output: Tensor, batch: list[int], axis_y: _Axis, axis_x: _Axis, count: Tensor, grad_input: Tensor
) -> None:
    """Add each RoI's output gradient back onto ``grad_input`` through the transposed maps."""
    for k, image in enumerate(batch):
        y0, x0 = axis_y.origin[k], axis_x.origin[k]
        target = grad_input[image, :, y0 : y0 + axis_y.extent[k], x0 : x0 + axis_x.extent[k]]
        matrix_y = axis_y.matrix[k, :, : axis_y.length[k]]
        matrix_x = axis_x.matrix[k, :, : axis_x.length[k]]
        grad_patch = torch.matmul(torch.matmul(matrix_y.t(), grad_output[k] / count[k]), matrix_x)
        rows, cols = _patch_index(axis_y, k), _patch_index(axis_x, k)
        if cols is not None:  # fold listed columns (with repeats) back onto the range
            folded = grad_patch.new_zeros((*grad_patch.shape[:2], axis_x.extent[k]))
            grad_patch = folded.index_add_(2, cols, grad_patch)
        if rows is not None:
            target.index_add_(1, rows, grad_patch)
        else:
            target.add_(grad_patch)
