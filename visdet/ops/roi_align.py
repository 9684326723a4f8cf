"""RoIAlign: bilinear pooling of a feature map over regions, as mmcv 2.1's CPU kernel does it.

Shapes: ``input`` is ``Tensor[N, C, H, W]``; ``rois`` is ``Tensor[K, 5]`` rows
``(batch_index, x1, y1, x2, y2)`` in input-image coordinates; the result is
``Tensor[K, C, PH, PW]`` for ``output_size = (PH, PW)``.

Rules reproduced from mmcv (coordinates and weights in the input's dtype, in mmcv's order):

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

Implementation: ``avg`` is separable (the samples of a bin form a product grid), so each
RoI is two small matmuls over the pixels it touches (:mod:`visdet.ops._roi_align_avg`);
the sums run in another order than mmcv's per-sample loop, so results agree to float
rounding (about 1e-7 relative), not bit for bit. ``max`` visits the samples slot by slot
in mmcv's order (:mod:`visdet.ops._roi_align_max`) and is bit-exact in the forward pass;
without gradients it runs RoI by RoI on small channels-last patches of the map, the same
values with temporaries bounded by a chunk (``roi_align_max_no_grad``).
Both backward passes compute mmcv's gradient w.r.t. the feature map (RoIs get none).
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
from visdet.ops._roi_align_avg import RoIAlignAvg
from visdet.ops._roi_align_max import MAX_POOL_INITIAL, RoIAlignMax, roi_align_max_no_grad
from visdet.ops._threads import loop_threads

__all__ = ["MAX_POOL_INITIAL", "roi_align"]


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
    if pool_mode == "max" and not (input.requires_grad and torch.is_grad_enabled()):
        # RoI by RoI, from patches of the map or the whole map channels-last (see _whole_map); same values
        with loop_threads():  # a loop of small gathers per RoI: see visdet.ops._threads
            return roi_align_max_no_grad(input, rois.detach(), size, spatial_scale, sampling_ratio, bool(aligned))
    if pool_mode == "avg":  # a channels-last map (a fused model's) is copied in chunks of a patch's channels
        return RoIAlignAvg.apply(input, rois.detach(), size, spatial_scale, sampling_ratio, bool(aligned))
    # the slot pass gathers along rows of an NCHW map; a channels-last input (a fused model's
    # features, see visdet.models.fuse) is copied once rather than gathered with strides
    input = input.contiguous()
    return RoIAlignMax.apply(input, rois.detach(), size, spatial_scale, sampling_ratio, bool(aligned))
