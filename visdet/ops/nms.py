"""Greedy non-maximum suppression (NMS) and its per-class form, as mmcv 2.1 computes them.

Shapes: N boxes, ``boxes`` is ``Tensor[N, 4]`` absolute ``(x1, y1, x2, y2)``, ``scores``
is ``Tensor[N]``, ``idxs`` (class or group ids) is ``Tensor[N]``. Results are ``dets``
``Tensor[K, 5]`` (box and score) and ``keep`` ``Tensor[K]`` (int64 indices into the
inputs), highest score first.

Arithmetic (mmcv's CPU kernel, reproduced operation by operation in the boxes' dtype):
``area = (x2 - x1 + offset) * (y2 - y1 + offset)``,
``inter = max(0, min(x2) - max(x1) + offset) * max(0, min(y2) - max(y1) + offset)``,
``iou = inter / (area_i + area_j - inter)``; box ``j`` is suppressed by a kept,
higher-ranked box ``i`` when ``iou > iou_threshold`` (strictly greater), with the
threshold rounded to the boxes' dtype first (mmcv passes it as a C ``float``).

Tie rule: boxes are ranked by ``scores.sort(0, descending=True)`` (torch's default,
non-stable sort), the very call mmcv's kernel makes, so on the same device and torch
build equal scores are ranked exactly as mmcv ranks them. That order is *not* "lower
index first": torch's CPU sort is not stable beyond a few dozen elements. With
distinct scores the result does not depend on the input order.

Degenerate boxes follow the same arithmetic and are never rejected: with ``offset=0``
a zero-area box has zero intersection with everything, so it never suppresses and is
never suppressed (two identical zero-area boxes give ``0 / 0 = NaN``, which is not
greater than the threshold). An inverted box (``x2 < x1``) has a negative area and
zero intersection, so it is likewise always kept. NaN or inf in ``boxes`` or
``scores`` raises ``ValueError``.

The greedy pass is blocked and vectorised (see :mod:`visdet.ops._greedy`), giving the
same kept set as mmcv's scalar loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from visdet.ops._checks import (
    check_boxes,
    check_choice,
    check_int,
    check_integer_or_floating,
    check_number,
    check_same_device,
    check_scores,
    check_tensor,
)
from visdet.ops._greedy import check_nms_args, greedy_nms_ranked, nms_indices
from visdet.ops._nms_small import small_idxs, small_inputs, small_keep, small_number, small_outputs
from visdet.ops._threads import loop_threads
from visdet.ops.nms_options import NMSOptions, as_nms_options
from visdet.ops.soft_nms import soft_nms

__all__ = ["NMSOptions", "batched_nms", "nms", "soft_nms"]


def nms(
    boxes: Tensor,
    scores: Tensor,
    iou_threshold: float,
    offset: int = 0,
    score_threshold: float = 0,
    max_num: int = -1,
) -> tuple[Tensor, Tensor]:
    """Greedy NMS: keep the best box, drop boxes overlapping it by more than the threshold.

    Args:
        boxes: ``Tensor[N, 4]`` xyxy boxes (float).
        scores: ``Tensor[N]`` scores, same dtype and device.
        iou_threshold: A box is suppressed when its IoU with a kept box is greater.
        offset: 0, or 1 for the legacy ``x2 - x1 + 1`` width convention.
        score_threshold: If positive, only boxes with ``score > score_threshold`` enter.
        max_num: If positive, keep at most this many (the best ones).

    Returns:
        ``(dets, keep)``: ``dets`` ``Tensor[K, 5]`` = ``boxes[keep]`` with
        ``scores[keep]`` appended, and ``keep`` ``Tensor[K]`` int64, ranked by score
        (ties as in the module docstring).

    Raises:
        TypeError: Non-tensor or non-float inputs, non-int ``offset``.
        ValueError: Bad shapes, ``offset`` not 0/1, NaN/inf in boxes or scores.
    """
    if (
        small_inputs(boxes, scores, iou_threshold, offset)
        and small_number(score_threshold)
        and score_threshold <= 0
        and type(max_num) is int
    ):
        box_array = boxes.numpy()
        keep = small_keep(box_array, scores, iou_threshold, offset, max_num)
        if keep is not None:
            return small_outputs(box_array, scores.numpy(), keep)
    with loop_threads():  # its sort and gathers too: see visdet.ops._threads
        threshold, offset = check_nms_args(boxes, scores, iou_threshold, offset)
        score_threshold = check_number(score_threshold, "score_threshold")
        max_num = check_int(max_num, "max_num")
        return _nms(boxes, scores, threshold, offset, score_threshold, max_num)


def _nms(
    boxes: Tensor,
    scores: Tensor,
    iou_threshold: float,
    offset: int,
    score_threshold: float,
    max_num: int,
) -> tuple[Tensor, Tensor]:
    valid_inds = None
    cand_boxes, cand_scores = boxes, scores
    if score_threshold > 0:
        valid_mask = scores > score_threshold
        cand_boxes, cand_scores = boxes[valid_mask], scores[valid_mask]
        valid_inds = torch.nonzero(valid_mask).squeeze(1)
    inds = nms_indices(cand_boxes, cand_scores, iou_threshold, offset, limit=max_num)
    if max_num > 0:
        inds = inds[:max_num]
    if valid_inds is not None:
        inds = valid_inds[inds]
    dets = torch.cat((boxes[inds], scores[inds].reshape(-1, 1)), dim=1)
    return dets, inds


def batched_nms(
    boxes: Tensor,
    scores: Tensor,
    idxs: Tensor,
    nms_cfg: NMSOptions | Mapping[str, Any] | None,
    class_agnostic: bool = False,
) -> tuple[Tensor, Tensor]:
    """NMS applied independently within each group (class) of boxes, as mmcv does it.

    Boxes of different groups are kept apart by mmcv's offset trick: each box is shifted
    by ``idx * (boxes.max() + 1)`` before one NMS over all boxes. The shift is kept
    exactly (not replaced by a per-class loop) because it changes the float rounding
    of the IoUs, and, with negative coordinates, boxes of neighbouring groups can still
    overlap after the shift, as they do in mmcv.

    With at least ``split_thr`` boxes, NMS runs once per group (still on the shifted
    boxes) and the union is re-sorted by score, then cut to ``max_num``, as mmcv's loop.

    Args:
        boxes: ``Tensor[N, 4]`` xyxy boxes (float).
        scores: ``Tensor[N]`` scores.
        idxs: ``Tensor[N]`` group id of each box (integer or float).
        nms_cfg: The options (:class:`~visdet.ops.nms_options.NMSOptions`); mmcv's dict
            form is accepted too and unpacked by ``NMSOptions.from_mmcv``. ``None``
            skips NMS (all boxes, sorted by score).
        class_agnostic: If True, ignore ``idxs`` (one NMS over all boxes).

    Returns:
        ``(dets, keep)``: ``dets`` ``Tensor[K, 5]`` original boxes with their (for
        soft_nms, decayed) scores, ``keep`` ``Tensor[K]`` int64, best first. Empty
        inputs give empty outputs (mmcv itself fails on them).

    Raises:
        TypeError: Non-tensor inputs, ``nms_cfg`` not options or a mapping, unknown keys.
        ValueError: Bad shapes, unknown ``type``, NaN/inf in boxes or scores.
    """
    if nms_cfg is not None and small_inputs(boxes, scores, 0, 0) and small_idxs(idxs, boxes.shape[0]):
        result = _small_batched_nms(boxes, scores, idxs, as_nms_options(nms_cfg, class_agnostic=class_agnostic),
                                    class_agnostic)  # fmt: skip
        if result is not None:
            return result
    with loop_threads():  # see visdet.ops._threads
        return _batched_nms(boxes, scores, idxs, nms_cfg, class_agnostic)


def _batched_nms(
    boxes: Tensor,
    scores: Tensor,
    idxs: Tensor,
    nms_cfg: NMSOptions | Mapping[str, Any] | None,
    class_agnostic: bool,
) -> tuple[Tensor, Tensor]:
    """:func:`batched_nms` past its small-input path: checks, mmcv's offsets, one NMS or one per group."""
    check_boxes(boxes, "boxes")
    check_scores(scores, "scores", boxes.shape[0])
    check_tensor(idxs, "idxs")
    check_integer_or_floating(idxs, "idxs")
    if idxs.shape != (boxes.shape[0],):
        raise ValueError(f"idxs must have shape ({boxes.shape[0]},) to match boxes, got {tuple(idxs.shape)}")
    check_same_device([(boxes, "boxes"), (scores, "scores"), (idxs, "idxs")])

    if nms_cfg is None:
        sorted_scores, inds = scores.sort(descending=True)
        return torch.cat([boxes[inds], sorted_scores[:, None]], -1), inds
    options = as_nms_options(nms_cfg, class_agnostic=class_agnostic)
    nms_op = soft_nms if options.soft else nms
    kwargs = options.nms_kwargs()

    if boxes.shape[0] == 0:
        return boxes.new_zeros((0, 5)), torch.zeros(0, dtype=torch.long, device=boxes.device)
    if options.class_agnostic or class_agnostic:
        boxes_for_nms = boxes
    else:
        max_coordinate = boxes.max()
        offsets = idxs.to(boxes) * (max_coordinate + torch.tensor(1).to(boxes))
        boxes_for_nms = boxes + offsets[:, None]

    if boxes_for_nms.shape[0] < options.split_thr:
        if options.soft and options.max_num != -1:  # mmcv passes max_num on: soft_nms rejects it
            raise TypeError("soft_nms() got an unexpected keyword argument 'max_num' (mmcv applies max_num "
                            "to soft_nms only on its split path, from split_thr boxes on)")  # fmt: skip
        if not options.soft:
            kwargs["max_num"] = options.max_num
        dets, keep = nms_op(boxes_for_nms, scores, **kwargs)
        return torch.cat([boxes[keep], dets[:, -1:]], -1), keep

    if not options.soft:
        keep = _split_nms(boxes_for_nms, scores, idxs, kwargs)
        kept_scores, order = scores[keep].sort(descending=True)
    else:
        total_mask = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)
        scores_after_nms = scores.new_zeros(scores.shape)  # soft_nms changes scores
        for group in torch.unique(idxs):
            members = torch.nonzero(idxs == group).view(-1)
            dets, keep = nms_op(boxes_for_nms[members], scores[members], **kwargs)
            total_mask[members[keep]] = True
            scores_after_nms[members[keep]] = dets[:, -1]
        keep = torch.nonzero(total_mask).view(-1)
        kept_scores, order = scores_after_nms[keep].sort(descending=True)
    keep = keep[order]
    if options.max_num > 0:
        keep, kept_scores = keep[: options.max_num], kept_scores[: options.max_num]
    return torch.cat([boxes[keep], kept_scores[:, None]], -1), keep


