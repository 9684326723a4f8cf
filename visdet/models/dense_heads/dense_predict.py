"""Detections of one image from a one-stage dense head (mmdet's ``BaseDenseHead._predict_by_feat_single``).

Shapes: per level l, ``cls_score [A * C, H_l, W_l]`` (C = K classes with sigmoid scores,
K + 1 with softmax), ``bbox_pred [A * 4, H_l, W_l]``, optional ``score_factor
[A, H_l, W_l]`` logits, priors ``[H_l * W_l * A, 4]``. Output: ``Instances`` with
``bboxes [D, 4]``, ``scores [D]``, ``labels [D]``.

Steps, as mmdet: per level, scores above ``score_thr`` (every class of every prior is a
candidate) are sorted and the best ``nms_pre`` kept (:func:`filter_scores_and_topk`);
the kept deltas are decoded, clipped to ``img_shape``; then
:func:`~visdet.models.dense_heads.dense_postprocess.dense_post_process` with the class as
the NMS group (rescale, score factors, ``min_bbox_size``, NMS, ``max_per_img``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from pydantic import Field
from torch import Tensor

from visdet.models.dense_heads.dense_postprocess import dense_post_process
from visdet.models.task_modules.nms_config import NMSConfig
from visdet.models.task_modules.protocols import BoxCoder
from visdet.structures import ImageMeta, Instances, Settings


class DenseTestConfig(Settings):
    """Test settings of a one-stage dense head (mmdet's ``test_cfg`` of RetinaNet, FCOS, ...).

    Attributes:
        nms_pre: Candidates kept per level before NMS, best first. mmdet's ``min(nms_pre,
            n)`` slice is kept: ``-1`` (the default) keeps all but the last candidate.
        score_thr: Candidates must score above this.
        min_bbox_size: Boxes must be wider and taller than this; ``< 0`` disables the filter.
        nms: NMS settings, e.g. ``{"type": "nms", "iou_threshold": 0.5}`` (per class).
        max_per_img: Detections kept per image after NMS.
    """

    nms_pre: int = -1
    score_thr: float = 0.0
    min_bbox_size: float = -1
    nms: NMSConfig
    max_per_img: int = Field(ge=0)


def filter_scores_and_topk(scores: Tensor, score_thr: float, topk: int) -> tuple[Tensor, Tensor, Tensor]:
    """Scores above ``score_thr``, the best ``topk`` of them (mmdet's ``filter_scores_and_topk``).

    Args:
        scores: ``Tensor[n, K]``.
        score_thr: Keep entries strictly above.
        topk: How many to keep after a descending sort; sliced as ``[:min(topk, m)]`` of
            the m entries above the threshold, so a negative ``topk`` drops entries from
            the end (mmdet's arithmetic).

    Returns:
        ``scores [k]`` (descending), ``labels [k]`` (column of each) and ``keep [k]`` (row of each).
    """
    valid = scores > score_thr
    kept_scores = scores[valid]
    valid_idxs = torch.nonzero(valid)
    num_topk = min(topk, valid_idxs.size(0))
    kept_scores, order = kept_scores.sort(descending=True)
    topk_idxs = valid_idxs[order[:num_topk]]
    keep, labels = topk_idxs.unbind(dim=1)
    return kept_scores[:num_topk], labels, keep


def dense_predict_single(
    cls_scores: Sequence[Tensor],
    bbox_preds: Sequence[Tensor],
    score_factors: Sequence[Tensor] | None,
    mlvl_priors: Sequence[Tensor],
    meta: ImageMeta,
    *,
    cfg: DenseTestConfig,
    bbox_coder: BoxCoder,
    cls_out_channels: int,
    use_sigmoid_cls: bool,
    rescale: bool,
) -> Instances:
    """Detections of one image (see the module docstring).

    Args:
        cls_scores: Per level ``[A * C, H_l, W_l]``.
        bbox_preds: Per level ``[A * 4, H_l, W_l]``.
        score_factors: Per level ``[A, H_l, W_l]`` logits (sigmoid applied here), or ``None``.
        mlvl_priors: Per level ``[H_l * W_l * A, 4]``.
        meta: Needs ``img_shape``; ``scale_factor`` when ``rescale``.
        cfg: The test settings.
        bbox_coder: Decodes the deltas against the priors.
        cls_out_channels: C.
        use_sigmoid_cls: Sigmoid scores (else softmax without the last, background, column).
        rescale: Divide boxes by ``scale_factor``.

    Returns:
        ``Instances`` with ``bboxes``, ``scores``, ``labels``.
    """
    meta = meta.require("img_shape")
    mlvl_preds, mlvl_priors_kept, mlvl_scores, mlvl_labels, mlvl_factors = [], [], [], [], []
    for level, (cls_score, bbox_pred, priors) in enumerate(zip(cls_scores, bbox_preds, mlvl_priors)):
        if cls_score.shape[-2:] != bbox_pred.shape[-2:]:
            raise ValueError(
                f"level {level}: cls_score {tuple(cls_score.shape)} and bbox_pred {tuple(bbox_pred.shape)} "
                "differ in size"
            )
        bbox_pred = bbox_pred.permute(1, 2, 0).reshape(-1, 4)
        cls_score = cls_score.permute(1, 2, 0).reshape(-1, cls_out_channels)
        scores = cls_score.sigmoid() if use_sigmoid_cls else cls_score.softmax(-1)[:, :-1]
        scores, labels, keep = filter_scores_and_topk(scores, cfg.score_thr, cfg.nms_pre)
        mlvl_preds.append(bbox_pred[keep])
        mlvl_priors_kept.append(priors[keep])
        mlvl_scores.append(scores)
        mlvl_labels.append(labels)
        if score_factors is not None:
            mlvl_factors.append(score_factors[level].permute(1, 2, 0).reshape(-1).sigmoid()[keep])
    bboxes = bbox_coder.decode(torch.cat(mlvl_priors_kept), torch.cat(mlvl_preds), max_shape=meta.img_shape)
    labels = torch.cat(mlvl_labels)
    return dense_post_process(
        bboxes,
        torch.cat(mlvl_scores),
        labels,
        labels,
        meta,
        nms=cfg.nms.options(),
        min_bbox_size=cfg.min_bbox_size,
        max_per_img=cfg.max_per_img,
        rescale=rescale,
        score_factors=torch.cat(mlvl_factors) if score_factors is not None else None,
    )
