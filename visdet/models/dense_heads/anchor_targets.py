"""Training targets of anchor-based dense heads (RPN, RetinaNet-style), mmdet's way.

Shapes: B images, L levels, ``A_l = H_l * W_l * anchors-per-cell`` anchors on level l,
``A = sum A_l``; K classes with background label K. Per image the anchors of all levels
are concatenated, anchors outside the image (beyond ``allowed_border``) are dropped,
the rest are assigned and sampled, and the targets are scattered back to all A anchors
(dropped anchors get label K and weight 0). Finally targets are split per level into
``[B, A_l, ...]`` tensors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from visdet.models.task_modules.protocols import Assigner, BoxCoder, Sampler
from visdet.structures import ImageMeta, Instances, as_image_meta


def anchor_inside_flags(
    flat_anchors: Tensor, valid_flags: Tensor, img_shape: Sequence[int], allowed_border: int = 0
) -> Tensor:
    """Anchors that are valid and lie inside the image (widened by ``allowed_border``).

    Args:
        flat_anchors: ``Tensor[A, 4]``.
        valid_flags: ``BoolTensor[A]`` from the anchor generator.
        img_shape: ``(h, w, ...)`` of the (unpadded) image.
        allowed_border: Pixels an anchor may stick out; ``< 0`` keeps every valid anchor.

    Returns:
        ``BoolTensor[A]``.
    """
    img_h, img_w = img_shape[:2]
    if allowed_border < 0:
        return valid_flags
    return (
        valid_flags
        & (flat_anchors[:, 0] >= -allowed_border)
        & (flat_anchors[:, 1] >= -allowed_border)
        & (flat_anchors[:, 2] < img_w + allowed_border)
        & (flat_anchors[:, 3] < img_h + allowed_border)
    )


def unmap(data: Tensor, count: int, inds: Tensor, fill: float = 0) -> Tensor:
    """Scatter ``data`` (rows for the True entries of ``inds``) into ``count`` rows filled with ``fill``."""
    out = data.new_full((count,) + tuple(data.shape[1:]), fill)
    out[inds.bool()] = data
    return out


def images_to_levels(per_image: Sequence[Tensor], num_level_anchors: Sequence[int]) -> list[Tensor]:
    """``B`` tensors ``[A, ...]`` -> ``L`` tensors ``[B, A_l, ...]``."""
    stacked = torch.stack(list(per_image), 0)
    out, start = [], 0
    for n in num_level_anchors:
        out.append(stacked[:, start : start + n])
        start += n
    return out


@dataclass
class AnchorTargets:
    """Per-level targets of a batch and the loss normaliser.

    Attributes:
        labels: L tensors ``LongTensor[B, A_l]`` (K = background).
        label_weights: L tensors ``[B, A_l]``.
        bbox_targets: L tensors ``[B, A_l, 4]``.
        bbox_weights: L tensors ``[B, A_l, 4]``.
        avg_factor: Sum over images of the sampling result's ``avg_factor`` (positives
            plus negatives with a random sampler, each at least 1).
        sampling_results: One ``SamplingResult`` per image.
    """

    labels: list[Tensor]
    label_weights: list[Tensor]
    bbox_targets: list[Tensor]
    bbox_weights: list[Tensor]
    avg_factor: int
    sampling_results: list[Any]


def anchor_targets_single(
    flat_anchors: Tensor,
    valid_flags: Tensor,
    gt_instances: Instances,
    img_meta: ImageMeta | Mapping[str, Any],
    gt_instances_ignore: Instances | None,
    *,
    num_classes: int,
    assigner: Assigner,
    sampler: Sampler,
    bbox_coder: BoxCoder,
    allowed_border: int = -1,
    pos_weight: float = -1.0,
    reg_decoded_bbox: bool = False,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Any]:
    """Targets over all A anchors of one image.

    Returns:
        ``labels [A]``, ``label_weights [A]``, ``bbox_targets [A, 4]``,
        ``bbox_weights [A, 4]`` and the ``SamplingResult``.

    Raises:
        ValueError: When no anchor lies inside the image.
    """
    img_shape = as_image_meta(img_meta).require("img_shape").img_shape
    inside = anchor_inside_flags(flat_anchors, valid_flags, img_shape, allowed_border)
    if not inside.any():
        raise ValueError(
            f"no anchor lies inside the image (img_shape={tuple(img_shape)}); check the image "
            "and anchor sizes, or set allowed_border=-1"
        )
    anchors = flat_anchors[inside]
    pred_instances = Instances(priors=anchors)
    assign_result = assigner.assign(pred_instances, gt_instances, gt_instances_ignore)
    sampling_result = sampler.sample(assign_result, pred_instances, gt_instances)

    num_valid = anchors.shape[0]
    target_dim = gt_instances.bboxes.size(-1) if reg_decoded_bbox else 4
    bbox_targets = anchors.new_zeros(num_valid, target_dim)
    bbox_weights = anchors.new_zeros(num_valid, target_dim)
    labels = anchors.new_full((num_valid,), num_classes, dtype=torch.long)
    label_weights = anchors.new_zeros(num_valid, dtype=torch.float)
    pos_inds, neg_inds = sampling_result.pos_inds, sampling_result.neg_inds
    if len(pos_inds) > 0:
        if reg_decoded_bbox:
            pos_targets = sampling_result.pos_gt_bboxes
        else:
            pos_targets = bbox_coder.encode(sampling_result.pos_priors, sampling_result.pos_gt_bboxes)
        bbox_targets[pos_inds, :] = pos_targets
        bbox_weights[pos_inds, :] = 1.0
        labels[pos_inds] = sampling_result.pos_gt_labels
        label_weights[pos_inds] = 1.0 if pos_weight <= 0 else pos_weight
    if len(neg_inds) > 0:
        label_weights[neg_inds] = 1.0

    total = flat_anchors.size(0)
    return (
        unmap(labels, total, inside, fill=num_classes),
        unmap(label_weights, total, inside),
        unmap(bbox_targets, total, inside),
        unmap(bbox_weights, total, inside),
        sampling_result,
    )


def anchor_targets(
    anchor_list: Sequence[Sequence[Tensor]],
    valid_flag_list: Sequence[Sequence[Tensor]],
    batch_gt_instances: Sequence[Instances],
    batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]],
    batch_gt_instances_ignore: Sequence[Instances | None] | None = None,
    **kwargs: Any,
) -> AnchorTargets:
    """Targets of a batch, images processed in order (the sampler's RNG order).

    Args:
        anchor_list: Per image, per level anchors ``[A_l, 4]``.
        valid_flag_list: Per image, per level ``BoolTensor[A_l]``.
        batch_gt_instances: Per image ground truth.
        batch_img_metas: Per image metas (``img_shape``).
        batch_gt_instances_ignore: Per image ignored boxes, or ``None``.
        **kwargs: Keyword arguments of ``anchor_targets_single``.

    Returns:
        The batch's ``AnchorTargets``.
    """
    num_imgs = len(batch_img_metas)
    if not (len(anchor_list) == len(valid_flag_list) == len(batch_gt_instances) == num_imgs):
        raise ValueError(
            f"per-image inputs differ in length: {len(anchor_list)} anchor sets, {len(valid_flag_list)} "
            f"flag sets, {len(batch_gt_instances)} gt sets, {num_imgs} metas"
        )
    ignores = batch_gt_instances_ignore or [None] * num_imgs
    num_level_anchors = [anchors.size(0) for anchors in anchor_list[0]]
    results = [
        anchor_targets_single(
            torch.cat(list(anchor_list[i])),
            torch.cat(list(valid_flag_list[i])),
            batch_gt_instances[i],
            batch_img_metas[i],
            ignores[i],
            **kwargs,
        )
        for i in range(num_imgs)
    ]
    labels, label_weights, targets, weights, sampling_results = (list(parts) for parts in zip(*results))
    return AnchorTargets(
        labels=images_to_levels(labels, num_level_anchors),
        label_weights=images_to_levels(label_weights, num_level_anchors),
        bbox_targets=images_to_levels(targets, num_level_anchors),
        bbox_weights=images_to_levels(weights, num_level_anchors),
        avg_factor=sum(res.avg_factor for res in sampling_results),
        sampling_results=sampling_results,
    )
