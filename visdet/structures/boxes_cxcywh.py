"""Box format conversions between centre-size ``(cx, cy, w, h)`` and corner ``(x1, y1, x2, y2)`` boxes.

The DETR family predicts normalised ``cxcywh`` boxes; mmdet converts them with
``bbox_cxcywh_to_xyxy`` / ``bbox_xyxy_to_cxcywh``. The arithmetic here is the same, term by term
(``cx - 0.5 * w``, ``(x1 + x2) / 2``), so results agree to the last bit.

Shapes: ``Tensor[..., 4]`` in, the same shape out.
"""

from __future__ import annotations

import torch
from torch import Tensor


def bbox_cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    """``(cx, cy, w, h)`` -> ``(cx - w/2, cy - h/2, cx + w/2, cy + h/2)`` (``Tensor[..., 4]``)."""
    cx, cy, w, h = boxes.split((1, 1, 1, 1), dim=-1)
    return torch.cat([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


def bbox_xyxy_to_cxcywh(boxes: Tensor) -> Tensor:
    """``(x1, y1, x2, y2)`` -> ``((x1 + x2)/2, (y1 + y2)/2, x2 - x1, y2 - y1)`` (``Tensor[..., 4]``)."""
    x1, y1, x2, y2 = boxes.split((1, 1, 1, 1), dim=-1)
    return torch.cat([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=-1)
