import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visdet.ops import soft_nms

METHODS = {"naive": 0, "linear": 1, "gaussian": 2}


def oracle_soft_nms(boxes, scores, thr, sigma, min_score, method, offset=0):
    """mmcv's CPU soft-NMS loop with its swap-with-last removal, in float32 scalars."""
    f = np.float32
    x1, y1, x2, y2 = (list(boxes[:, k].numpy().astype(np.float32)) for k in range(4))
    sc = list(scores.numpy().astype(np.float32))
    areas = [f(f(x2[i] - x1[i] + f(offset)) * f(y2[i] - y1[i] + f(offset))) for i in range(len(sc))]
    inds = list(range(len(sc)))
    n, dets, i = len(sc), [], 0
    arrays = [x1, y1, x2, y2, sc, areas, inds]
    while i < n:
        m = i + int(np.argmax(sc[i:n]))
        for arr in arrays:
            arr[i], arr[m] = arr[m], arr[i]
        dets.append([x1[i], y1[i], x2[i], y2[i], sc[i]])
        pos = i + 1
        while pos < n:
            w = max(f(0), f(f(min(x2[i], x2[pos]) - max(x1[i], x1[pos])) + f(offset)))
            h = max(f(0), f(f(min(y2[i], y2[pos]) - max(y1[i], y1[pos])) + f(offset)))
            inter = f(w * h)
            ovr = f(inter / f(f(areas[i] + areas[pos]) - inter))
            weight = f(1)
            if method == "naive" and ovr >= thr:
                weight = f(0)
            elif method == "linear" and ovr >= thr:
                weight = f(1 - ovr)
            elif method == "gaussian":
                weight = f(math.exp(float(f(-f(ovr * ovr) / f(sigma)))))
            sc[pos] = f(sc[pos] * weight)
            if sc[pos] < f(min_score):
                for arr in arrays:
                    arr[pos] = arr[n - 1]
                n -= 1
                pos -= 1
            pos += 1
        i += 1
    return torch.tensor(np.array(dets, dtype=np.float32).reshape(-1, 5)), torch.tensor(inds[:n], dtype=torch.long)


def random_problem(seed, n):
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=gen) * 60
    wh = torch.rand(n, 2, generator=gen) * 30
    return torch.cat([xy, xy + wh], 1), torch.rand(n, generator=gen)


UPSTREAM_BOXES = torch.tensor(
    [[6.0, 3.0, 8.0, 7.0], [3.0, 6.0, 9.0, 11.0], [3.0, 7.0, 10.0, 12.0], [1.0, 4.0, 13.0, 7.0]]
)
UPSTREAM_SCORES = torch.tensor([0.6, 0.9, 0.7, 0.2])


@pytest.mark.parametrize(
    "method,dets,keep",
    [
        (
            "linear",
            [[3, 6, 9, 11, 0.9], [6, 3, 8, 7, 0.6], [3, 7, 10, 12, 0.29024392], [1, 4, 13, 7, 0.2]],
            [1, 0, 2, 3],
        ),
        (
            "gaussian",
            [[3, 6, 9, 11, 0.9], [6, 3, 8, 7, 0.59630775], [3, 7, 10, 12, 0.35275510], [1, 4, 13, 7, 0.18650459]],
            [1, 0, 2, 3],
        ),
        ("naive", [[3, 6, 9, 11, 0.9], [6, 3, 8, 7, 0.6], [1, 4, 13, 7, 0.2]], [1, 0, 3]),
    ],
)
def test_upstream_values(method, dets, keep):
    got_dets, got_keep = soft_nms(UPSTREAM_BOXES, UPSTREAM_SCORES, 0.3, 0.5, 0.01, method)
    assert got_keep.tolist() == keep
    assert torch.allclose(got_dets, torch.tensor(dets), atol=1e-6)


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("offset", [0, 1])
@pytest.mark.parametrize("seed", range(3))
def test_matches_transcribed_kernel(method, offset, seed):
    boxes, scores = random_problem(seed, 40)
    dets, keep = soft_nms(boxes, scores, 0.3, 0.5, 0.05, method, offset)
    ref_dets, ref_keep = oracle_soft_nms(boxes, scores, 0.3, 0.5, 0.05, method, offset)
    assert torch.equal(keep, ref_keep)
    assert torch.allclose(dets, ref_dets, atol=1e-7, rtol=1e-6)


def test_first_pick_is_never_dropped_and_empty():
    dets, keep = soft_nms(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([1e-5]), min_score=1e-3)
    assert keep.tolist() == [0] and dets[0, 4].item() == pytest.approx(1e-5)
    dets, keep = soft_nms(torch.zeros(0, 4), torch.zeros(0))
    assert dets.shape == (0, 5) and keep.shape == (0,) and keep.dtype == torch.long


def test_degenerate_boxes_are_not_decayed():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 5.0, 9.0], [9.0, 0.0, 1.0, 10.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    for method in METHODS:
        dets, keep = soft_nms(boxes, scores, 0.1, method=method)
        assert keep.tolist() == [0, 1, 2]
        assert torch.equal(dets[:, 4], scores)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(method="cubic"), ValueError, "method"),
        (dict(offset=3), ValueError, "offset"),
        (dict(sigma="a"), TypeError, "sigma"),
    ],
)
def test_bad_inputs(kwargs, error, match):
    boxes, scores = random_problem(0, 5)
    with pytest.raises(error, match=match):
        soft_nms(boxes, scores, **kwargs)
    with pytest.raises(ValueError, match="scores"):
        soft_nms(boxes, scores[:3])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 30), st.sampled_from(list(METHODS)))
def test_picked_scores_do_not_increase(seed, n, method):
    boxes, scores = random_problem(seed, n)
    dets, keep = soft_nms(boxes, scores, 0.3, 0.5, 1e-3, method)
    assert bool((dets[1:, 4] <= dets[:-1, 4]).all())
    assert keep.unique().numel() == keep.numel()
    assert torch.equal(dets[:, :4], boxes[keep])
    assert bool((dets[:, 4] <= scores[keep]).all())
