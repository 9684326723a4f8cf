"""The by-score soft-NMS path (:func:`visdet.ops.soft_nms._pick_by_score`) gives the exact loop's results.

mmcv's loop is :func:`visdet.ops.soft_nms._soft_nms_numpy` (the fast paths off:
``SMALL_MAX_BOXES = 0``) and the torch loop ``_soft_nms``: same kept indices in the same
order and bit-equal ``dets``, on random boxes with ties (integer coordinates, repeated
scores, identical and zero-size boxes), 1 to 300 boxes (the dense pairs up to
``SMALL_MAX_BOXES``, the sparse ones beyond), all three methods, ``min_score`` 0 to 0.5,
with the numpy rounds alone, the heap loop alone, or both.
"""

from __future__ import annotations

import contextlib
import importlib

import pytest
import torch

from tests.ops.spies import answers, patched
from tests.ops.test_numpy_paths import _boxes  # random boxes, with ties when coarse
from visdet.benchmark.cases.base import generator, random_boxes
from visdet.ops import _nms_small, soft_nms

soft_nms_module = importlib.import_module("visdet.ops.soft_nms")


def counting_answers(name: str) -> contextlib.AbstractContextManager[list[bool]]:
    """Records, per call of ``soft_nms_module.<name>``, whether it answered (True) or declined (False)."""
    return answers(soft_nms_module, name)


def counting_by_score() -> contextlib.AbstractContextManager[list[bool]]:
    """:func:`counting_answers` of ``_pick_by_score`` (the picks from the pairs)."""
    return counting_answers("_pick_by_score")


def _assert_same(result, expected) -> None:
    assert torch.equal(result[1], expected[1]), (result[1], expected[1])
    assert result[0].dtype == expected[0].dtype and result[1].dtype == torch.long
    torch.testing.assert_close(result[0], expected[0], rtol=0, atol=0, equal_nan=True)


def _exact(*args):
    with patched(_nms_small, SMALL_MAX_BOXES=0):
        return soft_nms(*args)


METHODS = [("linear", 0.3, 0.5), ("linear", 0.0, 0.5), ("naive", 0.3, 0.5), ("gaussian", 0.3, 2.0)]


@pytest.mark.parametrize("rounds_from", [1, 10**9])  # numpy rounds down to 1 pair, mixed, heap loop only
@pytest.mark.parametrize("method, threshold, sigma", METHODS)
@pytest.mark.parametrize("num, scale", [(1, 20.0), (7, 20.0), (40, 60.0), (100, 200.0), (129, 100.0), (300, 600.0)])
def test_by_score_equals_exact_loop(num, scale, method, threshold, sigma, rounds_from):
    with patched(soft_nms_module, _ROUNDS_FROM_PAIRS=rounds_from):
        for seed in range(2):
            for coarse in (False, True):
                for dtype in (torch.float32, torch.float64):
                    boxes, scores = _boxes(seed, num, scale, coarse, dtype)
                    for min_score, offset in ((1e-3, 0), (0.0, 1), (0.5, 0)):
                        args = (boxes, scores, threshold, sigma, min_score, method, offset)
                        result = soft_nms(*args)
                        _assert_same(result, _exact(*args))
                        if num <= 40:  # the torch loop (slow); the numpy loop equals it (tests/ops/test_numpy_paths.py)
                            _assert_same(result, soft_nms_module._soft_nms(*args))


@pytest.mark.parametrize("num", [8, 32, 100, 1000])
def test_by_score_answers_the_benchmark_inputs(num):
    """``benchmarks.compare_ops``' inputs (distinct random scores) take the by-score path."""
    gen = generator()
    boxes, scores = random_boxes(num, gen), torch.rand(num, generator=gen)
    with counting_by_score() as answers:
        result = soft_nms(boxes, scores, 0.3, 0.5, 1e-3, "linear")
    assert answers == [True]
    _assert_same(result, _exact(boxes, scores, 0.3, 0.5, 1e-3, "linear"))


