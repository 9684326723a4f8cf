"""Greedy NMS of few boxes on the CPU in one short numpy pass (the small-input fast path).

At tens of boxes the cost of :func:`visdet.ops.nms` and :func:`visdet.ops.batched_nms`
is fixed overhead, not arithmetic: argument checks that each run a torch reduction,
torch calls of several microseconds each, the general passes' set-up. For CPU
float32/float64 inputs without gradients, up to :data:`SMALL_MAX_BOXES` boxes, this
module does the whole call in about thirty numpy calls:

* the ranking of mmcv's ``scores.sort(0, descending=True)``: numpy's sort when the scores
  are distinct (then every sort agrees), torch's own call when some are tied;
* the intersection sides of every ranked pair (above :data:`DENSE_MAX_BOXES` boxes, of
  every pair of x-sorted neighbours that can intersect) by mmcv's float operations in
  the boxes' dtype (``min``/``max`` of the corners, ``+ offset``), then, for the pairs with a
  positive intersection only (any other pair's IoU is 0, -0 or NaN, never above a
  non-negative threshold), ``inter / (area_i + area_j - inter)``: each IoU bit-identical
  to mmcv's and to the general passes';
* mmcv's greedy loop over the suppression edges (IoU above the threshold, later rank):
  a source not yet suppressed when reached is kept and suppresses its targets;
* the outputs built from numpy arrays.

Anything else (another device or dtype, gradients, more boxes or too crowded ones, a positive
``score_threshold``, a negative IoU threshold, NaN or inf, malformed arguments) returns
None, and the general path runs, with its checks and error messages.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor

from visdet.ops import _nms_kernels

# Up to this many boxes, the fast path.
SMALL_MAX_BOXES = 512
# Up to this many boxes, its pairs come from [2, N, N] arrays (80 KiB in float32); above,
# from a band of x-sorted neighbours (:func:`_band_pairs`; as fast at about 100 random
# boxes, faster above).
DENSE_MAX_BOXES = 100
# The band's [W, N] elements at most (its [2, W, N] sides: 256 KiB in float32; random boxes
# as the benchmark draws them fit up to about 360 boxes); a wider band (more or crowded
# boxes) declines, and the general path's sparse or dense pass runs.
_BAND_MAX_ELEMENTS = 1 << 15
# Up to this many suppression edges per box, the greedy walk takes them one by one.
_EDGES_ONE_BY_ONE = 4
_DTYPES = (torch.float32, torch.float64)
_IDX_DTYPES = (torch.int64, torch.int32, torch.float32, torch.float64)


@functools.lru_cache(maxsize=DENSE_MAX_BOXES + 1)
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
    kept = walk(rows[hit], cols[hit], order.shape[0])
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
    boxes' dtype. Up to :data:`DENSE_MAX_BOXES` boxes the pairs come in row-major order,
    above in no particular order. None when a box or score is NaN or inf (checked here,
    cheaply), or when the band of x-neighbours is too wide (crowded boxes).
    """
    corners = _corners(box_array, offset)
    # a NaN or inf coordinate makes its area NaN or inf, and any of them the dot product;
    # then (or if the dot product overflows) the general path decides, and raises its error
    if not np.isfinite(np.dot(corners[1], score_array)):
        return None
    if box_array.shape[0] <= DENSE_MAX_BOXES:
        return _dense_pairs(*corners, offset)
    return _band_pairs(*corners, offset)


