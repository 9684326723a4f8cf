"""The small-input fast path of nms / batched_nms (:mod:`visdet.ops._nms_small`) gives the general path's results.

The general path (the numpy passes of :mod:`visdet.ops._greedy`, with the full argument
checks) and the torch passes (:func:`visdet.ops._nms_kernels.torch_kernels_only`) are the
references: same kept indices in the same order and bit-equal ``dets``, on random boxes
with ties (integer coordinates, repeated scores, identical and zero-size boxes), 0 to
``SMALL_MAX_BOXES + 1`` boxes, IoU thresholds 0 and 1, both offsets, ``max_num`` and
group ids.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.ops.spies import answers
from tests.ops.test_numpy_paths import _boxes  # random boxes, with ties when coarse
from visdet.ops import _nms_small, batched_nms, nms, soft_nms
from visdet.ops._nms_kernels import torch_kernels_only

# the module (visdet.ops.nms is the function once the package is imported)
nms_module = importlib.import_module("visdet.ops.nms")
soft_nms_module = importlib.import_module("visdet.ops.soft_nms")


@contextlib.contextmanager
def general_path() -> Iterator[None]:
    saved = _nms_small.SMALL_MAX_BOXES
    _nms_small.SMALL_MAX_BOXES = 0
    try:
        yield
    finally:
        _nms_small.SMALL_MAX_BOXES = saved


@contextlib.contextmanager
def counting_fast_calls() -> Iterator[list[int]]:
    """Counts the calls that the fast path answered (``small_keep`` returning indices)."""
    calls = [0]
    original = _nms_small.small_keep

    def spy(*args, **kwargs):
        keep = original(*args, **kwargs)
        calls[0] += keep is not None
        return keep

    nms_module.small_keep = spy
    try:
        yield calls
    finally:
        nms_module.small_keep = original


def _assert_fast_calls(calls: int, num: int) -> None:
    """Up to ``DENSE_MAX_BOXES`` boxes the fast path answers; above ``SMALL_MAX_BOXES`` it is not asked.

    In between, the band of x-neighbours declines crowded inputs (tests/ops/test_nms_band.py).
    """
    if num <= _nms_small.DENSE_MAX_BOXES or num > _nms_small.SMALL_MAX_BOXES:
        assert calls == (0 < num <= _nms_small.SMALL_MAX_BOXES)


def _assert_same(result, expected) -> None:
    assert torch.equal(result[1], expected[1]), (result[1], expected[1])
    assert result[0].dtype == expected[0].dtype and result[1].dtype == torch.long
    torch.testing.assert_close(result[0], expected[0], rtol=0, atol=0, equal_nan=True)


cases = st.tuples(
    st.integers(0, 2**31 - 1),  # seed
    st.one_of(  # boxes: dense pairs, the band of x-neighbours, the general path (the last one)
        st.integers(0, _nms_small.DENSE_MAX_BOXES),
        st.integers(_nms_small.DENSE_MAX_BOXES + 1, _nms_small.SMALL_MAX_BOXES + 1),
    ),
    st.sampled_from([20.0, 200.0, 2000.0]),  # spread (many or few overlaps)
    st.booleans(),  # coarse (ties)
    st.sampled_from([torch.float32, torch.float64]),
    st.integers(0, 1),  # offset
    st.sampled_from([0.0, 0.3, 0.5, 0.9, 1.0]),  # IoU threshold
    st.sampled_from([-1, 0, 1, 5]),  # max_num
)


@settings(max_examples=150, deadline=None)
@given(cases, st.sampled_from([0, 4, 10**9]))
def test_nms_fast_path_equals_general_and_torch_paths(case, edges_one_by_one):
    """``edges_one_by_one``: the greedy walk by bit masks (0), edge by edge (10**9) or as chosen (4)."""
    seed, num, scale, coarse, dtype, offset, threshold, max_num = case
    boxes, scores = _boxes(seed, num, scale, coarse, dtype)
    saved = _nms_small._EDGES_ONE_BY_ONE
    _nms_small._EDGES_ONE_BY_ONE = edges_one_by_one
    try:
        with counting_fast_calls() as calls:
            result = nms(boxes, scores, threshold, offset=offset, max_num=max_num)
    finally:
        _nms_small._EDGES_ONE_BY_ONE = saved
    _assert_fast_calls(calls[0], num)
    with general_path():
        _assert_same(result, nms(boxes, scores, threshold, offset=offset, max_num=max_num))
    with torch_kernels_only():
        _assert_same(result, nms(boxes, scores, threshold, offset=offset, max_num=max_num))


@settings(max_examples=120, deadline=None)
@given(cases, st.integers(1, 6), st.sampled_from([torch.int64, torch.int32, torch.float32]), st.booleans())
def test_batched_nms_fast_path_equals_general_path(case, classes, idx_dtype, agnostic):
    seed, num, scale, coarse, dtype, offset, threshold, max_num = case
    boxes, scores = _boxes(seed, num, scale, coarse, dtype)
    idxs = torch.randint(0, classes, (num,), generator=torch.Generator().manual_seed(seed)).to(idx_dtype)
    cfg = {"type": "nms", "iou_threshold": threshold, "offset": offset, "max_num": max_num}
    with counting_fast_calls() as calls:
        result = batched_nms(boxes, scores, idxs, dict(cfg), class_agnostic=agnostic)
    _assert_fast_calls(calls[0], num)
    with general_path():
        _assert_same(result, batched_nms(boxes, scores, idxs, dict(cfg), class_agnostic=agnostic))
    with torch_kernels_only():
        _assert_same(result, batched_nms(boxes, scores, idxs, dict(cfg), class_agnostic=agnostic))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("threshold", [0.0, 0.5, 1.0])
def test_edge_cases(dtype, threshold):
    f = dict(dtype=dtype)
    one = (torch.tensor([[0.0, 0.0, 10.0, 10.0]], **f), torch.tensor([0.5], **f))
    problems = {
        "empty": (torch.zeros(0, 4, **f), torch.zeros(0, **f)),
        "one box": one,
        "two identical boxes, tied scores": (one[0].repeat(2, 1), torch.tensor([0.5, 0.5], **f)),
        "two disjoint boxes": (torch.tensor([[0.0, 0, 1, 1], [5, 5, 6, 6]], **f), torch.tensor([0.1, 0.9], **f)),
        "two zero-area boxes": (torch.tensor([[1.0, 1, 1, 5], [1, 1, 1, 5]], **f), torch.tensor([0.3, 0.3], **f)),
        "inverted box": (torch.tensor([[5.0, 5, 1, 1], [0, 0, 6, 6]], **f), torch.tensor([0.9, 0.8], **f)),
        "touching boxes": (torch.tensor([[0.0, 0, 2, 2], [2, 0, 4, 2]], **f), torch.tensor([0.9, 0.8], **f)),
        "half overlap": (
            torch.tensor([[0.0, 0, 2, 2], [0, 0, 1, 2], [0, 0, 2, 1]], **f),
            torch.tensor([3.0, 2, 1], **f),
        ),
        "all tied": (torch.tensor([[0.0, 0, 4, 4]] * 5, **f) + torch.arange(5, **f)[:, None], torch.ones(5, **f)),
    }
    for name, (boxes, scores) in problems.items():
        for offset in (0, 1):
            result = nms(boxes, scores, threshold, offset=offset)
            with general_path():
                _assert_same(result, nms(boxes, scores, threshold, offset=offset))
            with torch_kernels_only():
                _assert_same(result, nms(boxes, scores, threshold, offset=offset))
            idxs = torch.zeros(boxes.shape[0], dtype=torch.long)
            cfg = {"type": "nms", "iou_threshold": threshold, "offset": offset}
            batched = batched_nms(boxes, scores, idxs, cfg)
            with general_path():
                _assert_same(batched, batched_nms(boxes, scores, idxs, cfg))
            if name == "two identical boxes, tied scores":
                # IoU 1: suppressed unless the threshold is 1 (strictly greater suppresses)
                assert result[1].numel() == (2 if threshold == 1.0 else 1), name


def test_known_results():
    boxes = torch.tensor([[6.0, 3.0, 8.0, 7.0], [3.0, 6.0, 9.0, 11.0], [3.0, 7.0, 10.0, 12.0], [1.0, 4.0, 13.0, 7.0]])
    scores = torch.tensor([0.6, 0.9, 0.7, 0.2])
    dets, keep = nms(boxes, scores, iou_threshold=0.3)
    assert keep.tolist() == [1, 0, 3]  # mmcv's docstring example
    assert torch.equal(dets, torch.cat([boxes[keep], scores[keep, None]], 1))
    # groups 0 and 1: box 2 alone in group 1 survives though it overlaps box 1
    dets, keep = batched_nms(boxes, scores, torch.tensor([0, 0, 1, 0]), {"type": "nms", "iou_threshold": 0.3})
    assert keep.tolist() == [1, 2, 0, 3]


@pytest.mark.parametrize(
    "args, error, match",
    [
        ((torch.tensor([[0.0, 0, 1, float("nan")]]), torch.tensor([0.5]), 0.5), ValueError, "boxes must be finite"),
        ((torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([float("inf")]), 0.5), ValueError, "scores must be finite"),
    ],
)
def test_non_finite_inputs_still_raise(args, error, match):
    with pytest.raises(error, match=match):
        nms(*args)
    with pytest.raises(error, match=match):
        batched_nms(args[0], args[1], torch.zeros(1, dtype=torch.long), {"iou_threshold": 0.5})


def test_inputs_the_fast_path_leaves_to_the_general_path():
    boxes, scores = _boxes(3, 20, 200.0, False, torch.float32)
    with counting_fast_calls() as calls:
        nms(boxes.requires_grad_(), scores, 0.5)  # gradients flow through dets
        nms(boxes.detach(), scores, 0.5, score_threshold=0.3)
        nms(boxes.detach(), scores, -0.1)
        nms(boxes.detach().half().float(), scores.double(), 0.5)  # mixed dtypes
        batched_nms(boxes.detach(), scores, torch.zeros(20), {"type": "nms", "iou_threshold": 0.5, "split_thr": 10})
        batched_nms(boxes.detach(), scores, torch.zeros(20), {"type": "soft_nms", "iou_threshold": 0.5})
    assert calls[0] == 0
    dets, _ = nms(boxes, scores, 0.5)
    dets.sum().backward()
    assert boxes.grad is not None


@settings(max_examples=150, deadline=None)
@given(
    cases,
    st.sampled_from(["linear", "naive", "gaussian"]),
    st.sampled_from([-0.1, 0.0, 0.3, 0.7]),
    st.sampled_from([0.5, -0.5, 2.0]),  # sigma (a negative one raises decayed scores)
    st.sampled_from([1e-3, 0.05, 0.5]),
)
def test_soft_nms_fast_path_equals_general_and_torch_paths(case, method, threshold, sigma, min_score):
    seed, num, scale, coarse, dtype, offset, _, _ = case
    boxes, scores = _boxes(seed, num, scale, coarse, dtype)
    result = soft_nms(boxes, scores, threshold, sigma, min_score, method, offset)
    with general_path():
        _assert_same(result, soft_nms(boxes, scores, threshold, sigma, min_score, method, offset))
    _assert_same(result, soft_nms_module._soft_nms(boxes, scores, threshold, sigma, min_score, method, offset))


def test_soft_nms_fast_path_is_taken_and_declines_ties():
    boxes, scores = _boxes(5, 100, 200.0, False, torch.float32)
    with answers(soft_nms_module, "_pick_by_score") as calls:
        soft_nms(boxes, scores, 0.3, 0.5, 1e-3, "linear")
        # a pick whose decayed score equals another remaining score: mmcv's working order decides
        tied_boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 5], [50, 50, 60, 60]])
        tied_scores = torch.tensor([0.9, 0.8, 0.4])  # box 1 decays to 0.8 * (1 - 0.5) = 0.4
        dets, keep = soft_nms(tied_boxes, tied_scores, 0.3, 0.5, 1e-3, "linear")
    assert calls == [True, False]
    # box 1 comes first in mmcv's working order after the first pick (no swap), so it wins the tie
    assert keep.tolist() == [0, 1, 2] and dets[:, 4].tolist() == pytest.approx([0.9, 0.4, 0.4])
    ref_dets, ref_keep = soft_nms_module._soft_nms(tied_boxes, tied_scores, 0.3, 0.5, 1e-3, "linear", 0)
    assert torch.equal(keep, ref_keep) and torch.equal(dets, ref_dets)
