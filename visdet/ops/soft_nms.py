"""Soft-NMS over axis-aligned boxes, as mmcv 2.1's CPU kernel computes it.

Shapes: N boxes, ``boxes`` ``Tensor[N, 4]`` absolute xyxy, ``scores`` ``Tensor[N]``;
results ``dets`` ``Tensor[K, 5]`` (box and decayed score) and ``keep`` ``Tensor[K]``.

The loop over picks is sequential by nature (each pick changes every later score), but
each step is vectorised over the remaining boxes; on CPU float32/float64 inputs the loop
runs on numpy arrays with the pairs' weights computed up front (see
:func:`_soft_nms_numpy`), same operations, same results; where only intersecting
pairs decay and no scores tie at a pick, the picks follow from the final scores
(:func:`_pick_by_score`; pairs from :func:`_soft_nms_small` up to 512 boxes, from
:func:`_soft_nms_sparse_by_score` beyond).
The IoU arithmetic is mmcv's (see :mod:`visdet.ops.nms`). mmcv moves inputs to the CPU for this op; visdet runs on the
inputs' device. Degenerate boxes (zero area, inverted) have zero intersection with
everything (``offset=0``), so their IoU with any box is 0 (or NaN for two zero-area
boxes): with ``iou_threshold > 0`` they neither decay nor are decayed (``naive`` and
``linear`` decay at ``iou >= iou_threshold``, so a threshold of 0 decays even them),
and under ``gaussian`` the weight is ``exp(0) = 1``. NaN or inf in boxes or scores raises ``ValueError``.

Exactness: IoUs and linear/naive weights are bit-identical to mmcv's; a gaussian weight
can differ from mmcv's ``expf`` by one ulp (decayed scores within ~1e-7).
"""

from __future__ import annotations

import heapq
from array import array

import numpy as np
import torch
from torch import Tensor

from visdet.ops import _nms_small
from visdet.ops._checks import check_choice, check_number
from visdet.ops._greedy import check_nms_args
from visdet.ops._greedy_sparse import numpy_overlaps
from visdet.ops._nms_kernels import box_areas, index_order, iou_matrix, numpy_columns, numpy_iou_block, numpy_ready
from visdet.ops._nms_small import intersecting_pairs, small_inputs, small_number
from visdet.ops._threads import loop_threads

