import pytest
import torch

from visdet.ops import batched_nms, multiclass_nms

CFG = dict(type="nms", iou_threshold=0.5)


def detections(seed: int, n: int, classes: int, per_class: bool = False):
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, classes if per_class else 1, 2, generator=gen) * 60
    wh = torch.rand(n, classes if per_class else 1, 2, generator=gen) * 30 + 1
    boxes = torch.cat([xy, xy + wh], -1).reshape(n, -1)
    scores = torch.softmax(torch.randn(n, classes + 1, generator=gen) * 2, dim=1)
    return boxes, scores


@pytest.mark.parametrize("per_class", [False, True])
def test_matches_flattened_batched_nms(per_class):
    boxes, scores = detections(0, 40, 3, per_class)
    dets, labels, inds = multiclass_nms(boxes, scores, 0.05, CFG, return_inds=True)
    flat_boxes = boxes.view(40, -1, 4).expand(40, 3, 4).reshape(-1, 4)
    flat_scores = scores[:, :-1].reshape(-1)
    flat_labels = torch.arange(3).repeat(40)
    valid = torch.nonzero(flat_scores > 0.05).squeeze(1)
    _, keep = batched_nms(flat_boxes[valid], flat_scores[valid], flat_labels[valid], CFG)
    assert torch.equal(inds, valid[keep])
    assert torch.equal(labels, flat_labels[inds])
    assert torch.equal(dets[:, :4], flat_boxes[inds]) and torch.equal(dets[:, 4], flat_scores[inds])


def test_background_column_is_ignored_and_labels_in_range():
    boxes, scores = detections(1, 30, 4)
    scores[:, -1] = 1.0  # background: never a detection
    dets, labels = multiclass_nms(boxes, scores, 0.0, CFG)
    assert labels.numel() > 0 and int(labels.max()) < 4 and dets.shape == (labels.numel(), 5)


def test_max_num_and_score_factors():
    boxes, scores = detections(2, 50, 3)
    dets, labels = multiclass_nms(boxes, scores, 0.05, CFG)
    top_dets, top_labels = multiclass_nms(boxes, scores, 0.05, CFG, max_num=5)
    assert torch.equal(top_dets, dets[:5]) and torch.equal(top_labels, labels[:5])
    factors = torch.linspace(0.1, 1.0, 50)
    fdets, _, finds = multiclass_nms(boxes, scores, 0.05, CFG, score_factors=factors, return_inds=True)
    # threshold on the raw scores, then multiply (mmdet's order)
    raw = scores[:, :-1].reshape(-1)[finds]
    assert bool((raw > 0.05).all())
    assert torch.allclose(fdets[:, 4], raw * factors[finds // 3])


def test_nothing_above_threshold():
    boxes, scores = detections(3, 10, 2)
    dets, labels, inds = multiclass_nms(boxes, scores, 1.0, CFG, return_inds=True)
    assert dets.shape == (0, 5) and labels.shape == (0,) and inds.shape == (0,)
    dets, labels = multiclass_nms(torch.zeros(0, 4), torch.zeros(0, 3), 0.1, CFG)
    assert dets.shape == (0, 5) and labels.shape == (0,)


@pytest.mark.parametrize(
    "boxes,scores,kwargs,error,match",
    [
        (torch.zeros(5, 7), torch.rand(5, 3), {}, ValueError, r"multi_bboxes.*\(5, 7\)"),
        (torch.zeros(4, 4), torch.rand(5, 3), {}, ValueError, "multi_bboxes"),
        (torch.zeros(5, 4), torch.rand(5), {}, ValueError, "multi_scores"),
        (torch.zeros(5, 4), torch.rand(5, 3), {"score_factors": torch.rand(4)}, ValueError, "score_factors"),
        (torch.zeros(5, 4), torch.rand(5, 3).long(), {}, TypeError, "multi_scores"),
    ],
)
def test_bad_inputs(boxes, scores, kwargs, error, match):
    with pytest.raises(error, match=match):
        multiclass_nms(boxes, scores, 0.1, CFG, **kwargs)
