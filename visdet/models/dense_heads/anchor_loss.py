"""The loss of an anchor-based dense head (mmdet's ``AnchorHead.loss_by_feat``), as a function.

Shapes: B images, L levels, A anchors per cell, C classification channels per anchor
(K classes with a sigmoid loss, K + 1 with softmax), ``A_l = H_l * W_l * A``. Per level
the scores ``[B, A * C, H_l, W_l]`` become ``[B * A_l, C]`` rows (image-major, then
cell, then anchor: the order of the targets) and the deltas ``[B * A_l, 4]``; both
losses are normalised by the batch's ``avg_factor`` (see
:mod:`~visdet.models.dense_heads.anchor_targets`). RPN and RetinaNet-style heads call it
with their own losses and settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from visdet.models.dense_heads.anchor_targets import anchor_targets
from visdet.models.task_modules.protocols import Assigner, BoxCoder, PriorGenerator, Sampler
from visdet.structures import ImageMeta, Instances, image_metas


def anchor_head_loss(
    cls_scores: Sequence[Tensor],
    bbox_preds: Sequence[Tensor],
    batch_gt_instances: Sequence[Instances],
    batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]],
    batch_gt_instances_ignore: Sequence[Instances | None] | None = None,
    *,
    prior_generator: PriorGenerator,
    num_classes: int,
    cls_out_channels: int,
    assigner: Assigner | None,
    sampler: Sampler | None,
    bbox_coder: BoxCoder,
    loss_cls: nn.Module,
    loss_bbox: nn.Module,
    allowed_border: int = -1,
    pos_weight: float = -1.0,
    reg_decoded_bbox: bool = False,
    head: str = "anchor head",
) -> tuple[list[Tensor], list[Tensor]]:
    """Per-level classification and regression losses of an anchor head.

    Args:
        cls_scores: Per level ``[B, A * C, H_l, W_l]``.
        bbox_preds: Per level ``[B, A * 4, H_l, W_l]``.
        batch_gt_instances: Per image ``bboxes [G_i, 4]`` and ``labels [G_i]`` in ``[0, K)``.
        batch_img_metas: Per image metas with ``img_shape`` and ``pad_shape``.
        batch_gt_instances_ignore: Per image ignored boxes, or ``None``.
        prior_generator: Makes the anchors and their valid flags.
        num_classes: K (the background label).
        cls_out_channels: C.
        assigner: Anchor-to-gt assigner (``None``: the head has no training settings).
        sampler: Anchor sampler.
        bbox_coder: Encodes the regression targets (decodes the deltas when
            ``reg_decoded_bbox``).
        loss_cls: ``loss_cls(scores [n, C], labels [n], weights [n], avg_factor=...)``.
        loss_bbox: ``loss_bbox(deltas [n, 4], targets [n, 4], weights [n, 4], avg_factor=...)``.
        allowed_border: How far anchors may stick out of the image to be trained; ``< 0``: no limit.
        pos_weight: Classification weight of positives; ``<= 0``: 1.
        reg_decoded_bbox: Compare decoded boxes with the gt boxes.
        head: The head's name, for messages.

    Returns:
        ``(losses_cls, losses_bbox)``, one 0-d tensor per level each.
    """
    if assigner is None or sampler is None:
        raise ValueError(f"{head}: the loss needs an assigner and a sampler (the training settings, train_cfg)")
    if len(cls_scores) != len(bbox_preds):
        raise ValueError(f"{head}: {len(cls_scores)} score levels but {len(bbox_preds)} delta levels")
    if len(cls_scores) != prior_generator.num_levels:
        raise ValueError(f"{head}: got {len(cls_scores)} levels, the anchor generator has {prior_generator.num_levels}")
    metas = image_metas(batch_img_metas, require=("img_shape", "pad_shape"))
    featmap_sizes = [tuple(score.shape[-2:]) for score in cls_scores]
    device = cls_scores[0].device
    anchors = prior_generator.grid_priors(featmap_sizes, device=device)
    valid_flags = [prior_generator.valid_flags(featmap_sizes, meta.pad_shape, device) for meta in metas]
    targets = anchor_targets(
        [anchors] * len(metas),
        valid_flags,
        batch_gt_instances,
        metas,
        batch_gt_instances_ignore,
        num_classes=num_classes,
        assigner=assigner,
        sampler=sampler,
        bbox_coder=bbox_coder,
        allowed_border=allowed_border,
        pos_weight=pos_weight,
        reg_decoded_bbox=reg_decoded_bbox,
    )
    losses_cls, losses_bbox = [], []
    num_imgs = len(metas)
    for level, (cls_score, bbox_pred) in enumerate(zip(cls_scores, bbox_preds)):
        cls_score = cls_score.permute(0, 2, 3, 1).reshape(-1, cls_out_channels)
        losses_cls.append(
            loss_cls(
                cls_score,
                targets.labels[level].reshape(-1),
                targets.label_weights[level].reshape(-1),
                avg_factor=targets.avg_factor,
            )
        )
        bbox_pred = bbox_pred.permute(0, 2, 3, 1).reshape(-1, 4)
        if reg_decoded_bbox:
            level_anchors = anchors[level].unsqueeze(0).expand(num_imgs, -1, -1).reshape(-1, 4)
            bbox_pred = bbox_coder.decode(level_anchors, bbox_pred)
        target_dim = targets.bbox_targets[level].size(-1)
        losses_bbox.append(
            loss_bbox(
                bbox_pred,
                targets.bbox_targets[level].reshape(-1, target_dim),
                targets.bbox_weights[level].reshape(-1, target_dim),
                avg_factor=targets.avg_factor,
            )
        )
    return losses_cls, losses_bbox