def test_by_score_declines_ties_and_the_exact_loop_decides():
    # identical boxes with equal scores: the first pick (box 2) swaps places with box 0, so mmcv's
    # working order then has box 1 first: box 1 is kept and box 0 dropped (naive)
    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10], [30, 30, 40, 40]])
    scores = torch.tensor([0.5, 0.5, 0.9])
    with counting_by_score() as answers:
        dets, keep = soft_nms(boxes, scores, 0.3, 0.5, 1e-3, "naive")
    assert answers == [False]
    assert keep.tolist() == [2, 1]
    _assert_same((dets, keep), soft_nms_module._soft_nms(boxes, scores, 0.3, 0.5, 1e-3, "naive", 0))
    # a decayed score equal to an untouched one, above 128 boxes: declined on the small path's
    # band of x-neighbours, then on the general path's sparse pairs
    far = torch.tensor([[1000.0, 1000, 1001, 1001]]) + torch.arange(130.0)[:, None] * 10
    boxes = torch.cat([torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 5], [50, 50, 60, 60]]), far])
    scores = torch.cat([torch.tensor([0.9, 0.8, 0.4]), torch.linspace(0.3, 0.01, 130)])
    with counting_by_score() as answers:
        dets, keep = soft_nms(boxes, scores, 0.3, 0.5, 1e-3, "linear")
    assert answers == [False, False]
    assert keep[:3].tolist() == [0, 1, 2]
    _assert_same((dets, keep), soft_nms_module._soft_nms(boxes, scores, 0.3, 0.5, 1e-3, "linear", 0))


def test_first_pick_below_min_score_and_empty():
    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 9], [20, 20, 30, 30]], dtype=torch.float64)
    scores = torch.tensor([0.2, 0.3, 0.1], dtype=torch.float64)
    with counting_by_score() as answers:
        dets, keep = soft_nms(boxes, scores, 0.3, 0.5, 0.5, "linear")
    assert answers == [True] and keep.tolist() == [1]  # the first pick is kept whatever its score
    _assert_same((dets, keep), soft_nms_module._soft_nms(boxes, scores, 0.3, 0.5, 0.5, "linear", 0))
    dets, keep = soft_nms(boxes[:0], scores[:0])
    assert dets.shape == (0, 5) and keep.shape == (0,)


def test_decays_reach_a_box_in_pick_order():
    """A box decayed by two boxes settled in different rounds: the products in pick order (bit-equal)."""
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        xy = torch.rand(60, 2, generator=gen) * 30
        boxes = torch.cat([xy, xy + 10 + torch.rand(60, 2, generator=gen) * 10], 1)
        scores = torch.rand(60, generator=gen)
        for method in ("linear", "gaussian"):
            with patched(soft_nms_module, _ROUNDS_FROM_PAIRS=1):
                result = soft_nms(boxes, scores, 0.1, 0.5, 0.0, method)
            _assert_same(result, _exact(boxes, scores, 0.1, 0.5, 0.0, method))


def test_crowded_gaussian_decay_takes_the_loop_of_picks():
    """Gaussian decay weighs every intersecting pair: with more than ``_LOOP_ABOVE_PAIRS_PER_BOX``
    decaying pairs a box the by-score path declines (on the small path's pairs and on the sparse
    ones) and the numpy loop of picks answers, bit-equal; linear decay of the same boxes with a
    high threshold (few decaying pairs) is still answered by score."""
    gen = torch.Generator().manual_seed(5)
    for num, side in ((60, 70.0), (200, 150.0)):
        xy = torch.rand(num, 2, generator=gen) * side
        boxes = torch.cat([xy, xy + 20 + torch.rand(num, 2, generator=gen) * 20], 1)
        scores = torch.rand(num, generator=gen)
        lo = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
        hi = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
        intersecting = int(((hi - lo) > 0).all(-1).triu(1).sum())
        assert intersecting > soft_nms_module._LOOP_ABOVE_PAIRS_PER_BOX * num  # every one decays (gaussian)
        with counting_answers("_soft_nms_by_score") as answers:
            result = soft_nms(boxes, scores, 0.3, 0.5, 1e-3, "gaussian")
        # declined on the small path's pairs (60 boxes), then also on the sparse pairs (200)
        assert answers == [False] * (1 if num <= soft_nms_module._SPARSE_BY_SCORE_ABOVE else 2)
        with counting_answers("_soft_nms_by_score") as answers:
            linear = soft_nms(boxes, scores, 0.9, 0.5, 1e-3, "linear")
        assert answers == [True]
        _assert_same(result, soft_nms_module._soft_nms(boxes, scores, 0.3, 0.5, 1e-3, "gaussian", 0))
        _assert_same(linear, soft_nms_module._soft_nms(boxes, scores, 0.9, 0.5, 1e-3, "linear", 0))
        assert int((result[0][:, 4] < scores[result[1]]).sum()) > num // 2  # most scores decayed
