"""RTMDet's training targets: each prior's class, box and soft IoU score (mmdet's ``RTMDetHead.get_targets``).

Shapes: B images, L levels of ``A_l`` priors (``[A_l, 4]``: x, y, stride_w, stride_h),
``A = sum A_l``; K classes, background label K. Per image: priors outside the padded
image (``valid_flags``) or beyond ``allowed_border`` are dropped; the rest, with the
detached class logits ``[A, K]`` and decoded boxes ``[A, 4]``, go to the assigner
(``DynamicSoftLabelAssigner``) and the sampler (``PseudoSampler``); positives get their
gt's label, box and ``assign_metrics`` = the assigner's IoU (float32, as mmdet), label
weight 1 (``pos_weight`` if positive); negatives weight 1; dropped priors weight 0 and
label K. Targets are then split per level into ``[B, A_l, ...]``.

Dtypes follow mmdet: box targets take the priors' dtype (float32 by mmdet's
``grid_priors`` default, so gt boxes are rounded to float32 in a float64 model, where mmdet
itself fails on the index-put of float64 boxes), label weights and assign metrics are
float32.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from visdet.models.dense_heads.anchor_targets import anchor_inside_flags, images_to_levels, unmap
from visdet.models.task_modules.protocols import Assigner, Sampler
from visdet.structures import ImageMeta, Instances, as_image_meta


@dataclass
class RTMDetTargets:
    """Per-level targets of a batch.

    Attributes:
        labels: L tensors ``LongTensor[B, A_l]`` (K = background).
        label_weights: L tensors ``[B, A_l]`` (float32).
        bbox_targets: L tensors ``[B, A_l, 4]`` gt boxes (xyxy) of positives, zeros elsewhere.
        assign_metrics: L tensors ``[B, A_l]`` (float32) soft scores of positives, zeros elsewhere.
        sampling_results: One ``SamplingResult`` per image.
    """

    labels: list[Tensor]
    label_weights: list[Tensor]
    bbox_targets: list[Tensor]
    assign_metrics: list[Tensor]
    sampling_results: list[Any]


def rtmdet_targets_single(
    cls_scores: Tensor,
    bbox_preds: Tensor,
    flat_priors: Tensor,
    valid_flags: Tensor,
    gt_instances: Instances,
    img_meta: ImageMeta | Mapping[str, Any],
    gt_instances_ignore: Instances | None,
    *,
    num_classes: int,
    assigner: Assigner,
    sampler: Sampler,
    allowed_border: int = -1,
    pos_weight: float = -1.0,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Any]:
    """Targets over all A priors of one image: labels, label weights, box targets, assign metrics, sampling."""
    img_shape = as_image_meta(img_meta).require("img_shape").img_shape
    inside = anchor_inside_flags(flat_priors, valid_flags, img_shape, allowed_border)
    if not inside.any():
        raise ValueError(f"no prior lies inside the image (img_shape={tuple(img_shape)}, pad_shape from the meta)")
    priors = flat_priors[inside, :]
    pred_instances = Instances(scores=cls_scores[inside, :], bboxes=bbox_preds[inside, :], priors=priors)
    assign_result = assigner.assign(pred_instances, gt_instances, gt_instances_ignore)
    sampling_result = sampler.sample(assign_result, pred_instances, gt_instances)

    num_valid = priors.shape[0]
    bbox_targets = torch.zeros_like(priors)
    labels = priors.new_full((num_valid,), num_classes, dtype=torch.long)
    label_weights = priors.new_zeros(num_valid, dtype=torch.float)
    assign_metrics = priors.new_zeros(num_valid, dtype=torch.float)
    pos_inds, neg_inds = sampling_result.pos_inds, sampling_result.neg_inds
    if len(pos_inds) > 0:
        bbox_targets[pos_inds, :] = sampling_result.pos_gt_bboxes.to(bbox_targets.dtype)
        labels[pos_inds] = sampling_result.pos_gt_labels
        label_weights[pos_inds] = 1.0 if pos_weight <= 0 else pos_weight
        # mmdet copies the overlaps gt by gt; every positive gets its own, so one copy is the same
        assign_metrics[pos_inds] = assign_result.max_overlaps[pos_inds].to(assign_metrics.dtype)
    if len(neg_inds) > 0:
        label_weights[neg_inds] = 1.0

    total = flat_priors.size(0)
    return (
        unmap(labels, total, inside, fill=num_classes),
        unmap(label_weights, total, inside),
        unmap(bbox_targets, total, inside),
        unmap(assign_metrics, total, inside),
        sampling_result,
    )


def rtmdet_targets(
    cls_scores: Tensor,
    bbox_preds: Tensor,
    priors: Sequence[Tensor],
    valid_flag_list: Sequence[Sequence[Tensor]],
    batch_gt_instances: Sequence[Instances],
    batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]],
    batch_gt_instances_ignore: Sequence[Instances | None] | None = None,
    **kwargs: Any,
) -> RTMDetTargets:
    """Targets of a batch (see the module docstring).

    Args:
        cls_scores: ``[B, A, K]`` class logits (detached here).
        bbox_preds: ``[B, A, 4]`` decoded boxes (detached here).
        priors: Per level ``[A_l, 4]`` (shared by the images).
        valid_flag_list: Per image, per level ``BoolTensor[A_l]``.
        batch_gt_instances: Per image ``bboxes [G_i, 4]`` and ``labels [G_i]``.
        batch_img_metas: Per image metas (``img_shape``).
        batch_gt_instances_ignore: Per image ignored boxes (passed to the assigner), or ``None``.
        **kwargs: Keyword arguments of :func:`rtmdet_targets_single`.
    """
    num_imgs = len(batch_img_metas)
    if not (cls_scores.size(0) == bbox_preds.size(0) == len(valid_flag_list) == len(batch_gt_instances) == num_imgs):
        raise ValueError(
            f"per-image inputs differ in length: {cls_scores.size(0)} score maps, {bbox_preds.size(0)} box maps, "
            f"{len(valid_flag_list)} flag sets, {len(batch_gt_instances)} gt sets, {num_imgs} metas"
        )
    ignores = batch_gt_instances_ignore or [None] * num_imgs
    num_level_priors = [level.size(0) for level in priors]
    flat_priors = torch.cat(list(priors))
    cls_scores, bbox_preds = cls_scores.detach(), bbox_preds.detach()
    results = [
        rtmdet_targets_single(cls_scores[i], bbox_preds[i], flat_priors, torch.cat(list(valid_flag_list[i])),
                              batch_gt_instances[i], batch_img_metas[i], ignores[i], **kwargs)
        for i in range(num_imgs)
    ]  # fmt: skip
    labels, label_weights, bbox_targets, assign_metrics, sampling_results = (list(parts) for parts in zip(*results))
    return RTMDetTargets(
        labels=images_to_levels(labels, num_level_priors),
        label_weights=images_to_levels(label_weights, num_level_priors),
        bbox_targets=images_to_levels(bbox_targets, num_level_priors),
        assign_metrics=images_to_levels(assign_metrics, num_level_priors),
        sampling_results=sampling_results,
    )
