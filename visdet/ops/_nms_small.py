"""Greedy NMS of few boxes on the CPU in one short numpy pass (the small-input fast path).

At tens of boxes the cost of :func:`visdet.ops.nms` and :func:`visdet.ops.batched_nms`
is fixed overhead, not arithmetic: argument checks that each run a torch reduction,
torch calls of several microseconds each, the general passes' set-up. For CPU
float32/float64 inputs without gradients, up to :data:`SMALL_MAX_BOXES` boxes, this
module does the whole call in about thirty numpy calls:

* the ranking of mmcv's ``scores.sort(0, descending=True)``: numpy's sort when the scores
  are distinct (then every sort agrees), torch's own call when some are tied;
* the intersection sides of every ranked pair by mmcv's float operations in the boxes'
  dtype (``min``/``max`` of the corners, ``+ offset``), then, for the pairs with a
  positive intersection only (any other pair's IoU is 0, -0 or NaN, never above a
  non-negative threshold), ``inter / (area_i + area_j - inter)``: each IoU bit-identical
  to mmcv's and to the general passes';
* mmcv's greedy loop over the suppression edges (IoU above the threshold, later rank):
  a source not yet suppressed when reached is kept and suppresses its targets;
* the outputs built from numpy arrays.

Anything else (another device or dtype, gradients, more boxes, a positive
``score_threshold``, a negative IoU threshold, NaN or inf, malformed arguments) returns
None, and the general path runs, with its checks and error messages.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor

from visdet.ops import _nms_kernels

# Up to this many boxes, the fast path (its [2, N, N] arrays: 128 KiB in float32).
SMALL_MAX_BOXES = 128
# Up to this many suppression edges per box, the greedy walk takes them one by one.
_EDGES_ONE_BY_ONE = 4
_DTYPES = (torch.float32, torch.float64)
_IDX_DTYPES = (torch.int64, torch.int32, torch.float32, torch.float64)


@functools.lru_cache(maxsize=SMALL_MAX_BOXES + 1)
def _later(num: int) -> np.ndarray:
    """``[num, num]`` bool, True above the diagonal (column ranked after row); read-only."""
    mask = np.triu(np.ones((num, num), dtype=bool), 1)
    mask.flags.writeable = False
    return mask


def _plain_tensor(value: object, dims: int) -> bool:
    return (
        type(value) is Tensor
        and value.dim() == dims
        and value.dtype in _DTYPES
        and value.is_cpu
        and not value.requires_grad
    )


def small_number(value: object) -> bool:
    """Whether ``value`` is a plain Python ``float`` or ``int`` (not ``bool``)."""
    return type(value) is float or type(value) is int


def small_idxs(idxs: object, num: int) -> bool:
    """Whether ``idxs`` (``batched_nms``' group ids) suits the fast path."""
    return (
        type(idxs) is Tensor and idxs.dtype in _IDX_DTYPES and idxs.dim() == 1 and idxs.shape[0] == num and idxs.is_cpu
    )


def small_inputs(boxes: object, scores: object, iou_threshold: object, offset: object) -> bool:
    """Whether the fast path applies to these arguments (values are checked later)."""
    return (
        _plain_tensor(boxes, 2)
        and _plain_tensor(scores, 1)
        and boxes.shape[1] == 4  # type: ignore[union-attr]
        and 0 < boxes.shape[0] <= SMALL_MAX_BOXES  # type: ignore[union-attr]
        and scores.shape[0] == boxes.shape[0]  # type: ignore[union-attr]
        and scores.dtype == boxes.dtype  # type: ignore[union-attr]
        and small_number(iou_threshold)
        and iou_threshold >= 0  # type: ignore[operator]
        and (offset == 0 or offset == 1)
        and type(offset) is int
        and not _nms_kernels._TORCH_KERNELS_ONLY
    )


def small_keep(
    box_array: np.ndarray, scores: Tensor, iou_threshold: float, offset: int, max_num: int
) -> np.ndarray | None:
    """Indices kept by greedy NMS (best first, at most ``max_num`` if positive), or None.

    ``box_array`` holds the ``[N, 4]`` boxes the IoUs are computed on (for
    ``batched_nms`` the shifted ones); None when a value is not finite.
    """
    score_array = scores.numpy()
    order = _rank(score_array, scores)
    pairs = intersecting_pairs(box_array[order], score_array, offset)
    if pairs is None:
        return None
    rows, cols, iou = pairs
    hit = iou > iou.dtype.type(iou_threshold)
    kept = _walk(rows[hit], cols[hit], order.shape[0])
    if kept is not None:
        order = order[kept]
    if max_num > 0:
        order = order[:max_num]
    return order


def intersecting_pairs(
    box_array: np.ndarray, score_array: np.ndarray, offset: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(rows, cols, iou)``: the pairs ``rows < cols`` of boxes whose intersection is positive.

    Any other pair's IoU is 0, -0 or NaN. The IoUs are mmcv's float operations in the
    boxes' dtype. None when a box or score is NaN or inf (checked here, cheaply).
    """
    num = box_array.shape[0]
    # rows x1, y1, x2, y2 (contiguous, so the pairwise loops run along rows)
    corners = np.ascontiguousarray(box_array.T)
    dtype = corners.dtype.type
    sides = corners[2:] - corners[:2]
    if offset:
        sides += dtype(offset)
    area = sides[0] * sides[1]
    # a NaN or inf coordinate makes its area NaN or inf, and any of them the dot product;
    # then (or if the dot product overflows) the general path decides, and raises its error
    if not np.isfinite(np.dot(area, score_array)):
        return None
    # pairwise [2, N, N] sides of the intersections: along x, then along y
    overlap = np.minimum(corners[2:, :, None], corners[2:, None, :])
    overlap -= np.maximum(corners[:2, :, None], corners[:2, None, :])
    if offset:
        overlap += dtype(offset)
    positive = overlap > 0
    both = positive[0]
    both &= positive[1]
    both &= _later(num)
    pairs = np.flatnonzero(both)
    rows, cols = np.divmod(pairs, num)
    inter = overlap[0].ravel()[pairs]
    inter *= overlap[1].ravel()[pairs]
    union = area[rows] + area[cols]
    union -= inter  # positive: both boxes have a positive area, each at least inter
    return rows, cols, np.divide(inter, union, out=inter)


def _rank(score_array: np.ndarray, scores: Tensor) -> np.ndarray:
    """Ranks (best first) as ``scores.sort(0, descending=True)`` gives them, mmcv's call.

    With distinct scores every sort gives the same order, and numpy's is the cheaper;
    tied scores are ordered by torch's sort, whose order is not "lower index first".
    """
    order = np.argsort(-score_array, kind="stable")
    ranked = score_array[order]
    if (ranked[1:] == ranked[:-1]).any():
        return scores.sort(0, descending=True)[1].numpy()
    return order


def _walk(sources: np.ndarray, targets: np.ndarray, num: int) -> np.ndarray | None:
    """Keep mask of mmcv's greedy loop given its suppression edges, or None if all are kept.

    ``sources`` (ascending rank) suppress ``targets`` (later ranks) when kept; a source is
    kept if no kept source suppressed it before. Few edges are walked one by one, many
    (a crowded input) as one Python integer bit mask per source.
    """
    if sources.size == 0:
        return None
    if sources.size <= _EDGES_ONE_BY_ONE * num:
        suppressed = bytearray(num)
        for source, target in zip(sources.tolist(), targets.tolist()):
            if not suppressed[source]:
                suppressed[target] = 1
        return np.frombuffer(suppressed, dtype=np.uint8) == 0
    over = np.zeros((num, num), dtype=bool)
    over[sources, targets] = True
    firsts = np.flatnonzero(np.r_[True, sources[1:] != sources[:-1]])
    packed = np.packbits(over[sources[firsts]], axis=1, bitorder="little")
    stride = packed.shape[1]
    data = packed.tobytes()
    mask = 0
    for k, source in enumerate(sources[firsts].tolist()):
        if not (mask >> source) & 1:
            mask |= int.from_bytes(data[k * stride : (k + 1) * stride], "little")
    bits = np.frombuffer(mask.to_bytes(stride, "little"), dtype=np.uint8)
    return np.unpackbits(bits, count=num, bitorder="little") == 0


def small_outputs(boxes: np.ndarray, scores: np.ndarray, keep: np.ndarray) -> tuple[Tensor, Tensor]:
    """``(dets, keep)`` tensors: ``boxes[keep]`` with ``scores[keep]`` appended."""
    dets = np.empty((keep.shape[0], 5), dtype=boxes.dtype)
    dets[:, :4] = boxes[keep]
    dets[:, 4] = scores[keep]
    return torch.from_numpy(dets), torch.from_numpy(keep)
