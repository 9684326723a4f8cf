# Ported from mmdet (3.3.0) tests/test_models/test_task_modules/test_iou2d_calculator.py
# (test_bbox_overlaps_2d), rewritten for visdet.ops.bbox_overlaps. The GIoU values are
# upstream's. The parts that feed 5-column boxes (with scores) go through BboxOverlaps2D,
# a models-layer wrapper that drops the score column; here the 4 columns are passed.
# test_voc_recall_overlaps tests mmdet.evaluation (see parity/upstream/ops.yaml).
import numpy as np
import pytest
import torch

from visdet.ops import bbox_overlaps


def _construct_bbox(rng: np.random.Generator, num_bbox: int | None = None):
    img_h, img_w = int(rng.integers(3, 1000)), int(rng.integers(3, 1000))
    if num_bbox is None:
        num_bbox = int(rng.integers(1, 10))
    x1y1 = torch.from_numpy(rng.random((num_bbox, 2), dtype=np.float32))
    x2y2 = torch.max(torch.from_numpy(rng.random((num_bbox, 2), dtype=np.float32)), x1y1)
    bboxes = torch.cat((x1y1, x2y2), -1)
    bboxes[:, 0::2] *= img_w
    bboxes[:, 1::2] *= img_h
    return bboxes, num_bbox


def _in_range(values: torch.Tensor) -> bool:
    return bool(torch.all(values >= -1) and torch.all(values <= 1))


@pytest.mark.parametrize("seed", range(3))
def test_bbox_overlaps_2d(seed, eps=1e-7):
    rng = np.random.default_rng(seed)
    # aligned (upstream feeds 5-column boxes to BboxOverlaps2D, which drops the scores)
    bboxes1, num_bbox = _construct_bbox(rng)
    bboxes2, _ = _construct_bbox(rng, num_bbox)
    gious = bbox_overlaps(bboxes1, bboxes2, "giou", True)
    assert gious.size() == (num_bbox,), gious.size()
    assert _in_range(gious)

    # aligned, empty
    gious = bbox_overlaps(torch.empty((0, 4)), torch.empty((0, 4)), "giou", True)
    assert gious.size() == (0,)
    assert _in_range(gious)

    # aligned with batch dims; mismatched batch dims are an error (AssertionError upstream)
    bboxes1, num_bbox = _construct_bbox(rng)
    bboxes2, _ = _construct_bbox(rng, num_bbox)
    bboxes1 = bboxes1.unsqueeze(0).repeat(2, 1, 1)
    with pytest.raises(ValueError):
        bbox_overlaps(bboxes1, bboxes2.unsqueeze(0).repeat(3, 1, 1), "giou", True)
    bboxes2 = bboxes2.unsqueeze(0).repeat(2, 1, 1)
    gious = bbox_overlaps(bboxes1, bboxes2, "giou", True)
    assert _in_range(gious) and gious.size() == (2, num_bbox)
    gious = bbox_overlaps(
        bboxes1.unsqueeze(0).repeat(2, 1, 1, 1), bboxes2.unsqueeze(0).repeat(2, 1, 1, 1), "giou", True
    )
    assert _in_range(gious) and gious.size() == (2, 2, num_bbox)

    # pairwise, with and without batch dims
    bboxes1, num_bbox1 = _construct_bbox(rng)
    bboxes2, num_bbox2 = _construct_bbox(rng)
    gious = bbox_overlaps(bboxes1, bboxes2, "giou")
    assert _in_range(gious) and gious.size() == (num_bbox1, num_bbox2)
    bboxes1, bboxes2 = bboxes1.unsqueeze(0).repeat(2, 1, 1), bboxes2.unsqueeze(0).repeat(2, 1, 1)
    gious = bbox_overlaps(bboxes1, bboxes2, "giou")
    assert _in_range(gious) and gious.size() == (2, num_bbox1, num_bbox2)
    bboxes1, bboxes2 = bboxes1.unsqueeze(0), bboxes2.unsqueeze(0)
    gious = bbox_overlaps(bboxes1, bboxes2, "giou")
    assert _in_range(gious) and gious.size() == (1, 2, num_bbox1, num_bbox2)

    # pairwise, empty rows
    gious = bbox_overlaps(torch.empty(1, 2, 0, 4), bboxes2, "giou")
    assert gious.size() == (1, 2, 0, bboxes2.size(-2))

    # the official GIoU numbers (four decimals)
    b1 = torch.tensor([[0, 0, 10, 10], [10, 10, 20, 20], [32, 32, 38, 42]], dtype=torch.float32)
    b2 = torch.tensor([[0, 0, 10, 20], [0, 10, 10, 19], [10, 10, 20, 20]], dtype=torch.float32)
    gious = bbox_overlaps(b1, b2, "giou", is_aligned=True, eps=eps).numpy().round(4)
    assert np.allclose(gious, np.array([0.5000, -0.0500, -0.8214]), rtol=0, atol=eps)

    # mode 'iof'
    ious = bbox_overlaps(b1, b2, "iof", is_aligned=True, eps=eps)
    assert _in_range(ious) and ious.size() == (b1.size(0),)
    ious = bbox_overlaps(b1, b2, "iof", eps=eps)
    assert _in_range(ious) and ious.size() == (b1.size(0), b2.size(0))


def test_bbox_overlaps_docstring_examples():
    # mmdet's bbox_overlaps docstring
    b1 = torch.tensor([[0, 0, 10, 10], [10, 10, 20, 20], [32, 32, 38, 42]], dtype=torch.float32)
    b2 = torch.tensor([[0, 0, 10, 20], [0, 10, 10, 19], [10, 10, 20, 20]], dtype=torch.float32)
    assert bbox_overlaps(b1, b2).shape == (3, 3)
    assert bbox_overlaps(b1, b2, is_aligned=True).shape == (3,)
    empty, nonempty = torch.empty(0, 4), torch.tensor([[0.0, 0, 10, 9]])
    assert tuple(bbox_overlaps(empty, nonempty).shape) == (0, 1)
    assert tuple(bbox_overlaps(nonempty, empty).shape) == (1, 0)
    assert tuple(bbox_overlaps(empty, empty).shape) == (0, 0)
