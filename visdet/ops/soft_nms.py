"""Soft-NMS over axis-aligned boxes, as mmcv 2.1's CPU kernel computes it.

Shapes: N boxes, ``boxes`` ``Tensor[N, 4]`` absolute xyxy, ``scores`` ``Tensor[N]``;
results ``dets`` ``Tensor[K, 5]`` (box and decayed score) and ``keep`` ``Tensor[K]``.

The loop over picks is sequential by nature (each pick changes every later score), but
each step is vectorised over the remaining boxes. The IoU arithmetic is mmcv's (see
:mod:`visdet.ops.nms`). mmcv moves inputs to the CPU for this op; visdet runs on the
inputs' device. Degenerate boxes (zero area, inverted) have zero intersection with
everything (``offset=0``), so their IoU with any box is 0 (or NaN for two zero-area
boxes): with ``iou_threshold > 0`` they neither decay nor are decayed (``naive`` and
``linear`` decay at ``iou >= iou_threshold``, so a threshold of 0 decays even them),
and under ``gaussian`` the weight is ``exp(0) = 1``. NaN or inf in boxes or scores raises ``ValueError``.

Exactness: IoUs and linear/naive weights are bit-identical to mmcv's; a gaussian weight
can differ from mmcv's ``expf`` by one ulp (decayed scores within ~1e-7).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from visdet.ops._checks import check_choice, check_number
from visdet.ops._greedy import check_nms_args
from visdet.ops._nms_kernels import box_areas, iou_matrix, numpy_columns, numpy_ready
from visdet.ops._threads import loop_threads

SOFT_NMS_METHODS = {"naive": 0, "linear": 1, "gaussian": 2}


def soft_nms(
    boxes: Tensor,
    scores: Tensor,
    iou_threshold: float = 0.3,
    sigma: float = 0.5,
    min_score: float = 1e-3,
    method: str = "linear",
    offset: int = 0,
) -> tuple[Tensor, Tensor]:
    """Soft-NMS (Bodla et al. 2017): decay the scores of overlapping boxes instead of dropping.

    Repeatedly picks the box with the highest current score (the first one on equal
    scores, in mmcv's working order), then multiplies the score of every remaining box
    by a weight from its IoU ``o`` with the picked box: ``naive``: 0 if
    ``o >= iou_threshold``; ``linear``: ``1 - o`` if ``o >= iou_threshold``;
    ``gaussian``: ``exp(-o * o / sigma)``; otherwise 1. Boxes whose score falls below
    ``min_score`` are dropped (mmcv swaps them with the last box, which fixes the
    working order used for ties; that order is reproduced). The very first pick is
    never checked against ``min_score``.

    Args:
        boxes: ``Tensor[N, 4]`` xyxy boxes (float).
        scores: ``Tensor[N]`` scores.
        iou_threshold: Overlap from which naive/linear decay applies.
        sigma: Gaussian width.
        min_score: Boxes whose decayed score is below this are dropped.
        method: ``"naive"``, ``"linear"`` or ``"gaussian"``.
        offset: 0, or 1 for the legacy ``+1`` width convention.

    Returns:
        ``(dets, keep)``: ``dets`` ``Tensor[K, 5]`` boxes with their *decayed* scores in
        pick order, and ``keep`` ``Tensor[K]`` int64 input indices.
    """
    iou_threshold, offset = check_nms_args(boxes, scores, iou_threshold, offset)
    sigma = check_number(sigma, "sigma")
    min_score = check_number(min_score, "min_score")
    check_choice(method, "method", tuple(SOFT_NMS_METHODS))
    if numpy_ready(boxes, scores) and boxes.dtype == scores.dtype:
        return _soft_nms_numpy(boxes, scores, iou_threshold, sigma, min_score, method, offset)
    with loop_threads():
        return _soft_nms(boxes, scores, iou_threshold, sigma, min_score, method, offset)


def _soft_nms_numpy(
    boxes: Tensor,
    scores: Tensor,
    iou_threshold: float,
    sigma: float,
    min_score: float,
    method: str,
    offset: int,
) -> tuple[Tensor, Tensor]:
    """:func:`_soft_nms` on numpy arrays (CPU, float32/float64): the same steps and float operations.

    numpy's per-call cost is a fraction of torch's, and the loop makes a dozen small
    calls per pick. Row ``i`` of the working table is final once picked, so the picks
    are the table's leading rows at the end. The gaussian weight's ``exp`` still runs in
    torch (float64), so that it rounds exactly as :func:`_soft_weight`.
    """
    num = boxes.shape[0]
    if num == 0:
        return boxes.new_zeros((0, 5)), torch.zeros(0, dtype=torch.long)
    x1, y1, x2, y2, area = numpy_columns(boxes, offset)
    table = np.stack([x1, y1, x2, y2, scores.detach().numpy(), area], axis=1)
    dtype = table.dtype.type
    inds = np.arange(num)
    threshold, min_score_t, sigma_t, one = dtype(iou_threshold), dtype(min_score), dtype(sigma), dtype(1)
    count, i = num, 0
    while i < count:
        best = i + int(np.argmax(table[i:count, 4]))
        if best != i:
            table[[i, best]] = table[[best, i]]
            inds[[i, best]] = inds[[best, i]]
        rest = table[i + 1 : count]
        if rest.shape[0]:
            top = table[i]
            xx1 = np.maximum(top[0], rest[:, 0])
            yy1 = np.maximum(top[1], rest[:, 1])
            w = np.minimum(top[2], rest[:, 2])
            h = np.minimum(top[3], rest[:, 3])
            w -= xx1
            h -= yy1
            if offset:
                w += dtype(offset)
                h += dtype(offset)
            np.maximum(w, 0, out=w)
            np.maximum(h, 0, out=h)
            w *= h  # inter
            union = top[5] + rest[:, 5]
            union -= w
            with np.errstate(divide="ignore", invalid="ignore"):
                ovr = np.divide(w, union, out=w)
            if method == "gaussian":
                exponent = np.negative(ovr * ovr, out=ovr)
                exponent /= sigma_t
                weight = torch.from_numpy(exponent).double().exp_().to(boxes.dtype).numpy()
            elif method == "naive":
                weight = np.where(ovr >= threshold, dtype(0), one)
            else:
                weight = np.where(ovr >= threshold, one - ovr, one)
            rest[:, 4] *= weight
            alive = ~(rest[:, 4] < min_score_t)
            if not alive.all():
                order = _swap_remove_order_numpy(alive)
                table[i + 1 : i + 1 + order.size] = rest[order]
                inds[i + 1 : i + 1 + order.size] = inds[i + 1 : count][order]
                count = i + 1 + order.size
        i += 1
    return torch.from_numpy(table[:count, :5].copy()), torch.from_numpy(inds[:count].copy())


def _swap_remove_order_numpy(alive: np.ndarray) -> np.ndarray:
    """:func:`_swap_remove_order` on a numpy mask."""
    num_alive = int(alive.sum())
    order = np.arange(num_alive)
    holes = np.flatnonzero(~alive[:num_alive])
    if holes.size:
        order[holes] = np.flatnonzero(alive[num_alive:])[::-1] + num_alive
    return order


def _soft_nms(
    boxes: Tensor,
    scores: Tensor,
    iou_threshold: float,
    sigma: float,
    min_score: float,
    method: str,
    offset: int,
) -> tuple[Tensor, Tensor]:
    num = boxes.shape[0]
    if num == 0:
        return boxes.new_zeros((0, 5)), torch.zeros(0, dtype=torch.long, device=boxes.device)
    dtype = boxes.dtype
    # working table, one row per box: x1, y1, x2, y2, score, area (mmcv's parallel arrays)
    table = torch.cat([boxes, scores[:, None], box_areas(boxes, offset)[:, None]], dim=1)
    inds = torch.arange(num, device=boxes.device)
    threshold = torch.tensor(iou_threshold, dtype=dtype, device=boxes.device)
    min_score_t = torch.tensor(min_score, dtype=dtype, device=boxes.device)
    sigma_t = torch.tensor(sigma, dtype=dtype, device=boxes.device)
    picked = []
    count, i = num, 0
    while i < count:
        best = i + int(torch.argmax(table[i:count, 4]))
        if best != i:
            swap = torch.tensor([best, i], device=boxes.device)
            table[[i, best]] = table[swap]
            inds[[i, best]] = inds[swap]
        picked.append(table[i, :5].clone())
        rest = table[i + 1 : count]
        if rest.shape[0]:
            top = table[i]
            ovr = iou_matrix(top[None, :4], top[None, 5], rest[:, :4], rest[:, 5], offset)[0]
            rest[:, 4] *= _soft_weight(ovr, threshold, sigma_t, method)
            alive = ~(rest[:, 4] < min_score_t)
            order = _swap_remove_order(alive)
            table[i + 1 : i + 1 + order.numel()] = rest[order].clone()
            inds[i + 1 : i + 1 + order.numel()] = inds[i + 1 : count][order].clone()
            count = i + 1 + order.numel()
        i += 1
    return torch.stack(picked), inds[:count].clone()


def _soft_weight(ovr: Tensor, threshold: Tensor, sigma: Tensor, method: str) -> Tensor:
    if method == "gaussian":
        # mmcv calls the C library's expf, which is not correctly rounded; float64 exp
        # rounded to the dtype agrees with it far more often than torch's float32 exp
        # (134 vs 2111 misses in 200k draws), but a weight may still be one ulp off.
        exponent = -(ovr * ovr) / sigma
        return torch.exp(exponent.double()).to(ovr.dtype)
    hit = ovr >= threshold
    if method == "naive":
        return torch.where(hit, torch.zeros_like(ovr), torch.ones_like(ovr))
    return torch.where(hit, 1 - ovr, torch.ones_like(ovr))


def _swap_remove_order(alive: Tensor) -> Tensor:
    """Order of the surviving rows after mmcv's "overwrite with the last row" removal.

    Scanning left to right, each dropped row is overwritten by the current last row;
    so survivors left of the final length stay in place and the holes among them are
    filled, in increasing order, by the survivors right of it taken from the end.
    """
    num_alive = int(alive.sum())
    positions = torch.arange(alive.numel(), device=alive.device)
    order = positions[:num_alive].clone()
    holes = torch.nonzero(~alive[:num_alive]).squeeze(1)
    if holes.numel():
        tail = positions[num_alive:][alive[num_alive:]].flip(0)
        order[holes] = tail
    return order
