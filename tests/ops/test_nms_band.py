"""The band of x-sorted neighbours (:func:`visdet.ops._nms_small._band_pairs`) finds every intersecting pair.

Above ``DENSE_MAX_BOXES`` boxes the small NMS path compares each box only with the boxes
after it in ``x1`` order that can reach it. The reference is the dense pass over every
pair (:func:`visdet.ops._nms_small._dense_pairs`, the one the small path runs up to
``DENSE_MAX_BOXES``): the same set of pairs, each with a bit-equal IoU, on random boxes with ties,
identical, zero-size and inverted boxes, both offsets and dtypes. The whole calls are
compared with the general path in ``tests/ops/test_nms_small.py``.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.ops.test_numpy_paths import _boxes  # random boxes, with ties when coarse
from visdet.benchmark.cases.base import random_boxes
from visdet.ops import _nms_small, batched_nms, nms, soft_nms

nms_module = importlib.import_module("visdet.ops.nms")


def _pair_table(rows: np.ndarray, cols: np.ndarray, iou: np.ndarray) -> dict[tuple[int, int], bytes]:
    table = {(int(r), int(c)): value.tobytes() for r, c, value in zip(rows, cols, iou)}
    assert len(table) == rows.size, "a pair listed twice"
    return table


def _both(box_array: np.ndarray, offset: int):
    corners = _nms_small._corners(box_array, offset)
    return _nms_small._dense_pairs(*corners, offset), _nms_small._band_pairs(*corners, offset)


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, 2**31 - 1),
    st.integers(1, 300),
    st.sampled_from([60.0, 200.0, 2000.0]),
    st.booleans(),
    st.sampled_from([torch.float32, torch.float64]),
    st.integers(0, 1),
    st.booleans(),  # a few inverted and zero-size boxes
)
def test_band_pairs_equal_dense_pairs(seed, num, scale, coarse, dtype, offset, degenerate):
    boxes, _ = _boxes(seed, num, scale, coarse, dtype)
    box_array = boxes.numpy().copy()
    if degenerate and num >= 4:
        box_array[1, [0, 2]] = box_array[1, [2, 0]]  # inverted along x
        box_array[2, 3] = box_array[2, 1]  # zero height
        box_array[3] = box_array[0]  # identical
    dense, band = _both(box_array, offset)
    if band is None:  # declined: wider than its budget, which only more than 181 boxes can be
        assert num * (num - 1) > _nms_small._BAND_MAX_ELEMENTS
        return
    assert band[2].dtype == dense[2].dtype
    assert np.all(band[0] < band[1])
    assert _pair_table(*band) == _pair_table(*dense)


def test_band_pairs_on_the_benchmark_boxes():
    """Random boxes as the benchmark draws them: hundreds of pairs, none missed, none added."""
    for num in (129, 256, 340):
        box_array = random_boxes(num, torch.Generator().manual_seed(num)).numpy()
        for offset in (0, 1):
            dense, band = _both(box_array, offset)
            assert band is not None
            assert dense[0].size > num  # (129 boxes: 300 pairs and more)
            assert _pair_table(*band) == _pair_table(*dense)


def test_band_pairs_with_nothing_intersecting():
    box_array = np.array([[10.0 * k, 0.0, 10.0 * k + 5.0, 5.0] for k in range(200)], dtype=np.float32)
    _, band = _both(box_array, 0)
    assert band is not None and band[0].size == 0 and band[2].dtype == np.float32
    # with offset 1 the boxes 10 px apart still do not touch; 5 px apart they do
    box_array[:, [0, 2]] -= np.arange(200, dtype=np.float32)[:, None] * 5
    dense, band = _both(box_array, 1)
    assert dense[0].size == 199 and _pair_table(*band) == _pair_table(*dense)


def test_crowded_boxes_decline_the_band_and_get_the_general_result():
    """One box spanning the image makes the band as wide as the input: the general path runs."""
    boxes = random_boxes(300, torch.Generator().manual_seed(0))
    boxes[0] = torch.tensor([0.0, 0.0, 1000.0, 1000.0])
    scores = torch.rand(300, generator=torch.Generator().manual_seed(1))
    assert _nms_small._band_pairs(*_nms_small._corners(boxes.numpy(), 0), 0) is None
    calls = []
    original = nms_module.small_keep
    nms_module.small_keep = lambda *args: calls.append(original(*args)) or calls[-1]
    try:
        result = nms(boxes, scores, 0.5)
    finally:
        nms_module.small_keep = original
    assert calls == [None]
    saved = _nms_small.SMALL_MAX_BOXES
    _nms_small.SMALL_MAX_BOXES = 0
    try:
        expected = nms(boxes, scores, 0.5)
    finally:
        _nms_small.SMALL_MAX_BOXES = saved
    assert torch.equal(result[1], expected[1]) and torch.equal(result[0], expected[0])


@pytest.mark.parametrize("chain_first", [True, False])
def test_the_walk_takes_suppressions_in_rank_order(chain_first):
    """A chain whose x order is the reverse of its rank order: the best box is kept, the second
    suppressed (IoU 0.25), the third kept (the second, suppressed, suppresses nothing). Taking
    the band's pairs in x order would drop the third. 150 small boxes apart put the call on the band.
    """
    chain = torch.tensor([[20.0, 0, 30, 10], [14, 0, 24, 10], [8, 0, 18, 10]])
    others = torch.tensor([[100.0 + 30 * k, 0, 105 + 30 * k, 5] for k in range(150)])
    boxes = torch.cat([chain, others]) if chain_first else torch.cat([others, chain])
    scores = torch.cat([torch.tensor([0.9, 0.8, 0.7]), torch.full((150,), 0.1)])
    first = 0 if chain_first else 150
    if not chain_first:
        scores = scores.roll(150)
    expected = [first, first + 2]
    _, keep = nms(boxes, scores, 0.2)
    assert keep[:2].tolist() == expected and keep.numel() == 152
    _, keep = batched_nms(boxes, scores, torch.zeros(153), {"type": "nms", "iou_threshold": 0.2})
    assert keep[:2].tolist() == expected and keep.numel() == 152
    # soft-NMS, "naive": the second box's score drops to 0, below min_score
    _, keep = soft_nms(boxes, scores, 0.2, min_score=0.01, method="naive")
    assert keep[:2].tolist() == expected and keep.numel() == 152
