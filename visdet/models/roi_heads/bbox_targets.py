"""Training targets of the RoI box head, from sampled RoIs.

Shapes: per image P positive and Q negative sampled RoIs, ordered positives first (the
order ``SamplingResult.priors`` uses); K classes, background label = K. Regression
targets are box-coder deltas ``[P + Q, 4]`` (or absolute boxes with
``reg_decoded_bbox``); only the first P rows are non-zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from visdet.models.task_modules.protocols import BoxCoder


def bbox_targets_single(
    pos_priors: Tensor,
    neg_priors: Tensor,
    pos_gt_bboxes: Tensor,
    pos_gt_labels: Tensor,
    *,
    num_classes: int,
    bbox_coder: BoxCoder,
    pos_weight: float = -1.0,
    reg_decoded_bbox: bool = False,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Targets of one image.

    Args:
        pos_priors: ``Tensor[P, 4]`` positive RoIs.
        neg_priors: ``Tensor[Q, 4]`` negative RoIs.
        pos_gt_bboxes: ``Tensor[P, 4]`` the ground truth each positive matched.
        pos_gt_labels: ``LongTensor[P]`` its class.
        num_classes: K (background label).
        bbox_coder: Encodes ``pos_priors`` onto ``pos_gt_bboxes``.
        pos_weight: Classification weight of positives; ``<= 0`` means 1.
        reg_decoded_bbox: Regress absolute boxes instead of deltas.

    Returns:
        ``labels [P+Q]`` (long), ``label_weights [P+Q]``, ``bbox_targets [P+Q, 4]``,
        ``bbox_weights [P+Q, 4]``.
    """
    num_pos, num_neg = pos_priors.size(0), neg_priors.size(0)
    num_samples = num_pos + num_neg
    labels = pos_priors.new_full((num_samples,), num_classes, dtype=torch.long)
    reg_dim = pos_gt_bboxes.size(-1) if reg_decoded_bbox else 4
    label_weights = pos_priors.new_zeros(num_samples)
    bbox_targets = pos_priors.new_zeros(num_samples, reg_dim)
    bbox_weights = pos_priors.new_zeros(num_samples, reg_dim)
    if num_pos > 0:
        labels[:num_pos] = pos_gt_labels
        label_weights[:num_pos] = 1.0 if pos_weight <= 0 else pos_weight
        if reg_decoded_bbox:
            bbox_targets[:num_pos, :] = pos_gt_bboxes
        else:
            bbox_targets[:num_pos, :] = bbox_coder.encode(pos_priors, pos_gt_bboxes)
        bbox_weights[:num_pos, :] = 1
    if num_neg > 0:
        label_weights[-num_neg:] = 1.0
    return labels, label_weights, bbox_targets, bbox_weights


def bbox_targets(
    sampling_results: Sequence[Any],
    *,
    num_classes: int,
    bbox_coder: BoxCoder,
    pos_weight: float = -1.0,
    reg_decoded_bbox: bool = False,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Targets of a batch, concatenated over images in order.

    Args:
        sampling_results: One ``SamplingResult`` per image (``pos_priors``,
            ``neg_priors``, ``pos_gt_bboxes``, ``pos_gt_labels``).
        num_classes: K.
        bbox_coder: The head's box coder.
        pos_weight: See ``bbox_targets_single``.
        reg_decoded_bbox: See ``bbox_targets_single``.

    Returns:
        ``labels [R]``, ``label_weights [R]``, ``bbox_targets [R, 4]``, ``bbox_weights [R, 4]``
        with R the total number of sampled RoIs.
    """
    per_image = [
        bbox_targets_single(
            res.pos_priors,
            res.neg_priors,
            res.pos_gt_bboxes,
            res.pos_gt_labels,
            num_classes=num_classes,
            bbox_coder=bbox_coder,
            pos_weight=pos_weight,
            reg_decoded_bbox=reg_decoded_bbox,
        )
        for res in sampling_results
    ]
    labels, label_weights, targets, weights = (torch.cat(parts, 0) for parts in zip(*per_image))
    return labels, label_weights, targets, weights
