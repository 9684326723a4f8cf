"""Move RoIs by a box head's regression: the step between two stages of Cascade R-CNN.

Shapes: R RoIs ``[R, 5]`` ``(batch_index, x1, y1, x2, y2)``; ``bbox_pred [R, 4K]``
(class-wise) or ``[R, 4]`` (class-agnostic); K classes, background label K.

Training (:func:`refine_sampled_boxes`, mmdet's ``BBoxHead.refine_bboxes``): each
sampled RoI is regressed with the deltas of its target class (the argmax class for
negatives), and the ground-truth boxes the sampler added as proposals are dropped, so
the next stage assigns and samples from the refined proposals. Testing
(:func:`regress_by_class` on every RoI, class = argmax of the stage's scores without
background): see ``CascadeRoIHead``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from visdet.models.task_modules.protocols import BoxCoder
from visdet.structures import ImageMeta

BOX_DIM = 4  # deltas per box of DeltaXYWHBBoxCoder (mmdet's ``encode_size``)


def regress_by_class(
    priors: Tensor,
    labels: Tensor,
    bbox_pred: Tensor,
    img_shape: Sequence[int],
    *,
    bbox_coder: BoxCoder,
    reg_class_agnostic: bool,
) -> Tensor:
    """Decode each prior with the deltas of its class, clipped to the image.

    Args:
        priors: ``Tensor[N, 4]`` boxes xyxy.
        labels: ``LongTensor[N]`` class of each prior (unused when class-agnostic).
        bbox_pred: ``Tensor[N, 4K]`` or, class-agnostic, ``Tensor[N, 4]``.
        img_shape: ``(h, w)`` the decoded boxes are clipped to.
        bbox_coder: The stage's box coder (its own target stds).
        reg_class_agnostic: ``bbox_pred`` has one box per prior.

    Returns:
        ``Tensor[N, 4]`` the regressed boxes.
    """
    if not reg_class_agnostic:
        first = labels * BOX_DIM
        columns = torch.stack([first + i for i in range(BOX_DIM)], 1)
        bbox_pred = torch.gather(bbox_pred, 1, columns)
    if bbox_pred.size(1) != BOX_DIM:
        raise ValueError(f"regress_by_class: expected {BOX_DIM} deltas per RoI, got {tuple(bbox_pred.shape)}")
    return bbox_coder.decode(priors, bbox_pred, max_shape=img_shape)


def refine_sampled_boxes(
    sampling_results: Sequence[Any],
    rois: Tensor,
    labels: Tensor,
    cls_score: Tensor,
    bbox_pred: Tensor,
    metas: Sequence[ImageMeta],
    *,
    num_classes: int,
    bbox_coder: BoxCoder,
    reg_class_agnostic: bool,
) -> list[Tensor] | None:
    """The next stage's proposals from one stage's sampled RoIs (no gradient).

    Args:
        sampling_results: One ``SamplingResult`` per image (``pos_is_gt``: which of the
            positives, which come first per image, are ground-truth boxes).
        rois: ``Tensor[R, 5]`` the sampled RoIs of the batch.
        labels: ``LongTensor[R]`` their target labels (K for background).
        cls_score: ``Tensor[R, K + 1]`` the stage's logits.
        bbox_pred: ``Tensor[R, 4K]`` / ``[R, 4]`` the stage's deltas.
        metas: Per image ``img_shape``.
        num_classes: K.
        bbox_coder: The stage's box coder.
        reg_class_agnostic: One box per RoI.

    Returns:
        Per image the refined boxes ``[N_i, 4]`` (ground-truth proposals removed), or
        ``None`` when no RoI was sampled at all (mmdet then stops the cascade).
    """
    if cls_score.numel() == 0:
        return None
    if cls_score.shape[-1] == num_classes + 1:
        cls_score = cls_score[:, :-1]
    elif cls_score.shape[-1] != num_classes:
        raise ValueError(f"cls_score has {cls_score.shape[-1]} columns; expected {num_classes} or {num_classes + 1}")
    with torch.no_grad():
        labels = torch.where(labels == num_classes, cls_score.argmax(1), labels)
        out = []
        for i, meta in enumerate(metas):
            inds = torch.nonzero(rois[:, 0] == i, as_tuple=False).squeeze(1)
            boxes = regress_by_class(
                rois[inds, 1:],
                labels[inds],
                bbox_pred[inds],
                meta.img_shape,  # type: ignore[arg-type]
                bbox_coder=bbox_coder,
                reg_class_agnostic=reg_class_agnostic,
            )
            pos_is_gt = sampling_results[i].pos_is_gt
            keep = pos_is_gt.new_ones(inds.numel())
            keep[: len(pos_is_gt)] = 1 - pos_is_gt
            out.append(boxes[keep.bool()])
    return out


def sampled_labels(sampling_results: Sequence[Any], num_classes: int) -> Tensor:
    """``LongTensor[R]`` target labels of the sampled RoIs: per image positives' classes, then K."""
    parts = []
    for res in sampling_results:
        neg = res.pos_gt_labels.new_full((len(res.neg_priors),), num_classes)
        parts.append(torch.cat([res.pos_gt_labels.long(), neg.long()]))
    return torch.cat(parts)
