"""Box helpers: scale and translate boxes, stack per-image boxes into RoIs, xyxy <-> cxcywh (pure functions).

Conventions: boxes are ``Tensor[N, 4k]`` absolute ``(x1, y1, x2, y2)`` in pixels (k boxes
per row, e.g. one per class); RoIs are ``Tensor[R, 5]`` ``(batch_index, x1, y1, x2, y2)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def scale_boxes(boxes: Tensor, scale_factor: Sequence[float]) -> Tensor:
    """Multiply x by ``scale_factor[0]`` and y by ``scale_factor[1]``.

    The factor is turned into a tensor of ``boxes``' dtype before multiplying, as mmdet
    does, so ``scale_boxes(b, [1 / s for s in f])`` matches mmdet bit for bit.

    Args:
        boxes: ``Tensor[N, 4k]``.
        scale_factor: ``(w_scale, h_scale)``.

    Returns:
        ``Tensor[N, 4k]``, a new tensor.
    """
    factor = boxes.new_tensor(list(scale_factor)).repeat((1, boxes.size(-1) // 2))
    return boxes * factor


def translate_boxes(boxes: Tensor, distances: Sequence[float]) -> Tensor:
    """Add ``distances[0]`` to x and ``distances[1]`` to y (mmdet's ``translate_``).

    Args:
        boxes: ``Tensor[N, 4k]``.
        distances: ``(dx, dy)`` in pixels, turned into ``boxes``' dtype first.

    Returns:
        ``Tensor[N, 4k]``, a new tensor.
    """
    shift = boxes.new_tensor(list(distances)).repeat((1, boxes.size(-1) // 2))
    return boxes + shift


def boxes_to_rois(boxes: Sequence[Tensor]) -> Tensor:
    """Stack per-image boxes ``[N_i, 4]`` into RoIs ``[sum N_i, 5]`` with the image index first.

    mmdet calls this ``bbox2roi``; the image index has the boxes' dtype.
    """
    rois = [torch.cat([b.new_full((b.size(0), 1), i), b], dim=-1) for i, b in enumerate(boxes)]
    return torch.cat(rois, 0)


def bbox_cxcywh_to_xyxy(bbox: Tensor) -> Tensor:
    """``(cx, cy, w, h)`` -> ``(x1, y1, x2, y2)``, on the last dim of ``Tensor[..., 4]``.

    Computed as ``cx -+ 0.5 * w`` (mmdet's arithmetic, so results agree bit for bit).
    """
    cx, cy, w, h = bbox.split((1, 1, 1, 1), dim=-1)
    return torch.cat([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


def bbox_xyxy_to_cxcywh(bbox: Tensor) -> Tensor:
    """``(x1, y1, x2, y2)`` -> ``(cx, cy, w, h)``, on the last dim of ``Tensor[..., 4]``.

    The centre is ``(x1 + x2) / 2`` (mmdet's arithmetic).
    """
    x1, y1, x2, y2 = bbox.split((1, 1, 1, 1), dim=-1)
    return torch.cat([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=-1)
