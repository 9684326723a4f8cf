"""The settling steps of the by-score soft-NMS path against the exact loop, bit for bit.

:func:`visdet.ops.soft_nms._settle_loop` settles the boxes of the pairs highest first (a
sorted list merged with a heap of the decayed boxes); a decayed box whose only pair is the
settling box's, or whose partners have all settled, settles at once, without the heap;
:func:`visdet.ops.soft_nms._soft_nms_by_score` picks the pairs of ``linear`` and ``naive``
decay by ``iou >= threshold`` before weighing them. Each case here is checked against the
exact loop (the fast paths off) and the torch loop: same kept indices in the same order,
bit-equal ``dets``; ties must send the call to the exact loop.
"""

from __future__ import annotations

import heapq
import importlib
import types

import numpy as np
import pytest
import torch

from tests.ops.spies import patched
from tests.ops.test_soft_nms_by_score import _assert_same, _exact, counting_answers, counting_by_score
from visdet.ops import soft_nms

soft_nms_module = importlib.import_module("visdet.ops.soft_nms")


def _pairs_apart(num_pairs: int, seed: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes in ``num_pairs`` overlapping pairs far apart from each other, random distinct scores."""
    gen = torch.Generator().manual_seed(seed)
    origin = torch.arange(num_pairs, dtype=torch.float64)[:, None] * 100
    first = torch.cat([origin, origin, origin + 20, origin + 20], 1)
    shift = torch.rand(num_pairs, 2, generator=gen, dtype=torch.float64) * 8
    second = first + torch.cat([shift, shift], 1)
    boxes = torch.stack([first, second], 1).reshape(-1, 4)
    scores = torch.rand(2 * num_pairs, generator=gen, dtype=torch.float64)
    return boxes.to(dtype), scores.to(dtype)


def _check(boxes, scores, threshold, sigma, min_score, method, *, answered: bool):
    args = (boxes, scores, threshold, sigma, min_score, method)
    with counting_by_score() as answers:
        result = soft_nms(*args)
    assert answers == [answered]
    _assert_same(result, _exact(*args))
    _assert_same(result, soft_nms_module._soft_nms(*args, 0))
    return result


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("method, threshold", [("linear", 0.3), ("naive", 0.3), ("gaussian", 0.3), ("linear", 0.0)])
@pytest.mark.parametrize("min_score", [1e-3, 0.3])
def test_pairs_apart_settle_alone(dtype, method, threshold, min_score):
    """Only pairs whose boxes are in no other pair: no heap; drops at ``min_score`` 0.3."""
    for seed in range(4):
        boxes, scores = _pairs_apart(12, seed, dtype)
        _check(boxes, scores, threshold, 0.5, min_score, method, answered=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pairs_apart_and_chains(dtype):
    """Pairs apart next to chains of three and four boxes (the heap), one box of a chain dropped."""
    boxes, scores = _pairs_apart(6, 1, dtype)
    chain = torch.tensor([[0.0, 0, 10, 10], [2, 0, 12, 10], [4, 0, 14, 10], [6, 0, 16, 10]], dtype=dtype)
    boxes = torch.cat([boxes, chain + 1000, chain[:3] + 2000])
    chain_scores = torch.tensor([0.5, 0.95, 0.7, 0.2, 0.9, 0.3, 0.85], dtype=dtype)
    scores = torch.cat([scores, chain_scores])
    for min_score in (1e-3, 0.1, 0.25):
        _check(boxes, scores, 0.3, 0.5, min_score, "linear", answered=True)


def _heap_pushes(boxes, scores, min_score=1e-3) -> int:
    """The heap entries :func:`_settle_loop` pushes for these boxes (linear, threshold 0.3)."""
    pushes = []

    def push(heap, item):
        pushes.append(item)
        heapq.heappush(heap, item)

    counting = types.SimpleNamespace(heappush=push, heappop=heapq.heappop)
    with patched(soft_nms_module, heapq=counting):
        _check(boxes, scores, 0.3, 0.5, min_score, "linear", answered=True)
    return len(pushes)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_boxes_whose_partners_all_settled_skip_the_heap(dtype):
    """A decayed box whose partners have all settled settles at once; others go to the heap."""
    boxes, scores = _pairs_apart(12, 0, dtype)
    assert _heap_pushes(boxes, scores) == 0
    # a star: the highest box decays three boxes (IoU 0.43 with it, at most 0.22 with each other)
    star = torch.tensor([[0.0, 0, 10, 10], [4, 0, 14, 10], [-4, 0, 6, 10], [0, 4, 10, 14]], dtype=dtype)
    assert _heap_pushes(star, torch.tensor([0.9, 0.5, 0.6, 0.7], dtype=dtype)) == 0
    # a path a - b - c (a and c too far apart to decay each other): b, decayed by a, still has
    # c to decay (the heap); c, decayed by b, has no other pair; min_score 0.2 drops c
    path = torch.tensor([[0.0, 0, 10, 10], [4, 0, 14, 10], [8, 0, 18, 10]], dtype=dtype)
    for min_score in (1e-3, 0.2):
        assert _heap_pushes(path, torch.tensor([0.9, 0.8, 0.3], dtype=dtype), min_score) == 1
    # the middle box of the path lowest: decayed by a (b still to settle: the heap), then by
    # b, the last of its partners (settled at once)
    assert _heap_pushes(path, torch.tensor([0.9, 0.3, 0.8], dtype=dtype)) == 1


def test_tie_within_a_pair_apart_declines():
    # boxes 0 and 1 overlap only each other and tie: mmcv's working order decides which decays
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [52, 50, 62, 60]])
    scores = torch.tensor([0.6, 0.6, 0.9, 0.5])
    _check(boxes, scores, 0.3, 0.5, 1e-3, "linear", answered=False)


def test_tie_with_a_partner_in_the_heap_declines():
    # box 0 is in two pairs (the heap); it pops first of the tied boxes 0 and 1, its partner
    boxes = torch.tensor([[0.0, 0, 10, 10], [2, 0, 12, 10], [-3, 0, 7, 10], [50, 50, 60, 60]])
    scores = torch.tensor([0.6, 0.6, 0.3, 0.8])
    _check(boxes, scores, 0.3, 0.5, 1e-3, "linear", answered=False)
    # the same boxes without the tie are answered
    _check(boxes, torch.tensor([0.6, 0.55, 0.3, 0.8]), 0.3, 0.5, 1e-3, "linear", answered=True)


def test_tie_between_boxes_of_no_common_pair_declines():
    # box 4 decays nothing and is decayed by nothing; its score equals box 0's (kept undecayed)
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10], [2, 0, 12, 10], [50, 50, 60, 60], [90, 90, 99, 99]])
    scores = torch.tensor([0.7, 0.5, 0.4, 0.8, 0.7])
    _check(boxes, scores, 0.3, 0.5, 1e-3, "linear", answered=False)
    # without the tie: answered
    _check(boxes, torch.tensor([0.7, 0.5, 0.4, 0.8, 0.65]), 0.3, 0.5, 1e-3, "linear", answered=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pairs_in_any_order_give_the_same_picks(dtype):
    """``_pick_by_score`` does not depend on the order of the pairs nor on which end is the row."""
    boxes, scores = _pairs_apart(10, 3, torch.float64)
    chain = torch.tensor([[0.0, 0, 10, 10], [2, 0, 12, 10], [4, 0, 14, 10]], dtype=torch.float64)
    boxes = torch.cat([boxes, chain + 5000]).numpy().astype(dtype)
    scores = torch.cat([scores, torch.tensor([0.4, 0.99, 0.45], dtype=torch.float64)]).numpy().astype(dtype)
    rows, cols, iou = soft_nms_module.intersecting_pairs(boxes, scores, 0)
    hit = iou >= dtype(0.3)
    rows, cols, weights = rows[hit], cols[hit], dtype(1) - iou[hit]
    expected = soft_nms_module._pick_by_score(scores, rows, cols, weights, dtype(1e-3))
    assert expected is not None
    rng = np.random.default_rng(0)
    for _ in range(5):
        order = rng.permutation(rows.size)
        swap = rng.random(rows.size) < 0.5
        shuffled_rows = np.where(swap, cols, rows)[order]
        shuffled_cols = np.where(swap, rows, cols)[order]
        result = soft_nms_module._pick_by_score(scores, shuffled_rows, shuffled_cols, weights[order], dtype(1e-3))
        assert result is not None
        assert np.array_equal(result[0], expected[0]) and np.array_equal(result[1], expected[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["linear", "naive"])
def test_hits_by_threshold_are_the_pairs_whose_weight_is_not_one(dtype, method):
    """Above ``_TINY_THRESHOLD``, ``iou >= threshold`` selects the pairs of weight != 1, with the same weights."""
    tiny = soft_nms_module._TINY_THRESHOLD
    rng = np.random.default_rng(1)
    iou = np.concatenate([rng.random(2000), 2.0 ** -rng.uniform(15, 60, 2000), [2.0**-24, 2.0**-25, 2.0**-26]])
    iou = iou.astype(dtype)
    for threshold in (dtype(tiny * 1.001), dtype(1e-5), dtype(0.3), dtype(0.99)):
        assert threshold > tiny
        weights = soft_nms_module._weights(iou.copy(), threshold, dtype(0.5), method, torch.float32)
        changed = weights != 1
        hits = iou >= threshold
        assert np.array_equal(changed, hits)
        selected = dtype(1) - iou[hits] if method == "linear" else np.zeros_like(iou[hits])
        assert np.array_equal(selected, weights[changed]) and selected.dtype == weights.dtype


def test_threshold_at_most_tiny_weighs_every_pair():
    """At or below ``_TINY_THRESHOLD`` the weights of every pair decide (1 - iou may round to 1).

    A pair of weight 1 would change no score, but it is not passed on: the picks see the
    pairs of weight other than 1 only (the far pair's IoU, about 5e-13, gives 1 - iou == 1).
    """
    boxes, scores = _pairs_apart(8, 2, torch.float32)
    far = torch.tensor([[0.0, 0, 1e6, 1e6], [1e6 - 1, 1e6 - 1, 2e6, 2e6]]) + 1e4
    boxes, scores = torch.cat([boxes, far]), torch.cat([scores, torch.tensor([0.9, 0.8])])
    original = soft_nms_module._pick_by_score
    seen = []

    def spy(scores, rows, cols, weights, min_score):
        seen.append((rows.size, bool((weights != 1).all())))
        return original(scores, rows, cols, weights, min_score)

    with patched(soft_nms_module, _pick_by_score=spy):
        for threshold in (soft_nms_module._TINY_THRESHOLD, 1e-9, 0.0):
            result = soft_nms(boxes, scores, threshold, 0.5, 1e-3, "linear")
            _assert_same(result, _exact(boxes, scores, threshold, 0.5, 1e-3, "linear"))
    assert seen == [(8, True)] * 3


def _zeroed_calls(args) -> tuple[tuple[torch.Tensor, torch.Tensor], list[bool]]:
    """``soft_nms(*args)`` and, per call of ``_zeroed`` (the naive walk), whether it answered."""
    with counting_answers("_zeroed") as calls:
        result = soft_nms(*args)
    return result, calls


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_naive_decay_is_a_greedy_walk(dtype):
    """``naive`` zeroes each pick's decaying partners, which ``min_score > 0`` then drops: greedy
    NMS over the pairs in score order, by ``_zeroed``. Chains (a zeroed box zeroes nothing), a
    star and the benchmark's random boxes, against the exact loop; ``min_score`` 0 keeps zeroed
    boxes (score 0), so the settle loop runs there instead."""
    chain = torch.tensor([[0.0, 0, 10, 10], [2, 0, 12, 10], [4, 0, 14, 10], [6, 0, 16, 10]], dtype=dtype)
    star = torch.tensor([[0.0, 0, 10, 10], [4, 0, 14, 10], [-4, 0, 6, 10], [0, 4, 10, 14]], dtype=dtype)
    boxes = torch.cat([chain, chain[:3] + 100, star + 200])
    scores = torch.tensor([0.5, 0.95, 0.7, 0.2, 0.9, 0.3, 0.85, 0.99, 0.4, 0.6, 0.8], dtype=dtype)
    gen = torch.Generator().manual_seed(3)
    cases = [(boxes, scores)]
    for num in (60, 200):
        xy = torch.rand(num, 2, generator=gen) * 400
        wh = 4 + torch.rand(num, 2, generator=gen) * 80
        cases.append((torch.cat([xy, xy + wh], 1).to(dtype), torch.rand(num, generator=gen, dtype=dtype)))
    for case_boxes, case_scores in cases:
        for threshold in (0.1, 0.3):
            args = (case_boxes, case_scores, threshold, 0.5, 1e-3, "naive")
            result, calls = _zeroed_calls(args)
            assert calls == [True]
            _assert_same(result, _exact(*args))
            _assert_same(result, soft_nms_module._soft_nms(*args, 0))
            assert result[1].numel() < case_boxes.shape[0]  # some boxes were zeroed and dropped
            assert torch.equal(result[0][:, 4], case_scores[result[1]])  # the kept ones keep their scores
            args = (case_boxes, case_scores, threshold, 0.5, 0.0, "naive")
            result, calls = _zeroed_calls(args)
            assert calls == []
            _assert_same(result, soft_nms_module._soft_nms(*args, 0))
    # the chain at threshold 0.5 (IoU 0.67 between neighbours, 0.43 two apart): 0.95 zeroes its
    # neighbours 0.5 and 0.7; 0.2 overlaps only the zeroed 0.7 that much, so it stays
    result, _ = _zeroed_calls((boxes[:4], scores[:4], 0.5, 0.5, 1e-3, "naive"))
    assert result[1].tolist() == [1, 3]


def test_naive_tie_within_a_pair_declines():
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [52, 50, 62, 60]])
    scores = torch.tensor([0.5, 0.5, 0.9, 0.3])
    args = (boxes, scores, 0.3, 0.5, 1e-3, "naive")
    result, calls = _zeroed_calls(args)
    assert calls == [False]
    _assert_same(result, soft_nms_module._soft_nms(*args, 0))
