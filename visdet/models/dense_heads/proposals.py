"""Turn RPN outputs of one image into proposals (mmdet's ``RPNHead`` post-processing).

Shapes: per level l, ``cls_score [A * C, H_l, W_l]`` (C = 1 with sigmoid, 2 with
softmax), ``bbox_pred [A * 4, H_l, W_l]``, anchors ``[H_l * W_l * A, 4]``. Output:
``Instances`` with ``bboxes [P, 4]``, ``scores [P]`` and ``labels [P]`` (all 0).

Steps, as mmdet: per level keep the ``nms_pre`` best-scoring anchors (a descending
sort), decode them clipped to ``img_shape``, then
:func:`~visdet.models.dense_heads.dense_postprocess.dense_post_process` with the level as
the NMS group (rescale, ``min_bbox_size``, NMS, ``max_per_img``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from visdet.models.dense_heads.dense_postprocess import dense_post_process
from visdet.models.task_modules.nms_config import NMSConfig
from visdet.models.task_modules.protocols import BoxCoder
from visdet.structures import ImageMeta, Instances, Settings, as_image_meta


class ProposalConfig(Settings):
    """How RPN outputs become proposals (mmdet's ``test_cfg.rpn`` / ``train_cfg.rpn_proposal``).

    Attributes:
        nms_pre: Best anchors kept per level before NMS (``<= 0``: all).
        max_per_img: Proposals kept per image after NMS.
        nms: NMS settings, e.g. ``{"type": "nms", "iou_threshold": 0.7}``.
        min_bbox_size: Boxes must be wider and taller than this; ``< 0`` disables the filter.
    """

    nms_pre: int = -1
    max_per_img: int = 1000
    nms: NMSConfig = NMSConfig(iou_threshold=0.7)
    min_bbox_size: float = -1


def proposals_single(
    cls_scores: Sequence[Tensor],
    bbox_preds: Sequence[Tensor],
    mlvl_anchors: Sequence[Tensor],
    img_meta: ImageMeta | Mapping[str, Any],
    *,
    cfg: ProposalConfig,
    bbox_coder: BoxCoder,
    use_sigmoid_cls: bool = True,
    rescale: bool = False,
) -> Instances:
    """Proposals of one image.

    Args:
        cls_scores: Per level ``[A * C, H_l, W_l]``.
        bbox_preds: Per level ``[A * 4, H_l, W_l]``.
        mlvl_anchors: Per level ``[H_l * W_l * A, 4]``.
        img_meta: Needs ``img_shape``; ``scale_factor`` when ``rescale``.
        cfg: The proposal settings.
        bbox_coder: Decodes the deltas.
        use_sigmoid_cls: Scores are sigmoid(logit) (else softmax without the last class).
        rescale: Divide boxes by ``scale_factor``.

    Returns:
        ``Instances`` with ``bboxes``, ``scores``, ``labels``.
    """
    meta = as_image_meta(img_meta).require("img_shape")
    mlvl_preds, mlvl_anchors_kept, mlvl_scores, level_ids = [], [], [], []
    for level, (cls_score, bbox_pred, anchors) in enumerate(zip(cls_scores, bbox_preds, mlvl_anchors)):
        if cls_score.shape[-2:] != bbox_pred.shape[-2:]:
            raise ValueError(
                f"level {level}: cls_score {tuple(cls_score.shape)} and bbox_pred "
                f"{tuple(bbox_pred.shape)} differ in size"
            )
        bbox_pred = bbox_pred.permute(1, 2, 0).reshape(-1, 4)
        if use_sigmoid_cls:
            scores = cls_score.permute(1, 2, 0).reshape(-1).sigmoid()
        else:
            scores = cls_score.permute(1, 2, 0).reshape(-1, 2).softmax(-1)[:, 0]
        if 0 < cfg.nms_pre < scores.shape[0]:
            ranked, order = scores.sort(descending=True)
            keep = order[: cfg.nms_pre]
            scores = ranked[: cfg.nms_pre]
            bbox_pred, anchors = bbox_pred[keep, :], anchors[keep]
        mlvl_preds.append(bbox_pred)
        mlvl_anchors_kept.append(anchors)
        mlvl_scores.append(scores)
        level_ids.append(scores.new_full((scores.size(0),), level, dtype=torch.long))

    bboxes = bbox_coder.decode(torch.cat(mlvl_anchors_kept), torch.cat(mlvl_preds), max_shape=meta.img_shape)
    scores = torch.cat(mlvl_scores)
    levels = torch.cat(level_ids)
    return dense_post_process(
        bboxes,
        scores,
        levels,
        torch.zeros_like(levels),  # proposals are class-agnostic: label 0
        meta,
        nms=cfg.nms.options(),
        min_bbox_size=cfg.min_bbox_size,
        max_per_img=cfg.max_per_img,
        rescale=rescale,
    )
