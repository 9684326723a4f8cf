import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visdet.ops import batched_nms, bbox_overlaps, nms, soft_nms


def problem(seed: int, n: int, classes: int, integer: bool = False, lo: float = 0.0):
    gen = torch.Generator().manual_seed(seed)
    xy = lo + torch.rand(n, 2, generator=gen) * 80
    wh = torch.rand(n, 2, generator=gen) * 40
    boxes = torch.cat([xy, xy + wh], 1)
    if integer:  # exact in float32 even after the class offset, so IoUs do not change
        boxes = boxes.round()
    scores = torch.randperm(n, generator=gen).float() / n + 0.001
    return boxes, scores, torch.randint(0, classes, (n,), generator=gen)


def per_class_reference(boxes, scores, idxs, thr):
    keep = torch.cat(
        [torch.nonzero(idxs == c).squeeze(1)[nms(boxes[idxs == c], scores[idxs == c], thr)[1]] for c in idxs.unique()]
    )
    return keep[scores[keep].argsort(descending=True)]


@pytest.mark.parametrize("split_thr", [10000, 20])
def test_equals_per_class_nms_on_integer_boxes(split_thr):
    boxes, scores, idxs = problem(0, 120, 5, integer=True)
    dets, keep = batched_nms(boxes, scores, idxs, dict(iou_threshold=0.4, split_thr=split_thr))
    assert torch.equal(keep, per_class_reference(boxes, scores, idxs, 0.4))
    assert torch.equal(dets, torch.cat([boxes[keep], scores[keep, None]], 1))


@pytest.mark.parametrize("idx_dtype", [torch.long, torch.float32])
def test_split_path_with_one_crowded_class_equals_per_class_nms(idx_dtype):
    # RTMDet's case: one class holds thousands of heavily overlapping candidates (its own greedy
    # pass goes dense), the others a few hundred scattered boxes; group ids sparse and shuffled
    gen = torch.Generator().manual_seed(7)
    crowded = torch.tensor([100.0, 100.0, 300.0, 260.0]) + torch.randint(-60, 61, (3000, 4), generator=gen).float()
    scattered, _, scattered_idxs = problem(8, 400, 6, integer=True)
    boxes = torch.cat([crowded, scattered])
    idxs = torch.cat([torch.full((3000,), 41), scattered_idxs * 7 + 3])
    perm = torch.randperm(len(boxes), generator=gen)
    boxes, idxs = boxes[perm], idxs[perm].to(idx_dtype)
    scores = torch.randperm(len(boxes), generator=gen).float() / len(boxes) + 0.001
    dets, keep = batched_nms(boxes, scores, idxs, dict(iou_threshold=0.65, split_thr=1000))
    expected = per_class_reference(boxes, scores, idxs, 0.65)
    assert torch.equal(keep, expected)
    assert torch.equal(dets, torch.cat([boxes[keep], scores[keep, None]], 1))
    crowded_kept = int((idxs[keep] == 41).sum())
    assert 1 < crowded_kept < 300  # the crowded class is mostly suppressed, not entirely


def test_split_path_equals_offset_path():
    # mirrors mmcv's test_batched_nms: same result with and without split_thr
    boxes, scores, idxs = problem(1, 200, 7)
    cfg = dict(type="nms", iou_threshold=0.7, score_threshold=0.2, max_num=50)
    dets, keep = batched_nms(boxes, scores, idxs, cfg)
    seq_dets, seq_keep = batched_nms(boxes, scores, idxs, {**cfg, "split_thr": 50})
    assert torch.equal(keep, seq_keep) and torch.equal(dets, seq_dets)
    assert keep.numel() <= 50


def test_class_agnostic_equals_plain_nms():
    boxes, scores, idxs = problem(2, 80, 4)
    _, keep_plain = nms(boxes, scores, 0.5)
    for kwargs in (
        dict(nms_cfg=dict(iou_threshold=0.5), class_agnostic=True),
        dict(nms_cfg=dict(iou_threshold=0.5, class_agnostic=True)),
    ):
        assert torch.equal(batched_nms(boxes, scores, idxs, **kwargs)[1], keep_plain)