def _corners(box_array: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows x1, y1, x2, y2 (``[4, N]``, contiguous: the pairwise loops run along rows) and the areas."""
    corners = np.ascontiguousarray(box_array.T)
    sides = corners[2:] - corners[:2]
    if offset:
        sides += corners.dtype.type(offset)
    return corners, sides[0] * sides[1]


def _dense_pairs(corners: np.ndarray, area: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`intersecting_pairs` from every pair's ``[2, N, N]`` intersection sides."""
    num = corners.shape[1]
    # pairwise [2, N, N] sides of the intersections: along x, then along y
    overlap = np.minimum(corners[2:, :, None], corners[2:, None, :])
    overlap -= np.maximum(corners[:2, :, None], corners[:2, None, :])
    if offset:
        overlap += corners.dtype.type(offset)
    positive = overlap > 0
    both = positive[0]
    both &= positive[1]
    both &= _later(num)
    pairs = np.flatnonzero(both)
    rows, cols = np.divmod(pairs, num)
    return rows, cols, _iou(overlap[0].ravel()[pairs], overlap[1].ravel()[pairs], area, rows, cols)


def _band_pairs(corners: np.ndarray, area: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`intersecting_pairs` from the boxes' x-sorted neighbours, or None if the band is too wide.

    In ``x1`` order, a box can intersect only the boxes after it up to ``fl(x2 + offset)``
    (the sparse passes' superset, :mod:`visdet.ops._greedy_sparse`), at most ``W`` of them:
    each box is compared with the next ``W`` as ``[W, N]`` windows of one padded copy of
    the sorted corners (views, not copies). The padding is ``+inf``, whose intersection
    sides with any finite box are ``-inf``; each pair's sides, tests and IoU are those of
    :func:`_dense_pairs`, element for element.
    """
    num = corners.shape[1]
    x_order = corners[0].argsort(kind="stable")
    ordered = corners[:, x_order]
    reach = ordered[2]
    if offset:
        reach = reach + corners.dtype.type(offset)
    width = int((ordered[0].searchsorted(reach, side="right") - np.arange(1, num + 1)).max())
    if num * width > _BAND_MAX_ELEMENTS:
        return None
    if width <= 0:
        none = np.zeros(0, dtype=np.int64)
        return none, none, area[:0].copy()
    padded = np.empty((4, num + width), dtype=corners.dtype)
    padded[:, :num] = ordered
    padded[:, num:] = np.inf
    # window[:, k, p] is the box k + 1 places after box p in x order: a strided view of
    # ``padded`` (sliding_window_view's, without its per-call cost), boxes along the last
    # axis, so that each of the W rows below runs over N contiguous boxes
    stride_corner, stride_box = padded.strides
    window = np.ndarray((4, width, num), padded.dtype, padded, stride_box, (stride_corner, stride_box, stride_box))
    boxes = padded[:, None, :num]
    overlap = np.minimum(boxes[2:], window[2:])
    overlap -= np.maximum(boxes[:2], window[:2])
    if offset:
        overlap += corners.dtype.type(offset)
    positive = overlap > 0
    both = positive[0]
    both &= positive[1]
    pairs = both.ravel().nonzero()[0]
    step, first = np.divmod(pairs, num)
    first_box = x_order[first]
    second_box = x_order[first + 1 + step]
    rows = np.minimum(first_box, second_box)
    cols = np.maximum(first_box, second_box)
    return rows, cols, _iou(overlap[0].ravel()[pairs], overlap[1].ravel()[pairs], area, rows, cols)


def _iou(width: np.ndarray, height: np.ndarray, area: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The IoU ``inter / (area_i + area_j - inter)`` (mmcv's) from positive intersection sides (``width`` is reused)."""
    width *= height  # inter
    union = area[rows] + area[cols]
    union -= width  # positive: both boxes have a positive area, each at least inter
    return np.divide(width, union, out=width)


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


def walk(sources: np.ndarray, targets: np.ndarray, num: int) -> np.ndarray | None:
    """Keep mask of mmcv's greedy loop given its suppression edges, or None if all are kept.

    ``sources`` suppress ``targets`` (later ranks) when kept, edges in any order (the band's
    pairs come in x order): they are walked by source rank, and a source is kept if no kept
    source suppressed it before. Few edges are walked one by one, many (a crowded input) as
    one Python integer bit mask per source.
    """
    if sources.size == 0:
        return None
    by_source = _nms_kernels.index_order(sources, num)
    sources, targets = sources.take(by_source), targets.take(by_source)
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
