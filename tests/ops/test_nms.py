import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visdet.ops import _greedy, _greedy_sparse, bbox_overlaps, nms

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]


def oracle_nms(boxes: torch.Tensor, scores: torch.Tensor, thr: float, offset: int = 0) -> torch.Tensor:
    """mmcv's CPU loop, transcribed scalar by scalar in float32 (independent of visdet)."""
    b = boxes.numpy().astype(np.float32)
    if len(b) == 0:
        return torch.zeros(0, dtype=torch.long)
    f = np.float32
    x1, y1, x2, y2 = (b[:, k] for k in range(4))
    areas = (x2 - x1 + f(offset)) * (y2 - y1 + f(offset))
    order = scores.sort(0, descending=True)[1].numpy()
    keep = np.ones(len(b), bool)
    with np.errstate(all="ignore"):
        for ii in range(len(b)):
            if not keep[ii]:
                continue
            i = order[ii]
            for jj in range(ii + 1, len(b)):
                j = order[jj]
                if not keep[jj]:
                    continue
                w = max(f(0), f(f(min(x2[i], x2[j]) - max(x1[i], x1[j])) + f(offset)))
                h = max(f(0), f(f(min(y2[i], y2[j]) - max(y1[i], y1[j])) + f(offset)))
                inter = f(w * h)
                if f(inter / f(f(areas[i] + areas[j]) - inter)) > f(thr):
                    keep[jj] = False
    return torch.from_numpy(order[keep])


def random_boxes(seed: int, n: int, scale: float = 100.0, size: float = 40.0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=gen) * scale
    wh = torch.rand(n, 2, generator=gen) * size
    return torch.cat([xy, xy + wh], 1), torch.rand(n, generator=gen)


def test_upstream_example():
    # the example in mmcv's nms docstring / test_nms_allclose
    boxes = torch.tensor([[6.0, 3.0, 8.0, 7.0], [3.0, 6.0, 9.0, 11.0], [3.0, 7.0, 10.0, 12.0], [1.0, 4.0, 13.0, 7.0]])
    scores = torch.tensor([0.6, 0.9, 0.7, 0.2])
    dets, keep = nms(boxes, scores, iou_threshold=0.3)
    assert keep.tolist() == [1, 0, 3]
    assert torch.equal(dets, torch.cat([boxes[keep], scores[keep, None]], 1))


@pytest.mark.parametrize("offset", [0, 1])
@pytest.mark.parametrize("thr", [0.0, 0.3, 0.7])
@pytest.mark.parametrize("seed", range(4))
def test_matches_transcribed_kernel(seed, thr, offset):
    boxes, scores = random_boxes(seed, 60)
    _, keep = nms(boxes, scores, thr, offset=offset)
    assert torch.equal(keep, oracle_nms(boxes, scores, thr, offset))


@pytest.mark.parametrize("scale,size,sparse_used", [(1000.0, 30.0, True), (100.0, 60.0, False)])
@pytest.mark.parametrize("offset", [0, 1])
def test_sparse_and_dense_passes_agree(scale, size, sparse_used, offset):
    boxes, scores = random_boxes(5, 900, scale, size)
    order = scores.sort(0, descending=True)[1]
    thr = torch.tensor(0.4)
    dense = _greedy._greedy_dense(boxes[order], thr, offset)
    sparse = _greedy_sparse.greedy_sparse(boxes[order], thr, offset)
    assert (sparse is not None) == sparse_used
    if sparse is not None:
        assert torch.equal(dense, sparse)
    _, keep = nms(boxes, scores, 0.4, offset=offset)
    assert torch.equal(keep, order[dense])


def test_score_threshold_and_max_num():
    boxes, scores = random_boxes(1, 50)
    _, keep_all = nms(boxes, scores, 0.5)
    _, keep_top = nms(boxes, scores, 0.5, max_num=3)
    assert torch.equal(keep_top, keep_all[:3])
    _, keep_thr = nms(boxes, scores, 0.5, score_threshold=0.5)
    valid = torch.nonzero(scores > 0.5).squeeze(1)
    expected = valid[oracle_nms(boxes[valid], scores[valid], 0.5)]
    assert torch.equal(keep_thr, expected)
    dets, keep = nms(boxes, scores, 0.5, score_threshold=2.0)
    assert dets.shape == (0, 5) and keep.shape == (0,)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_empty_and_dtype(device, dtype):
    dets, keep = nms(torch.zeros(0, 4, dtype=dtype, device=device), torch.zeros(0, dtype=dtype, device=device), 0.5)
    assert dets.shape == (0, 5) and dets.dtype == dtype and keep.dtype == torch.long
    boxes, scores = random_boxes(2, 30)
    dets, keep = nms(boxes.to(device, dtype), scores.to(device, dtype), 0.5)
    assert dets.dtype == dtype and dets.device.type == device
    assert torch.equal(keep.cpu(), oracle_nms(boxes, scores, 0.5))