def test_soft_nms_type_returns_decayed_scores():
    boxes, scores, idxs = problem(3, 60, 3)
    cfg = dict(type="soft_nms", iou_threshold=0.3, min_score=0.05)
    dets, keep = batched_nms(boxes, scores, idxs, cfg)
    split_dets, split_keep = batched_nms(boxes, scores, idxs, {**cfg, "split_thr": 10})
    assert torch.equal(keep, split_keep) and torch.allclose(dets, split_dets)
    assert bool((dets[:, 4] <= scores[keep]).all())
    c = int(idxs[0])
    members = torch.nonzero(idxs == c).squeeze(1)
    own_dets, own_keep = soft_nms(boxes[members], scores[members], 0.3, min_score=0.05)
    assert set(members[own_keep].tolist()) == set(keep[idxs[keep] == c].tolist())


def test_none_cfg_sorts_everything():
    boxes, scores, idxs = problem(4, 30, 3)
    dets, keep = batched_nms(boxes, scores, idxs, None)
    assert torch.equal(keep, scores.argsort(descending=True)) and dets.shape == (30, 5)


def test_empty_and_deprecated_alias():
    dets, keep = batched_nms(
        torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long), dict(iou_threshold=0.5)
    )
    assert dets.shape == (0, 5) and keep.shape == (0,)
    boxes, scores, idxs = problem(5, 40, 2)
    new = batched_nms(boxes, scores, idxs, dict(iou_threshold=0.5))[1]
    assert torch.equal(batched_nms(boxes, scores, idxs, dict(iou_thr=0.5))[1], new)


def test_negative_coordinates_overlap_across_classes_like_mmcv():
    # the class offset is max(coord) + 1, so with negative corners two classes can still
    # overlap after shifting: mmcv then suppresses across classes, and so does visdet
    boxes = torch.tensor([[-50.0, -50.0, -10.0, -10.0], [-49.0, -49.0, -9.0, -9.0]])
    scores, idxs = torch.tensor([0.9, 0.8]), torch.tensor([1, 0])
    _, keep = batched_nms(boxes, scores, idxs, dict(iou_threshold=0.3))
    assert keep.tolist() == [0]  # box 1 (class 0) suppressed by box 0 (class 1)
    shifted = boxes + idxs[:, None].float() * (boxes.max() + 1)
    assert torch.equal(keep, nms(shifted, scores, 0.3)[1])
    # the split path runs per class, so there the classes stay apart
    _, keep_split = batched_nms(boxes, scores, idxs, dict(iou_threshold=0.3, split_thr=1))
    assert keep_split.tolist() == [0, 1]


@pytest.mark.parametrize(
    "cfg,idxs,error,match",
    [
        (dict(type="nms_rotated", iou_threshold=0.5), None, ValueError, "type"),
        (dict(iou_threshold=0.5, bogus=1), None, TypeError, "bogus"),
        ("nms", None, TypeError, "nms_cfg"),
        (dict(iou_threshold=0.5), torch.zeros(3, dtype=torch.long), ValueError, "idxs"),
        (dict(iou_threshold=0.5), torch.zeros(10, dtype=torch.bool), TypeError, "idxs"),
    ],
)
def test_bad_inputs(cfg, idxs, error, match):
    boxes, scores, good_idxs = problem(6, 10, 2)
    with pytest.raises(error, match=match):
        batched_nms(boxes, scores, good_idxs if idxs is None else idxs, cfg)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**31 - 1), st.integers(1, 60), st.integers(1, 6), st.floats(0.1, 0.9), st.sampled_from([10000, 15])
)
def test_properties_per_class(seed, n, classes, thr, split_thr):
    boxes, scores, idxs = problem(seed, n, classes)
    dets, keep = batched_nms(boxes, scores, idxs, dict(iou_threshold=thr, split_thr=split_thr))
    assert bool((dets[1:, 4] <= dets[:-1, 4]).all())
    for c in idxs[keep].unique():
        kept = keep[idxs[keep] == c]
        assert bool((bbox_overlaps(boxes[kept], boxes[kept]).triu(1) <= thr + 1e-5).all())
    dropped = torch.ones(n, dtype=torch.bool)
    dropped[keep] = False
    for j in torch.nonzero(dropped).squeeze(1).tolist():
        rivals = keep[(idxs[keep] == idxs[j]) & (scores[keep] > scores[j])]
        assert bool((bbox_overlaps(boxes[j : j + 1], boxes[rivals]) > thr - 1e-5).any())
