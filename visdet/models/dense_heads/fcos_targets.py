"""FCOS's training targets: each point's class and its distances to the sides of its box.

Shapes: L levels of ``P_l`` points (``[P_l, 2]``, x y), B images, ``G_i`` gt boxes
(xyxy). Per image, a point is a positive of gt ``g`` when it lies inside ``g`` (or,
with ``center_sampling``, inside the box of half-size ``stride * radius`` around ``g``'s
centre, clipped to ``g``) and its largest side distance falls in its level's
``regress_range`` (both ends inclusive); among several such boxes the smallest area wins
(ties: the lowest gt index). Other points get the background label K and the distances to
gt 0 (never used).

The arithmetic is mmdet 3.3's ``FCOSHead.get_targets`` / ``_get_targets_single``: areas
of unmatched pairs are set to ``INF`` (1e8), so a gt box of area >= 1e8 is never
matched, as in mmdet.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from visdet.structures import Instances

#: mmdet's "no box" area and the open upper regress range of the last level.
INF = 1e8


def _single_image_targets(
    gt: Instances,
    points: Tensor,
    regress_ranges: Tensor,
    num_points_per_lvl: Sequence[int],
    *,
    num_classes: int,
    strides: Sequence[int],
    center_sampling: bool,
    center_sample_radius: float,
) -> tuple[Tensor, Tensor]:
    """Labels ``[P]`` and side distances ``[P, 4]`` of all points of one image."""
    num_points = points.size(0)
    gt_bboxes, gt_labels = gt.bboxes, gt.labels
    num_gts = gt_bboxes.size(0)
    if num_gts == 0:
        return gt_labels.new_full((num_points,), num_classes), gt_bboxes.new_zeros((num_points, 4))
    areas = (gt_bboxes[:, 2] - gt_bboxes[:, 0]) * (gt_bboxes[:, 3] - gt_bboxes[:, 1])
    areas = areas[None].repeat(num_points, 1)
    ranges = regress_ranges[:, None, :].expand(num_points, num_gts, 2)
    boxes = gt_bboxes[None].expand(num_points, num_gts, 4)
    xs = points[:, 0][:, None].expand(num_points, num_gts)
    ys = points[:, 1][:, None].expand(num_points, num_gts)
    bbox_targets = torch.stack(
        (xs - boxes[..., 0], ys - boxes[..., 1], boxes[..., 2] - xs, boxes[..., 3] - ys), -1
    )
    if center_sampling:
        center_xs = (boxes[..., 0] + boxes[..., 2]) / 2
        center_ys = (boxes[..., 1] + boxes[..., 3]) / 2
        radius = center_xs.new_zeros(center_xs.shape)
        begin = 0
        for level, count in enumerate(num_points_per_lvl):
            radius[begin:begin + count] = strides[level] * center_sample_radius
            begin += count
        x_mins, y_mins = center_xs - radius, center_ys - radius
        x_maxs, y_maxs = center_xs + radius, center_ys + radius
        center_gts = torch.zeros_like(boxes)
        center_gts[..., 0] = torch.where(x_mins > boxes[..., 0], x_mins, boxes[..., 0])
        center_gts[..., 1] = torch.where(y_mins > boxes[..., 1], y_mins, boxes[..., 1])
        center_gts[..., 2] = torch.where(x_maxs > boxes[..., 2], boxes[..., 2], x_maxs)
        center_gts[..., 3] = torch.where(y_maxs > boxes[..., 3], boxes[..., 3], y_maxs)
        center_dists = torch.stack(
            (xs - center_gts[..., 0], ys - center_gts[..., 1], center_gts[..., 2] - xs, center_gts[..., 3] - ys), -1
        )
        inside = center_dists.min(-1)[0] > 0
    else:
        inside = bbox_targets.min(-1)[0] > 0
    max_dist = bbox_targets.max(-1)[0]
    in_range = (max_dist >= ranges[..., 0]) & (max_dist <= ranges[..., 1])
    areas[inside == 0] = INF
    areas[in_range == 0] = INF
    min_area, min_area_inds = areas.min(dim=1)
    labels = gt_labels[min_area_inds]
    labels[min_area == INF] = num_classes
    return labels, bbox_targets[range(num_points), min_area_inds]


def fcos_targets(
    points: Sequence[Tensor],
    batch_gt_instances: Sequence[Instances],
    *,
    num_classes: int,
    strides: Sequence[int],
    regress_ranges: Sequence[Sequence[float]],
    center_sampling: bool = False,
    center_sample_radius: float = 1.5,
    norm_on_bbox: bool = False,
) -> tuple[list[Tensor], list[Tensor]]:
    """Per-level labels and side distances of a batch (see the module docstring).

    Args:
        points: Per level ``[P_l, 2]``.
        batch_gt_instances: Per image ``bboxes [G_i, 4]`` and ``labels [G_i]``.
        num_classes: K, the background label.
        strides: Stride of each level (center sampling radius, ``norm_on_bbox``).
        regress_ranges: ``(low, high)`` of each level.
        center_sampling: Positives only near the gt centres.
        center_sample_radius: The radius in strides.
        norm_on_bbox: Divide the distances by the level's stride.

    Returns:
        ``(labels, bbox_targets)``: per level ``[B * P_l]`` and ``[B * P_l, 4]``, image-major.
    """
    if len(points) != len(regress_ranges):
        raise ValueError(f"{len(points)} point levels but {len(regress_ranges)} regress_ranges")
    num_levels = len(points)
    ranges = torch.cat([points[i].new_tensor(regress_ranges[i])[None].expand_as(points[i])
                        for i in range(num_levels)], dim=0)  # fmt: skip
    all_points = torch.cat(list(points), dim=0)
    num_points = [level.size(0) for level in points]
    per_image = [
        _single_image_targets(gt, all_points, ranges, num_points, num_classes=num_classes, strides=strides,
                              center_sampling=center_sampling, center_sample_radius=center_sample_radius)
        for gt in batch_gt_instances
    ]  # fmt: skip
    labels_split = [labels.split(num_points, 0) for labels, _ in per_image]
    targets_split = [targets.split(num_points, 0) for _, targets in per_image]
    level_labels, level_targets = [], []
    for level in range(num_levels):
        level_labels.append(torch.cat([labels[level] for labels in labels_split]))
        targets = torch.cat([image_targets[level] for image_targets in targets_split])
        if norm_on_bbox:
            targets = targets / strides[level]
        level_targets.append(targets)
    return level_labels, level_targets


def centerness_target(pos_bbox_targets: Tensor) -> Tensor:
    """``sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b))`` of positive side distances ``[n, 4]`` -> ``[n]``."""
    left_right = pos_bbox_targets[:, [0, 2]]
    top_bottom = pos_bbox_targets[:, [1, 3]]
    if len(left_right) == 0:
        return torch.sqrt(left_right[..., 0])
    ratios = (left_right.min(dim=-1)[0] / left_right.max(dim=-1)[0]) * (
        top_bottom.min(dim=-1)[0] / top_bottom.max(dim=-1)[0]
    )
    return torch.sqrt(ratios)
