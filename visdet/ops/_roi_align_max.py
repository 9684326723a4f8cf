"""RoIAlign with ``pool_mode="max"``: the largest bilinear sample of each bin.

Max pooling is not separable, so samples are visited slot by slot: slot ``s`` is the
``s``-th sample (grid order) of every bin, and RoIs are sorted by grid size so that the
RoIs having a slot ``s`` form a prefix. Each step gathers the four neighbours of every
active bin for all channels at once (:func:`_pixel_reader`: straight from the map for few
samples, else from a channels-last copy of it). Like mmcv,
the running maximum starts at :data:`MAX_POOL_INITIAL` and is replaced only by a strictly
larger sample, so the first maximal sample wins and gets the whole gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from visdet.ops._roi_geometry import bilinear_axis, roi_geometry, sample_coords

# mmcv's CPU kernel starts the running maximum of a bin here (its CUDA kernel uses
# -FLT_MAX); an empty grid outputs this value.
MAX_POOL_INITIAL = -10000.0


@dataclass
class _Slot:
    active: int  # the first `active` sorted RoIs have this slot
    positions: Tensor  # [active * PH * PW, 4] rows of the (N*H*W, C) channels-last map
    weights: Tensor  # [active * PH * PW, 4] bilinear weights, 0 for out-of-range samples


def _slots(rois: Tensor, height: int, width: int, output_size: tuple[int, int], *args) -> tuple[Tensor, list[_Slot]]:
    geometry = roi_geometry(rois, output_size, *args)
    pooled_h, pooled_w = output_size
    num_samples = geometry.grid_h * geometry.grid_w
    order = torch.sort(num_samples, descending=True, stable=True)[1]
    counts = num_samples[order].tolist()
    batch_base = geometry.batch[order] * (height * width)
    start_h, start_w = geometry.start_h[order], geometry.start_w[order]
    bin_h, bin_w = geometry.bin_h[order], geometry.bin_w[order]
    grid_h, grid_w = geometry.grid_h[order], geometry.grid_w[order]
    slots = []
    active = len(counts)
    for slot in range(counts[0] if counts else 0):
        while counts[active - 1] <= slot:
            active -= 1
        g_w = grid_w[:active]
        y = sample_coords(start_h[:active], bin_h[:active], grid_h[:active], pooled_h, slot // g_w)
        x = sample_coords(start_w[:active], bin_w[:active], g_w, pooled_w, slot % g_w)
        valid_y, y_low, y_high, hy, ly = bilinear_axis(y, height)
        valid_x, x_low, x_high, hx, lx = bilinear_axis(x, width)
        valid = (valid_y[:, :, None] & valid_x[:, None, :]).reshape(-1, 1)
        row_low = (batch_base[:active, None] + y_low * width)[:, :, None]
        row_high = (batch_base[:active, None] + y_high * width)[:, :, None]
        x_low, x_high = x_low[:, None, :], x_high[:, None, :]
        positions = torch.stack(
            [row_low + x_low, row_low + x_high, row_high + x_low, row_high + x_high], dim=-1
        ).reshape(-1, 4)
        hy, ly, hx, lx = hy[:, :, None], ly[:, :, None], hx[:, None, :], lx[:, None, :]
        weights = torch.stack([hy * hx, hy * lx, ly * hx, ly * lx], dim=-1).reshape(-1, 4)
        # like mmcv, an out-of-range sample reads pixel (0, 0) of its map with weight 0
        base = batch_base[:active].repeat_interleave(pooled_h * pooled_w)[:, None]
        positions = torch.where(valid, positions, base)
        weights = torch.where(valid, weights, torch.zeros_like(weights))
        slots.append(_Slot(active=active, positions=positions, weights=weights))
    return order, slots


def _interpolate(take: Callable[[Tensor], Tensor], slot: _Slot) -> Tensor:
    """``w1*v1 + w2*v2 + w3*v3 + w4*v4`` per sample, in mmcv's order; ``Tensor[S, C]``.

    ``take(rows)`` gives the ``Tensor[len(rows), C]`` pixels of rows of the flattened map.
    """
    positions, weights = slot.positions, slot.weights
    value = weights[:, 0:1] * take(positions[:, 0])
    for corner in range(1, 4):
        value = value + weights[:, corner : corner + 1] * take(positions[:, corner])
    return value


def _pixel_reader(input: Tensor, slots: list[_Slot]) -> Callable[[Tensor], Tensor]:
    """``take(rows)``: pixels (all channels) of rows ``n * H * W + y * W + x`` of ``input``.

    With few samples against the map's size they are gathered straight from the NCHW
    map (no copy of it); otherwise from one channels-last copy, whose contiguous rows
    gather faster. Either way the values are the map's, unchanged.
    """
    num, channels, height, width = input.shape
    pixels = num * height * width
    samples = 4 * sum(slot.positions.shape[0] for slot in slots)
    if samples < pixels:
        flat = input.view(num, channels, height * width)
        return lambda rows: flat[rows // (height * width), :, rows % (height * width)]
    features = input.permute(0, 2, 3, 1).reshape(pixels, channels)
    return lambda rows: features.index_select(0, rows)


class RoIAlignMax(torch.autograd.Function):
    """Max-pooled RoIAlign; backward sends each bin's gradient to its arg-max sample."""

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
        num_rois, bins = rois.shape[0], output_size[0] * output_size[1]
        order, slots = _slots(rois, height, width, output_size, spatial_scale, sampling_ratio, aligned)
        take = _pixel_reader(input, slots)
        pooled = input.new_full((num_rois, bins, channels), MAX_POOL_INITIAL)
        arg_slot = torch.full(pooled.shape, -1, dtype=torch.int32, device=input.device)
        for index, slot in enumerate(slots):
            values = _interpolate(take, slot).view(slot.active, bins, channels)
            current = pooled[: slot.active]
            better = values > current
            pooled[: slot.active] = torch.where(better, values, current)
            arg_slot[: slot.active].masked_fill_(better, index)
        output = torch.empty_like(pooled)
        output[order] = pooled
        ctx.save_for_backward(order, arg_slot)
        ctx.slots = slots
        ctx.input_shape = input.shape
        return output.view(num_rois, *output_size, channels).permute(0, 3, 1, 2).contiguous()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output: Tensor):  # type: ignore[override]
        order, arg_slot = ctx.saved_tensors
        num, channels, height, width = ctx.input_shape
        bins = grad_output.shape[2] * grad_output.shape[3]
        grad = grad_output.permute(0, 2, 3, 1).reshape(grad_output.shape[0], bins, channels)[order]
        grad_features = grad.new_zeros((num * height * width, channels))
        for index, slot in enumerate(ctx.slots):
            chosen = (arg_slot[: slot.active] == index).reshape(-1, channels)
            grad_slot = grad[: slot.active].reshape(-1, channels)
            grad_slot = torch.where(chosen, grad_slot, torch.zeros_like(grad_slot))
            for corner in range(4):
                contribution = grad_slot * slot.weights[:, corner : corner + 1]
                grad_features.index_add_(0, slot.positions[:, corner], contribution)
        grad_input = grad_features.view(num, height, width, channels).permute(0, 3, 1, 2)
        return grad_input.contiguous(), None, None, None, None, None