def _small_batched_nms(
    boxes: Tensor, scores: Tensor, idxs: Tensor, options: NMSOptions, class_agnostic: bool
) -> tuple[Tensor, Tensor] | None:
    """:func:`batched_nms` of few boxes (:mod:`visdet.ops._nms_small`), or None where it does not apply."""
    num = boxes.shape[0]
    if (
        options.soft
        or num >= options.split_thr
        or not small_inputs(boxes, scores, options.iou_threshold, options.offset)
        or not small_number(options.score_threshold)
        or options.score_threshold > 0
        or type(options.max_num) is not int
    ):
        return None
    box_array = boxes.numpy()
    shifted = box_array
    if not (options.class_agnostic or class_agnostic):
        # mmcv's offsets, in the boxes' dtype: idxs * (max + 1), added to every coordinate
        dtype = box_array.dtype.type
        offsets = idxs.numpy().astype(box_array.dtype) * (box_array.max() + dtype(1))
        shifted = box_array + offsets[:, None]
    keep = small_keep(shifted, scores, options.iou_threshold, options.offset, options.max_num)
    if keep is None:
        return None
    return small_outputs(box_array, scores.numpy(), keep)


def _split_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, cfg: dict[str, Any]) -> Tensor:
    """Mmcv's one-NMS-per-group loop for ``type="nms"``; returns the kept indices in ascending order.

    The groups' members come from one stable sort of ``idxs`` (each group's indices in
    ascending order, as ``nonzero(idxs == group)`` lists them, without a pass over all
    boxes per group); each group is ranked by the very sort mmcv applies to it (so ties
    break alike) and gets its own greedy pass, which can then take the dense route for a
    group of heavily overlapping boxes (one class holding thousands of RTMDet candidates)
    where one pass over all groups would compare every overlapping pair.
    """
    threshold = check_number(cfg["iou_threshold"], "iou_threshold")
    offset = check_int(cfg["offset"], "offset")
    check_choice(offset, "offset", (0, 1))
    score_threshold = check_number(cfg["score_threshold"], "score_threshold")
    threshold_t = torch.tensor(threshold, dtype=boxes.dtype, device=boxes.device)
    by_group = torch.sort(idxs, stable=True)[1]
    _, counts = torch.unique_consecutive(idxs[by_group], return_counts=True)
    kept = [by_group.new_zeros(0)]
    for members in torch.split(by_group, counts.tolist()):
        if score_threshold > 0:
            members = members[scores[members] > score_threshold]
        if members.numel() == 0:
            continue
        ranked = members[scores[members].sort(0, descending=True)[1]]
        kept.append(ranked[greedy_nms_ranked(boxes[ranked], threshold_t, offset)])
    return torch.cat(kept).sort()[0]
