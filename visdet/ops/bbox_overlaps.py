"""Overlap (IoU, IoF, GIoU) between two sets of axis-aligned boxes.

Shapes: ``bboxes1`` is ``Tensor[..., M, 4]`` and ``bboxes2`` is ``Tensor[..., N, 4]`` in
absolute ``(x1, y1, x2, y2)``; the leading batch dimensions ``...`` must be equal.

The arithmetic follows mmdet 3.3's ``mmdet.structures.bbox.bbox_overlaps`` operation by
operation (areas first, then intersection, ``union = max(area1 + area2 - overlap, eps)``,
and ``giou = iou - (enclose - union) / enclose``), so results agree bit for bit in
float32 on the same device.

Degenerate boxes are not rejected, they go through the same arithmetic:

* a zero-area box (``x2 == x1`` or ``y2 == y1``) has zero intersection with everything,
  so its IoU/IoF is 0 (the union is clamped to ``eps``, never divided by zero);
* an inverted box (``x2 < x1``) has a *negative* area; its intersection with anything is
  0 (widths are clamped at 0), so its IoU is ``0 / max(union, eps)``, i.e. 0 or a
  tiny value; its IoF is 0; its GIoU may fall outside ``[-1, 1]`` because the enclosing
  box and the union are no longer consistent.

Non-finite coordinates (NaN, inf) raise ``ValueError``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from visdet.ops._checks import check_boxes, check_choice, check_same_device

OVERLAP_MODES = ("iou", "iof", "giou")


def _clamp_min_zero(x: Tensor) -> Tensor:
    # mmdet clamps CPU float16 in float32 because CPU half clamp was not implemented in
    # old torch; the round trip is exact, kept so half results match bit for bit.
    if not x.is_cuda and x.dtype == torch.float16:
        return x.float().clamp(min=0).half()
    return x.clamp(min=0)


def bbox_overlaps(
    bboxes1: Tensor,
    bboxes2: Tensor,
    mode: str = "iou",
    is_aligned: bool = False,
    eps: float = 1e-6,
) -> Tensor:
    """Compute IoU, IoF (intersection over ``bboxes1``'s area) or GIoU between boxes.

    Args:
        bboxes1: ``Tensor[..., M, 4]`` xyxy boxes (float).
        bboxes2: ``Tensor[..., N, 4]`` xyxy boxes, same dtype, device and leading dims.
        mode: ``"iou"``, ``"iof"`` or ``"giou"``.
        is_aligned: If True, compare ``bboxes1[..., i]`` with ``bboxes2[..., i]`` only
            (``M`` must equal ``N``); otherwise compare every pair.
        eps: Lower bound of the union (and of the enclosing area for GIoU).

    Returns:
        ``Tensor[..., M, N]`` (pairwise) or ``Tensor[..., M]`` (aligned), dtype of the
        inputs. Empty when ``M`` or ``N`` is 0.

    Raises:
        TypeError: If an input is not a floating-point tensor.
        ValueError: For a bad shape, a mode not in ``OVERLAP_MODES``, mismatched batch
            dims or devices, ``M != N`` when aligned, or non-finite coordinates.

    Example:
        >>> a = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
        >>> b = torch.tensor([[5.0, 0.0, 15.0, 10.0]])
        >>> bbox_overlaps(a, b)
        tensor([[0.3333]])
    """
    check_choice(mode, "mode", OVERLAP_MODES)
    check_boxes(bboxes1, "bboxes1", batched=True)
    check_boxes(bboxes2, "bboxes2", batched=True)
    check_same_device([(bboxes1, "bboxes1"), (bboxes2, "bboxes2")])
    if bboxes1.shape[:-2] != bboxes2.shape[:-2]:
        raise ValueError(
            "bboxes1 and bboxes2 must have the same leading (batch) dims, got "
            f"{tuple(bboxes1.shape)} and {tuple(bboxes2.shape)}"
        )
    batch_shape = bboxes1.shape[:-2]
    rows, cols = bboxes1.shape[-2], bboxes2.shape[-2]
    if is_aligned and rows != cols:
        raise ValueError(f"is_aligned=True needs as many bboxes1 as bboxes2, got {rows} and {cols}")
    if rows * cols == 0:
        shape = (*batch_shape, rows) if is_aligned else (*batch_shape, rows, cols)
        return bboxes1.new_zeros(shape, dtype=torch.promote_types(bboxes1.dtype, bboxes2.dtype))

    area1 = (bboxes1[..., 2] - bboxes1[..., 0]) * (bboxes1[..., 3] - bboxes1[..., 1])
    area2 = (bboxes2[..., 2] - bboxes2[..., 0]) * (bboxes2[..., 3] - bboxes2[..., 1])
    if bboxes1.dtype != bboxes2.dtype:
        # Mixed dtypes: fp16/bf16 proposals against fp32 gt boxes under autocast, or float32
        # anchors (mmdet's grid_priors default) against float64 gt boxes. mmdet lets torch
        # promote inside its arithmetic, so each area is computed in its own box dtype and
        # everything after it in the promoted dtype; the same order here.
        common = torch.promote_types(bboxes1.dtype, bboxes2.dtype)
        bboxes1, bboxes2, area1, area2 = bboxes1.to(common), bboxes2.to(common), area1.to(common), area2.to(common)

    if is_aligned:
        first, second = bboxes1, bboxes2
        area_first, area_second = area1, area2
    else:
        first, second = bboxes1[..., :, None, :], bboxes2[..., None, :, :]
        area_first, area_second = area1[..., :, None], area2[..., None, :]

    lt = torch.max(first[..., :2], second[..., :2])
    rb = torch.min(first[..., 2:], second[..., 2:])
    wh = _clamp_min_zero(rb - lt)
    overlap = wh[..., 0] * wh[..., 1]

    if mode == "iof":
        union = area_first
    else:
        union = area_first + area_second - overlap

    eps_tensor = union.new_tensor([eps])
    union = torch.max(union, eps_tensor)
    ious = overlap / union
    if mode != "giou":
        return ious

    enclosed_lt = torch.min(first[..., :2], second[..., :2])
    enclosed_rb = torch.max(first[..., 2:], second[..., 2:])
    enclose_wh = _clamp_min_zero(enclosed_rb - enclosed_lt)
    enclose_area = torch.max(enclose_wh[..., 0] * enclose_wh[..., 1], eps_tensor)
    return ious - (enclose_area - union) / enclose_area
