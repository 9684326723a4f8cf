"""Per-class NMS over a detector's class scores, as mmdet 3.3's ``multiclass_nms``.

Shapes: n candidate boxes and K classes plus background. ``multi_scores`` is
``Tensor[n, K + 1]`` whose **last** column is the background score (ignored);
``multi_bboxes`` is ``Tensor[n, 4]`` (one box shared by all classes) or
``Tensor[n, K * 4]`` (one box per class, class-major within a row).

Every (box, class) pair with ``score > score_thr`` becomes a candidate; scores are then
multiplied by ``score_factors`` (after thresholding, as mmdet does, to keep more boxes);
:func:`visdet.ops.nms.batched_nms` runs per class; the result is cut to ``max_num``.
Degenerate boxes and NaN/inf follow :mod:`visdet.ops.nms`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from visdet.ops._checks import check_boxes, check_floating, check_int, check_tensor
from visdet.ops._threads import loop_threads
from visdet.ops.nms import batched_nms
from visdet.ops.nms_options import NMSOptions, as_nms_options


def multiclass_nms(
    multi_bboxes: Tensor,
    multi_scores: Tensor,
    score_thr: float,
    nms_cfg: NMSOptions | Mapping[str, Any],
    max_num: int = -1,
    score_factors: Tensor | None = None,
    return_inds: bool = False,
    box_dim: int = 4,
) -> tuple[Tensor, Tensor] | tuple[Tensor, Tensor, Tensor]:
    """Run NMS per class on multi-class detections.

    Args:
        multi_bboxes: ``Tensor[n, box_dim]`` or ``Tensor[n, K * box_dim]`` boxes.
        multi_scores: ``Tensor[n, K + 1]`` class scores, background last.
        score_thr: Candidates need ``score > score_thr`` (before ``score_factors``).
        nms_cfg: NMS options for :func:`visdet.ops.nms.batched_nms` (mmcv's dict form is
            unpacked by ``NMSOptions.from_mmcv``).
        max_num: If positive, keep at most this many detections (the best ones).
        score_factors: Optional ``Tensor[n]`` multiplied into every class score of a box.
        return_inds: Also return, for every detection, its index in the flattened
            ``n * K`` (box, class) candidates.
        box_dim: Coordinates per box (4 for xyxy).

    Returns:
        ``(dets, labels)`` or ``(dets, labels, inds)``: ``dets`` ``Tensor[k, box_dim + 1]``
        (box and score, best first), ``labels`` ``Tensor[k]`` int64 in ``[0, K)``,
        ``inds`` ``Tensor[k]`` int64.

    Raises:
        TypeError / ValueError: For inputs of the wrong type or shape (naming them).
    """
    with loop_threads():  # thresholding and gathers of up to n * K candidates: see visdet.ops._threads
        return _multiclass_nms(
            multi_bboxes, multi_scores, score_thr, nms_cfg, max_num, score_factors, return_inds, box_dim
        )


def _multiclass_nms(
    multi_bboxes: Tensor,
    multi_scores: Tensor,
    score_thr: float,
    nms_cfg: NMSOptions | Mapping[str, Any],
    max_num: int,
    score_factors: Tensor | None,
    return_inds: bool,
    box_dim: int,
) -> tuple[Tensor, Tensor] | tuple[Tensor, Tensor, Tensor]:
    check_tensor(multi_scores, "multi_scores")
    check_floating(multi_scores, "multi_scores")
    if multi_scores.dim() != 2 or multi_scores.shape[1] < 1:
        raise ValueError(f"multi_scores must have shape (n, num_classes + 1), got {tuple(multi_scores.shape)}")
    box_dim = check_int(box_dim, "box_dim")
    num_boxes, num_classes = multi_scores.shape[0], multi_scores.shape[1] - 1
    check_tensor(multi_bboxes, "multi_bboxes")
    if (
        multi_bboxes.dim() != 2
        or multi_bboxes.shape[0] != num_boxes
        or multi_bboxes.shape[1]
        not in (
            box_dim,
            num_classes * box_dim,
        )
    ):
        raise ValueError(
            f"multi_bboxes must have shape ({num_boxes}, {box_dim}) or "
            f"({num_boxes}, {num_classes * box_dim}) to match multi_scores "
            f"{tuple(multi_scores.shape)}, got {tuple(multi_bboxes.shape)}"
        )
    check_boxes(multi_bboxes, "multi_bboxes", width=multi_bboxes.shape[1])
    max_num = check_int(max_num, "max_num")
    options = as_nms_options(nms_cfg)

    if multi_bboxes.shape[1] > box_dim:
        bboxes = multi_bboxes.view(num_boxes, -1, box_dim)
    else:
        bboxes = multi_bboxes[:, None].expand(num_boxes, num_classes, box_dim)
    scores = multi_scores[:, :-1]
    labels = torch.arange(num_classes, dtype=torch.long, device=scores.device)
    labels = labels.view(1, -1).expand_as(scores)
    bboxes = bboxes.reshape(-1, box_dim)
    scores = scores.reshape(-1)
    labels = labels.reshape(-1)

    valid_mask = scores > score_thr
    if score_factors is not None:
        check_tensor(score_factors, "score_factors")
        if score_factors.numel() != num_boxes:
            raise ValueError(
                f"score_factors must have {num_boxes} elements (one per box), got shape {tuple(score_factors.shape)}"
            )
        factors = score_factors.view(-1, 1).expand(num_boxes, num_classes).reshape(-1)
        scores = scores * factors
    inds = torch.nonzero(valid_mask).squeeze(1)
    bboxes, scores, labels = bboxes[inds], scores[inds], labels[inds]

    if bboxes.numel() == 0:
        dets = torch.cat([bboxes, scores[:, None]], -1)
        return (dets, labels, inds) if return_inds else (dets, labels)

    dets, keep = batched_nms(bboxes, scores, labels, options)
    if max_num > 0:
        dets, keep = dets[:max_num], keep[:max_num]
    if return_inds:
        return dets, labels[keep], inds[keep]
    return dets, labels[keep]