# Elements of one chunk's sample values (a few tensors of this size live at once), unless
# one row of bins of a RoI needs more, or a quarter of the output allows more.
_CHUNK_ELEMENTS = 1 << 16


def _whole_map(input: Tensor, output_elements: int, patch_pixels: int) -> Tensor | None:
    """Rows ``n * H * W + y * W + x`` (all channels) of the whole map, or None: each chunk copies its patch.

    A channels-last map gives them as a view. Of an NCHW map they are a copy, made when
    the RoIs' patches hold more pixels than the map (many RoIs: the patches of 1000 of the
    benchmark's kind hold 17 times the map's pixels) and the copy is no larger than the output, so
    that the temporaries stay within the output's size.
    """
    num, channels, height, width = input.shape
    rows = input.permute(0, 2, 3, 1)
    if rows.is_contiguous() or (input.numel() <= output_elements and patch_pixels >= num * height * width):
        return rows.reshape(num * height * width, channels)
    return None


def roi_align_max_no_grad(
    input: Tensor, rois: Tensor, output_size: tuple[int, int], spatial_scale: float, sampling_ratio: int, aligned: bool
) -> Tensor:
    """The forward pass of :class:`RoIAlignMax` when no gradient is needed, RoI by RoI.

    A RoI's samples form a product grid (``PH * gh`` y-samples by ``PW * gw`` x-samples).
    Rows of bins are taken in chunks of at most :data:`_CHUNK_ELEMENTS` samples x
    channels (or one row of bins, or a quarter of the output); for each, the map's pixels
    under the chunk's samples are copied channels-last (a small patch: its pixel rows are
    contiguous, so gathering them is fast), the four bilinear corners gathered from it
    and combined as ``w1*v1 + w2*v2 + w3*v3 + w4*v4`` (mmcv's order, each ``w`` the
    product of its axis weights), out-of-range samples set to mmcv's value (pixel (0, 0)
    with weight 0). Each bin's maximum starts from :data:`MAX_POOL_INITIAL` and takes a
    strictly larger sample (``NaN`` never). The result is the slot pass's exactly, and
    the temporaries stay bounded by the chunk, whatever the map's size or memory format.
    Where :func:`_whole_map` gives the whole map channels-last (a channels-last map as it
    is, or, for many RoIs, one copy no larger than the output), the corners are gathered
    from it instead and no patch is copied: the same pixels, the same values.

    The corners' patch positions and weights of a RoI are computed once for all its
    chunks, the patch bounds and in-range flags of all RoIs in a few calls up front, and
    the bins' maxima written into the output, checked for ``NaN`` and floored once at the
    end (a ``NaN`` sample anywhere redoes the call the ``NaN``-proof way), which keeps the
    Python and call overhead per chunk small.
    """
    num, channels, height, width = input.shape
    pooled_h, pooled_w = output_size
    num_rois = rois.shape[0]
    if num_rois == 0:
        return input.new_full((0, channels, pooled_h, pooled_w), MAX_POOL_INITIAL)
    geometry = roi_geometry(rois, output_size, spatial_scale, sampling_ratio, aligned)
    axes, valids, extents = [], [], []
    for start, bin_size, grid, bins, size in (
        (geometry.start_h, geometry.bin_h, geometry.grid_h, pooled_h, height),
        (geometry.start_w, geometry.bin_w, geometry.grid_w, pooled_w, width),
    ):
        index = torch.arange(max(int(grid.max()), 1), device=input.device)
        coords = sample_coords(start, bin_size, grid, bins, index[None].expand(num_rois, -1))
        valid, low, high, w_low, w_high = bilinear_axis(coords, size)  # each [K, P, G]
        valids.append(valid)
        in_grid = (index[None] < grid[:, None])[:, None, :]  # [K, 1, G]: samples the RoI has
        first_pixel = torch.where(in_grid, low, size).amin(dim=2)  # [K, P] first pixel per bin
        last_pixel = torch.where(in_grid, high, -1).amax(dim=2)  # [K, P] last pixel per bin
        extents.append((last_pixel.amax(dim=1) - first_pixel.amin(dim=1) + 1).clamp_(min=0))  # [K] its patch
        axes.append(
            (
                torch.stack((low, low, high, high), dim=1),  # [K, 4, P, G], corners in mmcv's order
                torch.stack((w_low, w_low, w_high, w_high), dim=1),
                first_pixel.tolist(),
                last_pixel.tolist(),
                (valid | ~in_grid).all(dim=2).tolist(),  # [K][P] every sample in range
            )
        )
    (pos_y, weight_y, first_y, last_y, valid_y), (pos_x, weight_x, first_x, last_x, valid_x) = axes
    # the x corner order (low, high, low, high) pairs with the y order (low, low, high, high)
    pos_x, weight_x = pos_x[:, [0, 2, 1, 3]], weight_x[:, [0, 2, 1, 3]]
    pooled = input.new_full((num_rois, channels, pooled_h, pooled_w), MAX_POOL_INITIAL)  # the output
    budget = max(_CHUNK_ELEMENTS, pooled.numel() // 4)
    whole = _whole_map(input, pooled.numel(), int((extents[0] * extents[1]).sum()))

    def pool(nan_proof: bool) -> None:
        for roi, (batch, grid_h, grid_w) in enumerate(
            zip(geometry.batch.tolist(), geometry.grid_h.tolist(), geometry.grid_w.tolist())
        ):
            if grid_h == 0 or grid_w == 0:
                continue  # no samples: the initial value
            image = input[batch]
            if whole is None:
                x_first, x_last = min(first_x[roi]), max(last_x[roi])
                patch_w = x_last - x_first + 1
            else:  # rows of the whole map: x from 0, y from image `batch`'s first row
                x_first, patch_w = 0, width
            samples_w = pooled_w * grid_w
            # [4, PH, gh, PW * gw]: each corner's position in a patch whose top row is y = 0
            positions = (pos_y[roi, :, :, :grid_h, None] * patch_w) + (
                pos_x[roi, :, None, :, :grid_w].reshape(4, 1, 1, samples_w) - x_first
            )
            weights = weight_y[roi, :, :, :grid_h, None] * weight_x[roi, :, None, :, :grid_w].reshape(4, 1, 1, -1)
            x_inside = all(valid_x[roi])
            rows_per_chunk = max(1, budget // (channels * grid_h * samples_w))
            for first in range(0, pooled_h, rows_per_chunk):
                last = min(first + rows_per_chunk, pooled_h)
                if whole is None:
                    y_first, y_last = min(first_y[roi][first:last]), max(last_y[roi][first:last])
                    patch = image[:, y_first : y_last + 1, x_first : x_last + 1].permute(1, 2, 0).reshape(-1, channels)
                else:
                    y_first, patch = -batch * height, whole
                rows = (positions[:, first:last].reshape(4, -1) - y_first * patch_w).unbind(0)
                scales = weights[:, first:last].reshape(4, -1, 1).unbind(0)  # w_y * w_x per sample
                value = patch.index_select(0, rows[0]).mul_(scales[0])
                for corner in range(1, 4):
                    value.add_(patch.index_select(0, rows[corner]).mul_(scales[corner]))
                if not (x_inside and all(valid_y[roi][first:last])):
                    inside_y = valids[0][roi, first:last, :grid_h].reshape(-1, 1)
                    inside = inside_y & valids[1][roi, :, :grid_w].reshape(1, -1)
                    # like mmcv: an out-of-range sample is ((0*v + 0*v) + 0*v) + 0*v of pixel (0, 0)
                    corner = image[:, 0, 0] * 0
                    value[~inside.reshape(-1)] = ((corner + corner) + corner) + corner
                # the largest sample of each bin (a NaN sample, never larger in mmcv, is
                # spread by amax and redoes the call with the NaN-proof maximum)
                value = value.view(last - first, grid_h, pooled_w, grid_w, channels)
                if nan_proof:
                    value = torch.where(value > MAX_POOL_INITIAL, value, value.new_tensor(MAX_POOL_INITIAL))
                pooled[roi, :, first:last].permute(1, 2, 0).copy_(value.amax(dim=3).amax(dim=1))

    pool(nan_proof=False)
    if bool(pooled.isnan().any()):
        pool(nan_proof=True)
    # then no less than the initial value
    return pooled.clamp_(min=MAX_POOL_INITIAL)