def test_degenerate_boxes_are_kept():
    boxes = torch.tensor(
        [
            [0.0, 0.0, 10.0, 10.0],
            [5.0, 5.0, 5.0, 8.0],  # zero width inside box 0
            [5.0, 5.0, 5.0, 8.0],  # identical zero-area box: 0 / 0 = NaN, not > thr
            [9.0, 0.0, 1.0, 10.0],  # inverted, overlaps box 0 by coordinates
            [0.0, 0.0, 10.0, 10.0],  # duplicate of box 0: suppressed
        ]
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5])
    _, keep = nms(boxes, scores, 0.1)
    assert keep.tolist() == [0, 1, 2, 3]
    assert torch.equal(keep, oracle_nms(boxes, scores, 0.1))
    _, keep = nms(boxes, scores, 0.1, offset=1)
    assert torch.equal(keep, oracle_nms(boxes, scores, 0.1, offset=1))


@pytest.mark.parametrize(
    "args,kwargs,error,match",
    [
        ((torch.zeros(3, 5), torch.zeros(3), 0.5), {}, ValueError, r"boxes.*\(3, 5\)"),
        ((torch.zeros(3, 4), torch.zeros(2), 0.5), {}, ValueError, r"scores.*\(2,\)"),
        ((torch.zeros(3, 4), torch.zeros(3, 1), 0.5), {}, ValueError, "scores"),
        ((torch.zeros(3, 4, dtype=torch.int32), torch.zeros(3), 0.5), {}, TypeError, "boxes"),
        ((torch.zeros(3, 4), torch.zeros(3), 0.5), {"offset": 2}, ValueError, "offset"),
        ((torch.zeros(3, 4), torch.zeros(3), "0.5"), {}, TypeError, "iou_threshold"),
        ((torch.zeros(3, 4), torch.tensor([0.1, float("nan"), 0.2]), 0.5), {}, ValueError, "scores.*NaN"),
        ((torch.tensor([[0.0, 0.0, float("inf"), 1.0]]), torch.zeros(1), 0.5), {}, ValueError, "boxes"),
        ((torch.zeros(3, 4), torch.zeros(3), 0.5), {"max_num": 2.5}, TypeError, "max_num"),
    ],
)
def test_bad_inputs(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        nms(*args, **kwargs)


@st.composite
def nms_problems(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    n = draw(st.integers(0, 40))
    thr = draw(st.floats(0.05, 0.95))
    boxes, _ = random_boxes(seed, n, scale=draw(st.sampled_from([30.0, 100.0])))
    scores = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).float() / max(n, 1)  # distinct
    return boxes, scores, thr


@settings(max_examples=50, deadline=None)
@given(nms_problems())
def test_nms_properties(problem):
    boxes, scores, thr = problem
    dets, keep = nms(boxes, scores, thr)
    assert keep.unique().numel() == keep.numel()
    assert bool((dets[1:, 4] <= dets[:-1, 4]).all())  # sorted by score
    if keep.numel():
        iou = bbox_overlaps(boxes[keep], boxes[keep])
        assert bool((iou.triu(1) <= thr + 1e-6).all())  # kept boxes do not overlap
    suppressed = torch.ones(len(boxes), dtype=torch.bool)
    suppressed[keep] = False
    for j in torch.nonzero(suppressed).squeeze(1).tolist():
        higher = keep[scores[keep] > scores[j]]
        assert bool((bbox_overlaps(boxes[j : j + 1], boxes[higher]) > thr - 1e-6).any())


@settings(max_examples=30, deadline=None)
@given(nms_problems(), st.integers(0, 2**31 - 1))
def test_nms_invariant_to_input_order(problem, perm_seed):
    boxes, scores, thr = problem
    perm = torch.randperm(len(boxes), generator=torch.Generator().manual_seed(perm_seed))
    _, keep = nms(boxes, scores, thr)
    _, keep_perm = nms(boxes[perm], scores[perm], thr)
    assert torch.equal(perm[keep_perm], keep)
