"""Loss of the RoI box head: classification over K + 1 classes and box regression.

Shapes: R sampled RoIs; ``cls_score [R, K + 1]``; ``bbox_pred [R, 4 * K]`` (class-wise)
or ``[R, 4]`` (class-agnostic); targets as ``bbox_targets.bbox_targets`` returns them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from visdet.models.losses import accuracy
from visdet.models.task_modules.protocols import BoxCoder


def bbox_head_loss(
    cls_score: Tensor | None,
    bbox_pred: Tensor | None,
    rois: Tensor,
    labels: Tensor,
    label_weights: Tensor,
    bbox_targets: Tensor,
    bbox_weights: Tensor,
    *,
    num_classes: int,
    loss_cls: Callable[..., Tensor],
    loss_bbox: Callable[..., Tensor],
    bbox_coder: BoxCoder,
    reg_class_agnostic: bool = False,
    reg_decoded_bbox: bool = False,
) -> dict[str, Tensor]:
    """``loss_cls``, ``acc`` and ``loss_bbox`` as mmdet's ``BBoxHead.loss`` computes them.

    * ``loss_cls`` is averaged over the RoIs with a positive label weight (at least 1).
    * ``loss_bbox`` is computed on positive RoIs only, with the prediction of each RoI's
      own class, and averaged over ALL sampled RoIs R (mmdet's ``avg_factor``). Without
      positives it is ``0 * sum(...)`` so it stays in the graph.
    * ``acc`` is the top-1 accuracy in percent over all sampled RoIs.

    Args:
        cls_score: ``[R, K + 1]`` logits (``None`` when the head has no classifier).
        bbox_pred: ``[R, 4K]`` or ``[R, 4]`` (``None`` without regression).
        rois: ``[R, 5]`` sampled RoIs (used with ``reg_decoded_bbox``).
        labels: ``LongTensor[R]``, K for background.
        label_weights: ``[R]``.
        bbox_targets: ``[R, 4]``.
        bbox_weights: ``[R, 4]``.
        num_classes: K.
        loss_cls: Classification loss module, ``(score, label, weight, avg_factor=)``.
        loss_bbox: Regression loss module, ``(pred, target, weight, avg_factor=)``.
        bbox_coder: Decodes deltas when ``reg_decoded_bbox``.
        reg_class_agnostic: One box per RoI instead of one per class.
        reg_decoded_bbox: The regression loss sees absolute boxes.

    Returns:
        A dict with ``loss_cls`` and ``acc`` (if ``cls_score``) and ``loss_bbox``
        (if ``bbox_pred``).
    """
    losses: dict[str, Tensor] = {}
    if cls_score is not None:
        avg_factor = max(torch.sum(label_weights > 0).float().item(), 1.0)
        if cls_score.numel() > 0:
            losses["loss_cls"] = loss_cls(cls_score, labels, label_weights, avg_factor=avg_factor)
            losses["acc"] = accuracy(cls_score, labels)
    if bbox_pred is not None:
        pos = (labels >= 0) & (labels < num_classes)
        if pos.any():
            if reg_decoded_bbox:
                bbox_pred = bbox_coder.decode(rois[:, 1:], bbox_pred)
            if reg_class_agnostic:
                pos_bbox_pred = bbox_pred.view(bbox_pred.size(0), -1)[pos]
            else:
                pos_bbox_pred = bbox_pred.view(bbox_pred.size(0), num_classes, -1)[pos, labels[pos]]
            losses["loss_bbox"] = loss_bbox(
                pos_bbox_pred, bbox_targets[pos], bbox_weights[pos], avg_factor=bbox_targets.size(0)
            )
        else:
            losses["loss_bbox"] = bbox_pred[pos].sum()
    return losses