SOFT_NMS_METHODS = {"naive": 0, "linear": 1, "gaussian": 2}
# On the CPU, without the sparse pairs, the weights of every pair are computed at once up
# to this many boxes (an N x N array, 256 KiB in float32); beyond, one row per pick.
_WEIGHTS_AT_ONCE = 256
# From this many boxes on, only pairs that intersect are listed (when their weights
# alone differ from 1), unless more than this share of pairs overlap along x.
_SPARSE_FROM = 16
_SPARSE_MAX_PAIR_FRACTION = 0.5
# Above this many boxes, when the small path declines, the general path tries the by-score
# picks on the sparse pairs before the numpy loop.
_SPARSE_BY_SCORE_ABOVE = 128
# With at least this many decaying pairs between unsettled boxes, a numpy round settles
# boxes (:func:`_settle_round`); with fewer, a Python loop finishes (:func:`_settle_loop`).
_ROUNDS_FROM_PAIRS = 64
# With more decaying pairs than this per box (gaussian decay of crowded boxes, where every
# intersecting pair decays), settling by score costs more than the numpy loop of picks: the
# by-score path declines. Measured on random boxes (benchmarks.compare_ops' kind), gaussian:
# 7 pairs a box at 400 boxes, by score 3.2 ms against the loop's 4.0; 9.3 at 512, 5.9 against
# 4.5; 20 at 1000, 28 against 12.
_LOOP_ABOVE_PAIRS_PER_BOX = 8
# Above this IoU threshold (in either dtype), ``1 - iou`` of a pair with ``iou >= threshold``
# is below 1 (1 - iou rounds to 1 only for iou at most half an ulp of 1, 2**-25 in float32).
_TINY_THRESHOLD = 2.0**-20


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
    if (
        small_inputs(boxes, scores, 0, offset)
        and small_number(iou_threshold)
        and small_number(sigma)
        and small_number(min_score)
        and method in SOFT_NMS_METHODS
    ):
        result = _soft_nms_small(boxes, scores, float(iou_threshold), float(sigma), float(min_score), method, offset)
        if result is not None:
            return result
    with loop_threads():  # the torch loop, and the numpy paths' gathers: see visdet.ops._threads
        iou_threshold, offset = check_nms_args(boxes, scores, iou_threshold, offset)
        sigma = check_number(sigma, "sigma")
        min_score = check_number(min_score, "min_score")
        check_choice(method, "method", tuple(SOFT_NMS_METHODS))
        if numpy_ready(boxes, scores) and boxes.dtype == scores.dtype:
            # (SMALL_MAX_BOXES = 0 turns the fast paths off: tests)
            if boxes.shape[0] > min(_nms_small.SMALL_MAX_BOXES, _SPARSE_BY_SCORE_ABOVE) > 0:
                result = _soft_nms_sparse_by_score(boxes, scores, iou_threshold, sigma, min_score, method, offset)
                if result is not None:
                    return result
            return _soft_nms_numpy(boxes, scores, iou_threshold, sigma, min_score, method, offset)
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

    A pick's weights depend only on the pair of boxes, so they are computed before the
    loop: for the intersecting pairs only when every other weight is exactly 1
    (:func:`_sparse_weights`, :func:`_sparse_loop`), otherwise per picked box against
    all boxes (:func:`_weight_rows`; for up to :data:`_WEIGHTS_AT_ONCE` boxes all rows
    at once) and gathered for the remaining ones. The loop then keeps
    only the working order of scores and indices (mmcv's swaps and swap-removals),
    a few numpy calls per pick, each a fraction of a torch call's cost.
    """
    num = boxes.shape[0]
    if num == 0:
        return boxes.new_zeros((0, 5)), torch.zeros(0, dtype=torch.long)
    columns = numpy_columns(boxes, offset)
    dtype = columns[0].dtype.type
    work = scores.detach().numpy().copy()  # scores in mmcv's working order
    inds = np.arange(num)
    settings = (dtype(iou_threshold), dtype(sigma), method, offset, boxes.dtype)
    sparse = _sparse_weights(columns, *settings) if num > _SPARSE_FROM else None
    all_rows = None
    if sparse is None and num <= _WEIGHTS_AT_ONCE:
        all_rows = _weight_rows(columns, np.arange(num), *settings)
    min_score_t = dtype(min_score)
    if sparse is not None:
        count = _sparse_loop(work, inds, sparse, min_score_t)
    else:
        count, i = num, 0
        while i < count:
            best = i + int(work[i:count].argmax())
            if best != i:
                work[i], work[best] = work[best], work[i]
                inds[i], inds[best] = inds[best], inds[i]
            if i + 1 < count:
                pick = inds[i : i + 1]
                weights = all_rows[pick[0]] if all_rows is not None else _weight_rows(columns, pick, *settings)[0]
                rest = work[i + 1 : count]
                rest *= weights[inds[i + 1 : count]]
                dropped = rest < min_score_t
                if np.count_nonzero(dropped):
                    count = _remove(work, inds, i, count, ~dropped)
            i += 1
    keep = torch.from_numpy(inds[:count].copy())
    decayed = torch.from_numpy(work[:count].copy())
    return torch.cat([boxes.detach()[keep], decayed[:, None]], dim=1), keep


def _soft_nms_small(
    boxes: Tensor, scores: Tensor, iou_threshold: float, sigma: float, min_score: float, method: str, offset: int
) -> tuple[Tensor, Tensor] | None:
    """Soft-NMS of few boxes (see :mod:`visdet.ops._nms_small`), or None where it does not apply.

    The pairs and their IoUs come from :func:`intersecting_pairs` (all at once);
    the rest is :func:`_soft_nms_by_score`.
    """
    box_array, score_array = boxes.numpy(), scores.numpy()
    dtype = box_array.dtype.type
    settings = (dtype(iou_threshold), dtype(sigma), dtype(min_score), method)
    if not _by_score_applies(*settings):
        return None
    pairs = intersecting_pairs(box_array, score_array, offset)
    if pairs is None:
        return None
    if method == "gaussian":
        sides = box_array[:, 2:] - box_array[:, :2]
        if offset:
            sides += dtype(offset)
        if not bool((sides[:, 0] * sides[:, 1] > 0).all()):
            return None
    return _soft_nms_by_score(box_array, score_array, *pairs, *settings, boxes.dtype)


def _soft_nms_sparse_by_score(
    boxes: Tensor, scores: Tensor, iou_threshold: float, sigma: float, min_score: float, method: str, offset: int
) -> tuple[Tensor, Tensor] | None:
    """:func:`_soft_nms_by_score` with the pairs of :func:`numpy_overlaps` (inputs checked), or None."""
    columns = numpy_columns(boxes, offset)
    dtype = columns[0].dtype.type
    settings = (dtype(iou_threshold), dtype(sigma), dtype(min_score), method)
    if not _by_score_applies(*settings) or (method == "gaussian" and not bool((columns[4] > 0).all())):
        return None
    overlaps = numpy_overlaps(columns, offset, _SPARSE_MAX_PAIR_FRACTION)
    if overlaps is None:
        return None
    batches = list(overlaps)
    if batches:
        rows, cols, iou = (np.concatenate(parts) for parts in zip(*batches))
    else:
        rows = cols = np.zeros(0, dtype=np.int64)
        iou = np.zeros(0, dtype=columns[0].dtype)
    box_array = boxes.detach().numpy()
    return _soft_nms_by_score(box_array, scores.detach().numpy(), rows, cols, iou, *settings, boxes.dtype)


def _by_score_applies(threshold: np.generic, sigma: np.generic, min_score: np.generic, method: str) -> bool:
    """Whether only intersecting pairs can have weights other than 1 and no score can ever rise.

    A pair with zero intersection has IoU +-0 (or NaN): weight exactly 1 for ``linear``,
    for ``naive`` with a positive threshold and for ``gaussian`` with a finite non-zero
    sigma (and positive areas, checked by the callers). With ``min_score >= 0`` every
    score left after the first pick is non-negative, and the weights lie in ``[0, 1]``
    (the IoU of an intersecting pair does, rounding included: ``inter`` is at most either
    area, so ``fl(area_a + area_b) >= 2 * inter`` and the union is at least ``inter``;
    gaussian weights need ``sigma > 0``), so decays only lower scores.
    """
    if not min_score >= 0:
        return False
    if method == "naive":
        return bool(threshold > 0)
    if method == "gaussian":
        return bool(np.isfinite(sigma) and sigma > 0)
    return True


def _soft_nms_by_score(
    box_array: np.ndarray,
    score_array: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    iou: np.ndarray,
    threshold: np.generic,
    sigma: np.generic,
    min_score: np.generic,
    method: str,
    dtype: torch.dtype,
) -> tuple[Tensor, Tensor] | None:
    """``(dets, keep)`` from the intersecting pairs ``rows, cols`` and their IoUs, or None.

    None: a tie (see :func:`_pick_by_score`), or more than :data:`_LOOP_ABOVE_PAIRS_PER_BOX`
    decaying pairs a box (the numpy loop of picks is then faster).

    ``linear`` and ``naive`` with a threshold above :data:`_TINY_THRESHOLD` select the
    pairs with ``iou >= threshold`` first and weigh those only (``1 - iou``, or 0): no
    other pair's weight differs from 1, and ``1 - iou`` is below 1 for each of them
    (``iou`` is far above half an ulp of 1), the same pairs and weights as :func:`_weights`
    on every pair followed by ``weights != 1``.
    """
    if method != "gaussian" and threshold > _TINY_THRESHOLD:
        hits = (iou >= threshold).nonzero()[0]
        rows, cols, iou = rows.take(hits), cols.take(hits), iou.take(hits)
        weights = iou.dtype.type(1) - iou if method == "linear" else np.zeros_like(iou)
    else:
        weights = _weights(iou, threshold, sigma, method, dtype)
        changed = weights != 1
        rows, cols, weights = rows[changed], cols[changed], weights[changed]
    if rows.size > _LOOP_ABOVE_PAIRS_PER_BOX * score_array.shape[0]:
        return None
    picks = _pick_by_score(score_array, rows, cols, weights, min_score)
    if picks is None:
        return None
    keep, decayed = picks
    dets = np.empty((keep.shape[0], 5), dtype=box_array.dtype)
    dets[:, :4] = box_array.take(keep, 0)
    dets[:, 4] = decayed
    return torch.from_numpy(dets), torch.from_numpy(keep)


def _pick_by_score(
    scores: np.ndarray, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, min_score: np.generic
) -> tuple[np.ndarray, np.ndarray] | None:
    """The soft-NMS loop of mmcv from the scores alone: ``(picks, their decayed scores)``, or None on a tie.

    ``rows[k], cols[k]``: the pairs whose weight ``weights[k]`` is not 1 (every other pair
    leaves scores as they are), each pair once, in any order. Scores only fall (see
    :func:`_by_score_applies`), so mmcv's picks come in decreasing order of their final
    scores: this computes the final scores and sorts them. A box's final score is its
    current one as soon as it is above the current scores of all its partners not yet
    settled (none of them can be picked before it); it then decays those partners, and a
    partner below ``min_score`` is dropped. Each partner's decays must come in pick order
    (float products do not associate): with many pairs left, a numpy round settles every
    box above all unsettled boxes within two pairs (:func:`_settle_round`), with few a
    Python loop settles them one by one (:func:`_settle_loop`). The first pick (the
    highest score, the first one on equal scores as in mmcv) is kept whatever its score;
    any other box below ``min_score`` is dropped at that pick before it decays anything.
    mmcv breaks ties by its working order (swaps and swap-removals), which is not kept
    here: two partners of equal score when one of them settles, or two kept boxes of
    equal final score, give None (the caller runs the exact loop). With no tie the
    decreasing order is unique, so any sort gives it.
    """
    current = scores.copy()
    alive = None  # all boxes kept so far
    if not bool(np.minimum.reduce(current) >= min_score):
        alive = current >= min_score
        alive[int(current.argmax())] = True
        if rows.size:
            both = alive[rows]
            both &= alive[cols]
            rows, cols, weights = rows[both], cols[both], weights[both]
    if rows.size and min_score > 0 and not weights.any():  # naive decay: every decaying pair zeroes
        dropped = _zeroed(current, rows, cols)
        if dropped is None:
            return None
        if alive is None:
            alive = np.ones(current.shape[0], dtype=bool)
        alive[dropped] = False
        rows = rows[:0]
    if rows.size >= _ROUNDS_FROM_PAIRS:
        if alive is None:
            alive = np.ones(current.shape[0], dtype=bool)
        while rows.size >= _ROUNDS_FROM_PAIRS:
            pairs = _settle_round(current, alive, rows, cols, weights, min_score)
            if pairs is None:
                return None
            rows, cols, weights = pairs
    if rows.size:
        dropped = _settle_loop(current, rows, cols, weights, min_score)
        if dropped is None:
            return None
        if dropped:
            if alive is None:
                alive = np.ones(current.shape[0], dtype=bool)
            alive[dropped] = False
    if alive is None:
        order = np.negative(current).argsort()
    else:
        kept = alive.nonzero()[0]
        order = kept.take(np.negative(current.take(kept)).argsort())
    ranked = current.take(order)
    if np.count_nonzero(ranked[1:] == ranked[:-1]):
        return None
    return order, ranked


def _zeroed(current: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray | None:
    """The boxes dropped when every pair's weight is 0 (``naive`` decay, ``min_score > 0``); None on a tie.

    A pick zeroes its partners still in play, which then fall below ``min_score``: greedy
    NMS over the pairs in score order (:func:`visdet.ops._nms_small.walk`, each pair taken
    from the higher box to the lower). Two partners of equal score are a
    tie (mmcv's working order picks one); equal scores of boxes in no common pair do not
    change which boxes fall (and two kept ones give None in the caller).
    """
    row_scores, col_scores = current.take(rows), current.take(cols)
    if np.count_nonzero(row_scores == col_scores):
        return None
    order = np.negative(current).argsort()
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    higher = row_scores > col_scores
    sources = rank.take(np.where(higher, rows, cols))
    targets = rank.take(np.where(higher, cols, rows))
    keep = _nms_small.walk(sources, targets, order.size)
    return order[~keep]


def _settle_round(
    current: np.ndarray,
    alive: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    weights: np.ndarray,
    min_score: np.generic,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Settle every box above all unsettled boxes within two pairs; the pairs left, or None on a tie.

    ``rows, cols``: pairs of unsettled boxes still alive. Two pairs: a box's decays must
    come in pick order, and every other box that can decay the same partner is within
    two pairs, so it is picked later (and one settled in an earlier round was picked
    earlier). Two settling boxes therefore never share a partner (unless their scores
    are equal: then both are kept with equal scores, and :func:`_pick_by_score` gives None).
    """
    row_scores, col_scores = current[rows], current[cols]
    if (row_scores == col_scores).any():
        return None
    near = current.copy()  # highest score of each box and its unsettled partners
    np.maximum.at(near, rows, col_scores)
    np.maximum.at(near, cols, row_scores)
    far = near.copy()  # ... and their partners
    np.maximum.at(far, rows, near[cols])
    np.maximum.at(far, cols, near[rows])
    settles = far == current
    row_settles, col_settles = settles[rows], settles[cols]
    decays = row_settles | col_settles
    targets = np.where(row_settles, cols, rows)[decays]
    current[targets] *= weights[decays]
    alive[targets[current[targets] < min_score]] = False
    rest = ~decays
    rest &= alive[rows]
    rest &= alive[cols]
    return rows[rest], cols[rest], weights[rest]


def _settle_loop(
    current: np.ndarray, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, min_score: np.generic
) -> list[int] | None:
    """The boxes of the pairs ``rows, cols`` settled one by one; the boxes dropped, or None on a tie.

    Decayed scores are written to ``current``. The boxes settle highest current score
    first: the boxes of the pairs in decreasing order of their scores (sorted once),
    merged with a heap of the decayed ones (negated scores; an entry is stale once its
    box settles or decays again). A settling box decays its partners not yet settled; a
    partner of equal current score is a tie (any other box of equal score settles with it
    unchanged, and the caller finds two kept boxes of equal final score). A decayed box
    whose partners have all settled (or dropped) is settled at once, without the heap
    (most of them: the lower box of a pair alone, the ends of chains, a box decayed by
    the last of its partners). float32 products are rounded through an
    ``array('f')`` (exact: the float64 product of two float32 values is exact, so one
    rounding gives numpy's float32 product).
    """
    scores = current.tolist()
    num = len(scores)
    partners: list[list[tuple[int, float]] | None] = [None] * num  # per box: (partner, weight)
    boxes: list[int] = []  # those of the pairs
    for row, col, weight in zip(rows.tolist(), cols.tolist(), weights.tolist()):
        mine = partners[row]
        if mine is None:
            partners[row] = [(col, weight)]
            boxes.append(row)
        else:
            mine.append((col, weight))
        mine = partners[col]
        if mine is None:
            partners[col] = [(row, weight)]
            boxes.append(col)
        else:
            mine.append((row, weight))
    order = sorted(boxes, key=scores.__getitem__, reverse=True)
    state = bytearray(num)  # 1: settled or dropped, 2: decayed, in the heap
    store = array("f" if current.dtype == np.float32 else "d", [0.0])
    limit = float(min_score)
    decayed: dict[int, float] = {}
    dropped: list[int] = []
    heap: list[tuple[float, int]] = []
    pop, push = heapq.heappop, heapq.heappush
    count, i = len(order), 0
    while True:
        while i < count and state[order[i]]:
            i += 1
        if heap:
            top, box = heap[0]
            if state[box] == 1 or -top != scores[box]:
                pop(heap)  # stale
                continue
            if i < count and scores[order[i]] >= -top:
                box = order[i]
                i += 1
            else:
                pop(heap)
        elif i < count:
            box = order[i]
            i += 1
        else:
            break
        top = scores[box]
        state[box] = 1
        for other, weight in partners[box]:
            if state[other] != 1:
                old = scores[other]
                if old == top:
                    return None
                store[0] = old * weight
                value = store[0]
                if value < limit:
                    state[other] = 1
                    dropped.append(other)
                elif value != old:
                    scores[other] = value
                    decayed[other] = value
                    for partner, _ in partners[other]:
                        if state[partner] != 1:
                            state[other] = 2
                            push(heap, (-value, other))
                            break
                    else:
                        state[other] = 1  # its partners have all settled (or dropped): so has it
    for box, value in decayed.items():
        current[box] = value
    return dropped


def _remove(work: np.ndarray, inds: np.ndarray, i: int, count: int, alive: np.ndarray) -> int:
    """Drop the rows ``i + 1:count`` not ``alive`` in mmcv's swap-removal order; the new count."""
    order = _swap_remove_order_numpy(alive)
    work[i + 1 : i + 1 + order.size] = work[i + 1 : count][order]
    inds[i + 1 : i + 1 + order.size] = inds[i + 1 : count][order]
    return i + 1 + order.size


def _sparse_loop(
    work: np.ndarray, inds: np.ndarray, sparse: tuple[list[int], np.ndarray, np.ndarray], min_score: np.generic
) -> int:
    """The pick loop when only the listed pairs have weights other than 1; returns the picks' count.

    A weight of exactly 1 leaves a score unchanged, so each pick multiplies only its
    listed partners, found through ``where``: each box's working position while it
    remains, else (picked or dropped) a spare slot past the scores, which starts at
    ``+inf`` and so never falls below ``min_score`` (``inf * w`` is ``inf``, or ``NaN``
    for ``w = 0``: neither is below). After the first pick, whose check covers every
    remaining score, only a decayed score can fall below ``min_score``.
    """
    starts, partners, weights = sparse
    num = work.shape[0]
    spare = num
    scores = np.empty(num + 1, dtype=work.dtype)  # the working scores, then the spare slot
    scores[:num] = work
    scores[spare] = np.inf
    where = np.arange(num)
    count, i = num, 0
    with np.errstate(invalid="ignore"):  # the spare slot: inf * 0
        while i < count:
            best = i + int(scores[i:count].argmax())
            pick = int(inds[best])
            if best != i:
                other = int(inds[i])
                scores[i], scores[best] = scores[best], scores[i]
                inds[i], inds[best] = pick, other
                where[other] = best
            if i + 1 < count:
                low, high = starts[pick], starts[pick + 1]
                dropped = 0
                if high > low:  # (a box without partners is no box's partner: its `where` is never read)
                    where[pick] = spare
                    positions = where[partners[low:high]]
                    decayed = scores[positions]
                    decayed *= weights[low:high]
                    scores[positions] = decayed
                    dropped = np.count_nonzero(decayed < min_score)
                if i == 0:
                    dropped = np.count_nonzero(scores[1:count] < min_score)
                if dropped:
                    alive = ~(scores[i + 1 : count] < min_score)
                    where[inds[i + 1 : count][~alive]] = spare
                    count = _remove(scores, inds, i, count, alive)
                    where[inds[i + 1 : count]] = np.arange(i + 1, count)
            i += 1
    work[:count] = scores[:count]
    return count


def _sparse_weights(
    columns: tuple[np.ndarray, ...], threshold: np.generic, sigma: np.generic, method: str, offset: int, dtype
) -> tuple[list[int], np.ndarray, np.ndarray] | None:
    """Per box (CSR: ``starts``, ``partners``, ``weights``) the boxes it decays with a weight other than 1.

    A pair with zero intersection has IoU +-0 (or NaN when both areas sum to 0), whose
    weight is exactly 1 for ``linear``, for ``naive`` with a positive threshold and for
    ``gaussian`` with a finite non-zero sigma and positive areas; other settings give
    None (the dense passes then apply), as do inputs where too many pairs overlap.
    """
    if method == "naive" and not threshold > 0:
        return None
    if method == "gaussian" and not (np.isfinite(sigma) and sigma != 0 and bool((columns[4] > 0).all())):
        return None
    overlaps = numpy_overlaps(columns, offset, _SPARSE_MAX_PAIR_FRACTION)
    if overlaps is None:
        return None
    sources, targets, values = [], [], []
    for a, b, iou in overlaps:
        weight = _weights(iou, threshold, sigma, method, dtype)
        changed = weight != 1
        a, b, weight = a[changed], b[changed], weight[changed]
        sources += [a, b]
        targets += [b, a]
        values += [weight, weight]
    num = columns[0].shape[0]
    if not sources:
        return [0] * (num + 1), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=columns[0].dtype)
    source = np.concatenate(sources)
    order = index_order(source, num)
    starts = np.searchsorted(source[order], np.arange(num + 1)).tolist()
    return starts, np.concatenate(targets)[order], np.concatenate(values)[order]


def _weight_rows(
    columns: tuple[np.ndarray, ...],
    rows: np.ndarray,
    threshold: np.generic,
    sigma: np.generic,
    method: str,
    offset: int,
    dtype: torch.dtype,
) -> np.ndarray:
    """Soft-NMS weights ``[len(rows), N]`` of boxes ``rows`` (picks) on every box, as :func:`_soft_weight`."""
    return _weights(numpy_iou_block(columns, rows, 0, offset), threshold, sigma, method, dtype)


def _weights(ovr: np.ndarray, threshold: np.generic, sigma: np.generic, method: str, dtype: torch.dtype) -> np.ndarray:
    """:func:`_soft_weight` on a numpy array of IoUs (overwritten)."""
    if method == "gaussian":
        exponent = np.negative(ovr * ovr, out=ovr)
        exponent /= sigma
        # torch's exp (the torch loop's, :func:`_soft_weight`) on one thread, also when the
        # small path calls this outside the ops' loop block: see visdet.ops._threads
        with loop_threads():
            return torch.from_numpy(exponent).double().exp_().to(dtype).numpy()
    one = ovr.dtype.type(1)
    if method == "naive":
        return np.where(ovr >= threshold, ovr.dtype.type(0), one)
    return np.where(ovr >= threshold, one - ovr, one)


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
