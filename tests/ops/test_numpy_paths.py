"""The CPU (numpy) passes of greedy NMS and soft-NMS give the torch passes' results exactly.

On CPU float32/float64 inputs, :mod:`visdet.ops._greedy` and :mod:`visdet.ops.soft_nms`
run numpy versions of their loops. The torch versions (``_greedy_torch``, the blocked
pass that runs on other devices and dtypes, and ``_soft_nms``, the per-pick torch loop)
are the reference here: same kept indices in the same order, bit-equal scores, on
random boxes with ties (integer coordinates, repeated scores), zero-size and identical
boxes, limits, both offsets and empty inputs.
"""

import importlib
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visdet.ops import _greedy, _greedy_sparse, _nms_kernels, _nms_small
from visdet.ops.nms import soft_nms

# the submodule (visdet.ops.soft_nms is the function once the package is imported)
soft_nms_module = importlib.import_module("visdet.ops.soft_nms")


def _boxes(seed: int, num: int, scale: float, coarse: bool, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(num, 2, generator=gen) * scale
    wh = torch.rand(num, 2, generator=gen) * scale / 3
    scores = torch.rand(num, generator=gen)
    if coarse:  # ties: equal scores, identical and zero-size boxes
        xy, wh, scores = xy.round(), wh.round(), (scores * 4).round() / 4
        if num > 1:
            xy[-1], wh[-1] = xy[0], wh[0]
    return torch.cat([xy, xy + wh], 1).to(dtype), scores.to(dtype)


cases = st.tuples(
    st.integers(0, 2**31 - 1),  # seed
    st.integers(0, 400),  # boxes
    st.sampled_from([20.0, 200.0, 2000.0]),  # spread (few or many overlaps)
    st.booleans(),  # coarse (ties)
    st.sampled_from([torch.float32, torch.float64]),
    st.integers(0, 1),  # offset
)


@settings(max_examples=60, deadline=None)
@given(cases, st.sampled_from([-0.2, 0.0, 0.3, 0.5, 0.9]), st.sampled_from([-1, 1, 5]))
def test_greedy_numpy_passes_equal_torch_pass(case, threshold, limit):
    seed, num, scale, coarse, dtype, offset = case
    boxes, scores = _boxes(seed, num, scale, coarse, dtype)
    ranked = boxes[scores.sort(0, descending=True)[1]]
    thr = torch.tensor(threshold, dtype=dtype)
    expected = torch.nonzero(_greedy._greedy_torch(ranked, thr, offset, limit)).squeeze(1)
    dense = torch.nonzero(_greedy._greedy_dense(ranked, thr, offset, limit)).squeeze(1)
    ranked_keep = torch.nonzero(_greedy.greedy_nms_ranked(ranked, thr, offset, limit)).squeeze(1)
    if limit > 0:  # only the leading `limit` kept boxes are defined
        expected, dense, ranked_keep = expected[:limit], dense[:limit], ranked_keep[:limit]
    assert torch.equal(dense, expected)
    assert torch.equal(ranked_keep, expected)
    if threshold >= 0 and limit < 0:
        sparse = _greedy_sparse.greedy_sparse_numpy(_greedy.numpy_columns(ranked, offset), thr.numpy(), offset)
        if sparse is not None:
            assert torch.equal(torch.nonzero(torch.from_numpy(sparse)).squeeze(1), expected)


@settings(max_examples=60, deadline=None)
@given(
    cases,
    st.sampled_from(["linear", "naive", "gaussian"]),
    st.sampled_from([-0.1, 0.0, 0.3, 0.7]),
    st.sampled_from([1e-3, 0.05, 0.5]),
    st.sampled_from(["all pairs", "intersecting pairs", "row by row"]),
)
def test_soft_nms_numpy_pass_equals_torch_pass(case, method, threshold, min_score, weights):
    seed, num, scale, coarse, dtype, offset = case
    boxes, scores = _boxes(seed, min(num, 300), scale, coarse, dtype)
    saved = soft_nms_module._WEIGHTS_AT_ONCE, soft_nms_module._SPARSE_MAX_PAIR_FRACTION, _nms_small.SMALL_MAX_BOXES
    _nms_small.SMALL_MAX_BOXES = 0  # these passes, not the small-input path (tests/ops/test_nms_small.py)
    if weights != "intersecting pairs":  # all pairs' weights at once, or one pick at a time
        soft_nms_module._SPARSE_MAX_PAIR_FRACTION = -1.0
    if weights == "row by row":
        soft_nms_module._WEIGHTS_AT_ONCE = 0
    try:
        dets, keep = soft_nms(boxes, scores, threshold, 0.5, min_score, method, offset)
    finally:
        soft_nms_module._WEIGHTS_AT_ONCE, soft_nms_module._SPARSE_MAX_PAIR_FRACTION, _nms_small.SMALL_MAX_BOXES = saved
    ref_dets, ref_keep = soft_nms_module._soft_nms(boxes, scores, threshold, 0.5, min_score, method, offset)
    assert torch.equal(keep, ref_keep)
    torch.testing.assert_close(dets, ref_dets, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_empty_and_single_inputs(dtype):
    for num in (0, 1):
        boxes, scores = _boxes(0, num, 10.0, False, dtype)
        thr = torch.tensor(0.5, dtype=dtype)
        assert _greedy._greedy_dense(boxes, thr, 0).tolist() == [True] * num
        dets, keep = soft_nms(boxes, scores)
        assert keep.tolist() == list(range(num)) and dets.shape == (num, 5) and dets.dtype == dtype


def test_sparse_soft_nms_loop_decays_picked_partners_silently():
    """Identical boxes decay each other to 0 (``linear``: ``1 - 1``); with ``min_score = 0`` they stay.

    Twenty far-apart boxes make the pairs sparse, the three identical ones (tied at 0
    after the first pick) send the call past the by-score picks to the sparse loop, where
    a later pick's partners include boxes already picked: their weights of 0 must neither
    warn (numpy's ``inf * 0``) nor change the result, the torch loop's.
    """
    far = torch.arange(20, dtype=torch.float32)[:, None] * 100
    boxes = torch.cat([torch.cat([far, far, far + 10, far + 10], 1), torch.tensor([[5.0, 5, 15, 15]] * 3)])
    scores = torch.cat([torch.linspace(0.2, 0.9, 20), torch.tensor([0.95, 0.5, 0.3])])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dets, keep = soft_nms(boxes, scores, 0.3, 0.5, 0.0, "linear")
    ref_dets, ref_keep = soft_nms_module._soft_nms(boxes, scores, 0.3, 0.5, 0.0, "linear", 0)
    assert keep.tolist() == ref_keep.tolist() and len(keep) == 23
    assert dets[-2:, 4].tolist() == [0.0, 0.0]
    torch.testing.assert_close(dets, ref_dets, rtol=0, atol=0)


@pytest.mark.parametrize("num", [1000, 70000])
def test_index_order_is_the_stable_order(num):
    """16-bit keys (radix sort) up to 65536 boxes, the indices themselves beyond: numpy's stable order either way."""
    rng = np.random.default_rng(num)
    indices = rng.integers(0, num, size=30000)
    indices[:100] = num - 1  # the largest index (above 16 bits in the second case)
    order = _nms_kernels.index_order(indices, num)
    expected = sorted(range(indices.size), key=lambda k: (indices[k], k))
    assert order.tolist() == expected
