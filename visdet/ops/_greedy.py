"""The greedy NMS pass over ranked boxes, vectorised, with mmcv's exact kept set.

mmcv's CPU kernel walks the ranked boxes with a scalar double loop. Two vectorised
passes give the same result:

* dense (:func:`_greedy_dense`): ranked boxes are taken in blocks; inside a block the
  greedy decision is the fixed point of ``keep[j] = not any(keep[i] and iou[i, j] > t
  for i < j)`` (:func:`visdet.ops._nms_kernels.resolve_block`), then the block's kept
  boxes suppress every later surviving box with one IoU matrix;
* sparse (:mod:`visdet.ops._greedy_sparse`): only pairs that can intersect are compared,
  which is much cheaper when boxes are small relative to their spread (few pairs).

:func:`greedy_nms_ranked` picks the sparse pass when it applies (non-negative threshold,
few candidate pairs) and the dense one otherwise. Every IoU is computed with mmcv's
float operations, so both give mmcv's kept set.

On CPU float32/float64 boxes both passes run on numpy arrays instead (numpy's
elementwise operations round as torch's do, and cost a fraction of a torch call at
these sizes): the dense one as IoU blocks of at most
:data:`~visdet.ops._nms_kernels.NUMPY_BLOCK_ELEMENTS` entries walked row by row in rank
order (:func:`_greedy_numpy`), the sparse one as the suppression edges of intersecting
pairs, computed in bounded batches and walked by source rank
(:func:`visdet.ops._greedy_sparse.greedy_sparse_numpy`, used from 64 boxes on).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from visdet.ops._checks import (
    check_boxes,
    check_choice,
    check_int,
    check_number,
    check_same_device,
    check_scores,
)
from visdet.ops._greedy_sparse import greedy_sparse, greedy_sparse_numpy
from visdet.ops._nms_kernels import (
    NUMPY_BLOCK_ELEMENTS,
    box_areas,
    iou_matrix,
    numpy_columns,
    numpy_iou_block,
    numpy_ready,
    resolve_block,
)
from visdet.ops._threads import loop_threads

# Ranked boxes handled per block by the greedy pass; a compromise between Python
# overhead (fewer, larger blocks) and wasted IoU work inside a block.
_BLOCK = 256
# On the CPU (numpy passes), the sparse pass from this many boxes on; below, one dense block
# costs fewer calls.
_NUMPY_SPARSE_FROM = 64


def _greedy_dense(boxes: Tensor, threshold: Tensor, offset: int, limit: int = -1) -> Tensor:
    """Greedy NMS over boxes already in rank order; returns the keep mask ``Tensor[N]``.

    Args:
        boxes: ``Tensor[N, 4]`` ranked (best first) xyxy boxes.
        threshold: 0-dim tensor, the IoU threshold in the boxes' dtype.
        offset: 0 or 1, added to widths and heights (legacy pixel convention).
        limit: Stop once this many boxes are kept (only the leading kept boxes are then
            correct); ``-1`` for no limit.
    """
    if numpy_ready(boxes, threshold):
        return _greedy_numpy(boxes, threshold, offset, limit)
    return _greedy_torch(boxes, threshold, offset, limit)


def _greedy_numpy(boxes: Tensor, threshold: Tensor, offset: int, limit: int = -1) -> Tensor:
    """:func:`_greedy_dense` on the CPU: numpy IoU blocks, then mmcv's scalar walk over the block.

    Rows (ranked boxes not yet suppressed) are taken a few at a time, so that a block
    against every later box holds at most :data:`NUMPY_BLOCK_ELEMENTS` IoUs; inside the
    block the rows are walked in rank order and each kept row suppresses the later
    boxes it overlaps, exactly mmcv's loop. numpy's per-call cost is a fraction of
    torch's, which is what small inputs pay for.
    """
    num = boxes.shape[0]
    columns = numpy_columns(boxes, offset)
    thr = threshold.numpy()
    suppressed = np.zeros(num, dtype=bool)
    keep = np.zeros(num, dtype=bool)
    kept_total = 0
    step = max(1, NUMPY_BLOCK_ELEMENTS // max(num, 1))
    for start in range(0, num, step):
        rows = np.flatnonzero(~suppressed[start : start + step])
        if rows.size == 0:
            continue
        rows += start
        first = start + 1  # the block's columns: every box after its first row
        over = numpy_iou_block(columns, rows, first, offset) > thr
        for row, index in zip(over, rows.tolist()):
            if suppressed[index]:
                continue
            keep[index] = True
            kept_total += 1
            if kept_total == limit:
                return torch.from_numpy(keep)
            suppressed[index + 1 :] |= row[index + 1 - first :]
    return torch.from_numpy(keep)


def _greedy_torch(boxes: Tensor, threshold: Tensor, offset: int, limit: int = -1) -> Tensor:
    """The blocked torch pass of :func:`_greedy_dense` (any device and dtype)."""
    num = boxes.shape[0]
    areas = box_areas(boxes, offset)
    suppressed = torch.zeros(num, dtype=torch.bool, device=boxes.device)
    keep = torch.zeros(num, dtype=torch.bool, device=boxes.device)
    kept_total = 0
    for start in range(0, num, _BLOCK):
        end = min(start + _BLOCK, num)
        cand = torch.nonzero(~suppressed[start:end]).squeeze(1) + start
        if cand.numel() == 0:
            continue
        cand_boxes, cand_areas = boxes[cand], areas[cand]
        over = iou_matrix(cand_boxes, cand_areas, cand_boxes, cand_areas, offset) > threshold
        over = torch.triu(over, diagonal=1)
        kept = cand[resolve_block(over, torch.ones_like(cand, dtype=torch.bool))]
        keep[kept] = True
        kept_total += kept.numel()
        if 0 < limit <= kept_total or end >= num:
            break
        rest = torch.nonzero(~suppressed[end:]).squeeze(1) + end
        if rest.numel() == 0:
            break
        over = iou_matrix(boxes[kept], areas[kept], boxes[rest], areas[rest], offset) > threshold
        hit = over.any(0)
        suppressed[rest[hit]] = True
    return keep


def greedy_nms_ranked(boxes: Tensor, threshold: Tensor, offset: int, limit: int = -1) -> Tensor:
    """Greedy NMS over boxes already in rank order; returns the keep mask ``Tensor[N]``.

    Uses the sparse overlapping-pairs pass when the threshold is non-negative (then a
    pair without intersection can never suppress) and few pairs overlap along x;
    otherwise the dense blocked pass. Both give mmcv's kept set.
    """
    with loop_threads():
        if numpy_ready(boxes, threshold):
            if float(threshold) >= 0 and boxes.shape[0] > _NUMPY_SPARSE_FROM:
                keep = greedy_sparse_numpy(numpy_columns(boxes, offset), threshold.numpy(), offset)
                if keep is not None:
                    return torch.from_numpy(keep)
            return _greedy_dense(boxes, threshold, offset, limit)
        if float(threshold) >= 0 and boxes.shape[0] > _BLOCK:
            keep = greedy_sparse(boxes, threshold, offset, limit)
            if keep is not None:
                return keep
        return _greedy_dense(boxes, threshold, offset, limit)


def nms_indices(boxes: Tensor, scores: Tensor, iou_threshold: float, offset: int = 0, limit: int = -1) -> Tensor:
    """Indices kept by greedy NMS, best first (no input checks; see :func:`nms`)."""
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = scores.sort(0, descending=True)[1]
    threshold = torch.tensor(iou_threshold, dtype=boxes.dtype, device=boxes.device)
    keep = greedy_nms_ranked(boxes[order], threshold, offset, limit)
    return order[keep]


def check_nms_args(boxes: object, scores: object, iou_threshold: object, offset: object) -> tuple[float, int]:
    """Validate the arguments shared by nms and soft_nms; return ``(threshold, offset)``."""
    check_boxes(boxes, "boxes")
    check_scores(scores, "scores", boxes.shape[0])  # type: ignore[union-attr]
    check_same_device([(boxes, "boxes"), (scores, "scores")])  # type: ignore[list-item]
    threshold = check_number(iou_threshold, "iou_threshold")
    offset = check_int(offset, "offset")
    check_choice(offset, "offset", (0, 1))
    return threshold, offset
