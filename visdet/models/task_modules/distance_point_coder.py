"""``DistancePointBBoxCoder``: boxes as distances from a point to their four sides.

Encoding (``bbox2distance``): a box ``(x1, y1, x2, y2)`` seen from a point ``(px, py)``
is ``(px - x1, py - y1, x2 - px, y2 - py)`` = (left, top, right, bottom), optionally
clamped to ``[0, max_dis - eps]``. Decoding (``distance2bbox``) inverts it and optionally
clips the boxes to the image.

Shape shorthand: N points, B images. Points are ``[..., N, 2]`` (``[x, y]``), boxes and
distances ``[..., N, 4]``. The arithmetic and the clipping follow mmdet 3.3's
``bbox2distance``/``distance2bbox`` (an in-place clamp for ``[N, 4]`` boxes, ``torch.where``
against per-image bounds for batched ones).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

MaxShape = Sequence[int] | Sequence[Sequence[int]] | torch.Tensor

#: mmdet's default margin that keeps clamped distances strictly below ``max_dis``.
DEFAULT_EPS = 0.1


def bbox2distance(
    points: torch.Tensor, bbox: torch.Tensor, max_dis: float | None = None, eps: float = DEFAULT_EPS
) -> torch.Tensor:
    """Distances ``[..., N, 4]`` (left, top, right, bottom) from ``points`` to the sides of ``bbox``.

    Args:
        points: ``Tensor[..., N, 2]``.
        bbox: ``Tensor[..., N, 4]`` xyxy boxes.
        max_dis: Clamp the distances to ``[0, max_dis - eps]``; ``None``: no clamp.
        eps: The margin below ``max_dis``.
    """
    left = points[..., 0] - bbox[..., 0]
    top = points[..., 1] - bbox[..., 1]
    right = bbox[..., 2] - points[..., 0]
    bottom = bbox[..., 3] - points[..., 1]
    if max_dis is not None:
        left = left.clamp(min=0, max=max_dis - eps)
        top = top.clamp(min=0, max=max_dis - eps)
        right = right.clamp(min=0, max=max_dis - eps)
        bottom = bottom.clamp(min=0, max=max_dis - eps)
    return torch.stack([left, top, right, bottom], -1)


def distance2bbox(points: torch.Tensor, distance: torch.Tensor, max_shape: MaxShape | None = None) -> torch.Tensor:
    """Boxes ``[..., N, 4]`` from ``points [..., N, 2]`` and side distances ``[..., N, 4]``.

    Args:
        points: ``Tensor[N, 2]`` or ``Tensor[B, N, 2]``.
        distance: ``Tensor[N, 4]`` or ``Tensor[B, N, 4]`` (left, top, right, bottom).
        max_shape: ``(H, W[, C])`` to clip to; for ``[B, N, 4]`` also one such row per image.

    Returns:
        xyxy boxes, the shape of ``distance``.
    """
    x1 = points[..., 0] - distance[..., 0]
    y1 = points[..., 1] - distance[..., 1]
    x2 = points[..., 0] + distance[..., 2]
    y2 = points[..., 1] + distance[..., 3]
    bboxes = torch.stack([x1, y1, x2, y2], -1)
    if max_shape is None:
        return bboxes
    if bboxes.dim() == 2:
        bboxes[:, 0::2].clamp_(min=0, max=max_shape[1])
        bboxes[:, 1::2].clamp_(min=0, max=max_shape[0])
        return bboxes
    shape = max_shape if isinstance(max_shape, torch.Tensor) else x1.new_tensor(max_shape)
    shape = shape[..., :2].type_as(x1)
    if shape.dim() == 2 and shape.size(0) != bboxes.size(0):
        raise ValueError(f"max_shape has {shape.size(0)} rows but the boxes are {tuple(bboxes.shape)}")
    min_xy = x1.new_tensor(0)
    max_xy = torch.cat([shape, shape], dim=-1).flip(-1).unsqueeze(-2)
    bboxes = torch.where(bboxes < min_xy, min_xy, bboxes)
    return torch.where(bboxes > max_xy, max_xy, bboxes)


class DistancePointBBoxCoder:
    """Encodes boxes as point-to-side distances and decodes them back.

    Args:
        clip_border: Clip decoded boxes to the image (when ``max_shape`` is given).
    """

    def __init__(self, clip_border: bool = True) -> None:
        self.clip_border = clip_border

    def encode(
        self, points: torch.Tensor, gt_bboxes: torch.Tensor, max_dis: float | None = None, eps: float = DEFAULT_EPS
    ) -> torch.Tensor:
        """Distances ``[N, 4]`` from ``points [N, 2]`` to ``gt_bboxes [N, 4]`` (see :func:`bbox2distance`)."""
        if points.size(0) != gt_bboxes.size(0) or points.size(-1) != 2 or gt_bboxes.size(-1) != 4:
            raise ValueError(f"expected points [N, 2] and gt_bboxes [N, 4], got {tuple(points.shape)} "
                             f"and {tuple(gt_bboxes.shape)}")  # fmt: skip
        return bbox2distance(points, gt_bboxes, max_dis, eps)

    def decode(
        self, points: torch.Tensor, pred_bboxes: torch.Tensor, max_shape: MaxShape | None = None
    ) -> torch.Tensor:
        """Boxes from ``points [(B,) N, 2]`` and distances ``[(B,) N, 4]`` (see :func:`distance2bbox`).

        Args:
            points: The points.
            pred_bboxes: Distances (left, top, right, bottom).
            max_shape: ``(H, W[, C])`` to clip to (ignored when ``clip_border`` is False).
        """
        if points.size(0) != pred_bboxes.size(0) or points.size(-1) != 2 or pred_bboxes.size(-1) != 4:
            raise ValueError(f"expected points [(B,) N, 2] and distances [(B,) N, 4], got "
                             f"{tuple(points.shape)} and {tuple(pred_bboxes.shape)}")  # fmt: skip
        return distance2bbox(points, pred_bboxes, None if not self.clip_border else max_shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(clip_border={self.clip_border})"
