"""Float kernels of mmcv's NMS, shared by the greedy, sparse and soft variants.

Each reproduces mmcv's CPU kernel operation by operation (``max``/``min`` of the
corners, ``+ offset``, clamp at 0, ``inter / (area_i + area_j - inter)``) so that every
IoU is bit-identical to mmcv's in the same dtype.
"""

from __future__ import annotations

import torch
from torch import Tensor


def box_areas(boxes: Tensor, offset: int) -> Tensor:
    """``(x2 - x1 + offset) * (y2 - y1 + offset)`` as ``Tensor[N]``."""
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    if offset:
        widths = widths + offset
        heights = heights + offset
    return widths * heights


def iou_matrix(rows: Tensor, rows_area: Tensor, cols: Tensor, cols_area: Tensor, offset: int) -> Tensor:
    """IoU ``Tensor[R, C]`` between ranked ``rows`` and ``cols`` with mmcv's float ops."""
    xx1 = torch.maximum(rows[:, None, 0], cols[None, :, 0])
    yy1 = torch.maximum(rows[:, None, 1], cols[None, :, 1])
    xx2 = torch.minimum(rows[:, None, 2], cols[None, :, 2])
    yy2 = torch.minimum(rows[:, None, 3], cols[None, :, 3])
    w = xx2 - xx1
    h = yy2 - yy1
    if offset:
        w = w + offset
        h = h + offset
    inter = w.clamp_(min=0) * h.clamp_(min=0)
    return inter / (rows_area[:, None] + cols_area[None, :] - inter)


def resolve_block(over: Tensor, alive: Tensor) -> Tensor:
    """Greedy keep mask of one block of ranked boxes.

    ``over[i, j]`` (only ``i < j``) means box i, if kept, suppresses box j; ``alive`` marks
    the boxes not suppressed by earlier blocks. Iterates
    ``keep[j] = alive[j] and not any(keep[i] and over[i, j])`` to its fixed point.

    The ``any`` is a vector-matrix product of 0/1 floats (exact: it counts at most
    ``over.shape[0]`` ones), one small op per step instead of an ``&`` and an ``any``
    over the whole block.
    """
    over = over & alive[:, None]
    weights = over.to(torch.float32)
    keep = alive & ~over.any(0)
    for _ in range(over.shape[0]):
        new_keep = alive & ~(keep.to(torch.float32) @ weights).bool()
        if torch.equal(new_keep, keep):
            break
        keep = new_keep
    return keep
