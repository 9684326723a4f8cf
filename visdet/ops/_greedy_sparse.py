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

import torch
from torch import Tensor

from visdet.ops._nms_kernels import box_areas, resolve_block

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
