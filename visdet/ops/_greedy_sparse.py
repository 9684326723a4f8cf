"""Sparse greedy NMS: only pairs of boxes that can intersect are ever compared.

With a non-negative threshold a pair with zero intersection never suppresses (its IoU
is 0, -0 or NaN), so only intersecting pairs matter. Sorting boxes by ``x1``, the
boxes ``b`` that can intersect ``a`` (with ``x1_a <= x1_b``) are those with
``x1_b <= fl(x2_a + offset)``, a contiguous run found by binary search; this superset
holds under float rounding because rounding is monotonic. The exact IoU (mmcv's float
operations) of these candidate pairs gives the suppression edges ``i -> j`` (rank
``i < j``, IoU above the threshold), and the greedy pass runs over blocks of ranks:
inside a block the decision is the fixed point of :func:`resolve_block`, and the
block's kept boxes then suppress the targets of their edges.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from visdet.ops._nms_kernels import box_areas, index_order, resolve_block

# Candidate pairs examined per batch (bounds the temporary memory to ~100 MB).
_PAIRS_PER_BATCH = 1 << 22
# Give up on the sparse pass (the dense one is then cheaper) above this share of pairs.
_MAX_PAIR_FRACTION = 0.1
# Ranked boxes per block of the greedy pass.
_BLOCK = 512


def _suppression_edges(boxes: Tensor, areas: Tensor, threshold: Tensor, offset: int) -> tuple[Tensor, Tensor] | None:
    """Edges ``(src, dst)``, ``src < dst`` in rank, with IoU above the threshold; None if too dense."""
    num = boxes.shape[0]
    x1_sorted, x_order = torch.sort(boxes[:, 0], stable=True)
    x2, y1, y2 = (boxes[x_order, k].contiguous() for k in (2, 1, 3))
    area = areas[x_order]
    reach = x2 + offset if offset else x2
    end = torch.searchsorted(x1_sorted, reach, right=True)
    positions = torch.arange(num, device=boxes.device)
    counts = (end - positions - 1).clamp(min=0)
    cum = torch.cumsum(counts, 0)
    if int(cum[-1]) > _MAX_PAIR_FRACTION * num * (num - 1) / 2:
        return None
    first_pair = cum - counts
    sources, targets = [], []
    start = 0
    while start < num:
        # boxes start..stop-1 contribute at most _PAIRS_PER_BATCH pairs (at least one box)
        budget = int(first_pair[start]) + _PAIRS_PER_BATCH
        stop = min(max(int(torch.searchsorted(cum, budget, right=True)), start + 1), num)
        a = torch.repeat_interleave(positions[start:stop], counts[start:stop])
        start = stop
        if a.numel() == 0:
            continue
        b = a + 1 + (torch.arange(a.numel(), device=boxes.device) - (first_pair[a] - first_pair[a[0]]))
        # mmcv's h = max(0, min(y2) - max(y1) + offset); pairs with h == 0 cannot suppress
        h = torch.minimum(y2[a], y2[b]) - torch.maximum(y1[a], y1[b])
        if offset:
            h = h + offset
        cand = torch.nonzero(h > 0).squeeze(1)
        a, b, h = a[cand], b[cand], h[cand]
        # x1 is sorted, so max(x1_a, x1_b) is x1_b exactly
        w = torch.minimum(x2[a], x2[b]) - x1_sorted[b]
        if offset:
            w = w + offset
        inter = w.clamp_(min=0) * h
        hit = inter / (area[a] + area[b] - inter) > threshold
        a, b = x_order[a[hit]], x_order[b[hit]]
        sources.append(torch.minimum(a, b))
        targets.append(torch.maximum(a, b))
    if not sources:
        empty = torch.zeros(0, dtype=torch.long, device=boxes.device)
        return empty, empty
    return torch.cat(sources), torch.cat(targets)


def greedy_sparse(boxes: Tensor, threshold: Tensor, offset: int, limit: int = -1) -> Tensor | None:
    """Keep mask ``Tensor[N]`` of greedy NMS over ranked boxes, or None if pairs are too dense."""
    num = boxes.shape[0]
    edges = _suppression_edges(boxes, box_areas(boxes, offset), threshold, offset)
    if edges is None:
        return None
    sources, order = torch.sort(edges[0])
    targets = edges[1][order]
    block_starts = torch.arange(0, num + _BLOCK, _BLOCK, device=boxes.device).clamp(max=num)
    bounds = torch.searchsorted(sources, block_starts).tolist()
    suppressed = torch.zeros(num, dtype=torch.bool, device=boxes.device)
    keep = torch.zeros(num, dtype=torch.bool, device=boxes.device)
    kept_total = 0
    for block, start in enumerate(range(0, num, _BLOCK)):
        end = min(start + _BLOCK, num)
        alive = ~suppressed[start:end]
        src, dst = sources[bounds[block] : bounds[block + 1]], targets[bounds[block] : bounds[block + 1]]
        inner = dst < end
        if bool(inner.any()):
            over = torch.zeros((end - start, end - start), dtype=torch.bool, device=boxes.device)
            over[src[inner] - start, dst[inner] - start] = True
            block_keep = resolve_block(over, alive)
        else:
            block_keep = alive
        keep[start:end] = block_keep
        if limit > 0:
            kept_total += int(block_keep.sum())
            if kept_total >= limit:
                break
        outer = ~inner
        outer &= block_keep[src - start]
        suppressed[dst[outer]] = True
    return keep


# numpy pass: candidate pairs per batch (bounds its temporaries to about 40 bytes a pair)
_NUMPY_PAIRS_PER_BATCH = 1 << 13
# numpy pass: give up (the dense blocks are then cheaper) above this share of pairs. Measured: at 0.5 the
# crowded classes of RTMDet-l's 90k random-weight candidates (78 groups) took 0.89 s in 6606 pair batches,
# 0.19 s at 0.25; 1000 random boxes (benchmarks.compare_ops) need above 0.1 to stay on this pass (0.47x mmcv)
_NUMPY_MAX_PAIR_FRACTION = 0.25


def numpy_overlaps(
    columns: tuple[np.ndarray, ...], offset: int, max_fraction: float, pairs_per_batch: int = _NUMPY_PAIRS_PER_BATCH
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]] | None:
    """Batches ``(a, b, iou)`` of the pairs of boxes that may intersect, or None if too many.

    ``a`` and ``b`` index the boxes (``columns``, :func:`numpy_columns`); every pair whose
    intersection is positive is in exactly one batch, in one of its two orders, with its
    IoU by mmcv's float operations; pairs left out have zero intersection. None when
    more than ``max_fraction`` of all pairs overlap along x (the dense passes are then
    as cheap).
    """
    x1, y1, x2, y2, area = columns
    num = x1.shape[0]
    x_order = np.argsort(x1, kind="stable")
    x1_sorted = x1[x_order]
    x2, y1, y2, area = x2[x_order], y1[x_order], y2[x_order], area[x_order]
    reach = x2 + x2.dtype.type(offset) if offset else x2
    positions = np.arange(num)
    counts = np.searchsorted(x1_sorted, reach, side="right") - positions - 1
    np.maximum(counts, 0, out=counts)
    cum = np.cumsum(counts)
    if num < 2 or cum[-1] > max_fraction * num * (num - 1) / 2:
        return None
    first_pair = cum - counts

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        start = 0
        while start < num:
            budget = first_pair[start] + pairs_per_batch
            stop = min(max(int(np.searchsorted(cum, budget, side="right")), start + 1), num)
            a = np.repeat(positions[start:stop], counts[start:stop])
            start = stop
            if a.size == 0:
                continue
            b = np.arange(a.size)
            b -= first_pair[a]
            b += a + 1 + first_pair[a[0]]
            # the float operations of _suppression_edges (mmcv's, pair by pair)
            h = np.minimum(y2[a], y2[b])
            h -= np.maximum(y1[a], y1[b])
            if offset:
                h += h.dtype.type(offset)
            cand = np.flatnonzero(h > 0)
            a, b, h = a[cand], b[cand], h[cand]
            w = np.minimum(x2[a], x2[b])
            w -= x1_sorted[b]
            if offset:
                w += w.dtype.type(offset)
            np.maximum(w, 0, out=w)
            w *= h  # inter
            union = area[a] + area[b]
            union -= w
            with np.errstate(divide="ignore", invalid="ignore"):
                iou = np.divide(w, union, out=w)
            yield x_order[a], x_order[b], iou

    return batches()


def _numpy_edges(
    columns: tuple[np.ndarray, ...], threshold: np.ndarray, offset: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`_suppression_edges` on numpy arrays: ``(src, dst)`` ranks, or None if too dense."""
    overlaps = numpy_overlaps(columns, offset, _NUMPY_MAX_PAIR_FRACTION)
    if overlaps is None:
        return None
    sources, targets = [], []
    for a, b, iou in overlaps:
        hit = iou > threshold
        a, b = a[hit], b[hit]
        sources.append(np.minimum(a, b))
        targets.append(np.maximum(a, b))
    if not sources:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(sources), np.concatenate(targets)


def greedy_sparse_numpy(columns: tuple[np.ndarray, ...], threshold: np.ndarray, offset: int) -> np.ndarray | None:
    """Keep mask of greedy NMS from the numpy suppression edges, or None if pairs are too dense.

    The edges are walked by source rank: a source still unsuppressed when reached is
    kept (nothing earlier suppressed it) and suppresses its targets; boxes that are no
    edge's source need no step. ``columns`` are :func:`numpy_columns` of the ranked boxes.
    """
    edges = _numpy_edges(columns, threshold, offset)
    if edges is None:
        return None
    sources, targets = edges
    suppressed = np.zeros(columns[0].shape[0], dtype=bool)
    if sources.size:
        order = index_order(sources, columns[0].shape[0])
        sources, targets = sources[order], targets[order]
        firsts = np.flatnonzero(np.r_[True, sources[1:] != sources[:-1]])
        bounds = np.r_[firsts, sources.size].tolist()
        for index, source in enumerate(sources[firsts].tolist()):
            if not suppressed[source]:
                suppressed[targets[bounds[index] : bounds[index + 1]]] = True
    return ~suppressed
