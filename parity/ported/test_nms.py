# Ported from mmcv (2.1.0) tests/test_ops/test_nms.py, rewritten for visdet.
# The expected kept indices and (soft-NMS) decayed scores are upstream's numbers.
# test_batched_nms loads tests/data/batched_nms_data.pkl, which is not shipped with the
# package; the port checks the same facts (split and offset paths agree, max_num cut,
# soft_nms type, nms_cfg=None) on drawn data. nms_match and the DIOPI/MLU variants are
# out of scope (see parity/upstream/ops.yaml). Upstream runs these on CPU and CUDA.
import numpy as np
import pytest
import torch

from visdet.ops import batched_nms, nms, soft_nms

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]

BOXES = np.array(
    [[6.0, 3.0, 8.0, 7.0], [3.0, 6.0, 9.0, 11.0], [3.0, 7.0, 10.0, 12.0], [1.0, 4.0, 13.0, 7.0]], dtype=np.float32
)
SCORES = np.array([0.6, 0.9, 0.7, 0.2], dtype=np.float32)


@pytest.mark.parametrize("device", DEVICES)
def test_nms_allclose(device):
    expected_inds = np.array([1, 0, 3])
    expected_dets = np.array([[3.0, 6.0, 9.0, 11.0, 0.9], [6.0, 3.0, 8.0, 7.0, 0.6], [1.0, 4.0, 13.0, 7.0, 0.2]])
    boxes, scores = torch.from_numpy(BOXES).to(device), torch.from_numpy(SCORES).to(device)
    dets, inds = nms(boxes, scores, iou_threshold=0.3, offset=0)
    assert np.allclose(dets.cpu().numpy(), expected_dets)
    assert np.allclose(inds.cpu().numpy(), expected_inds)


@pytest.mark.parametrize("device", DEVICES)
def test_softnms_allclose(device):
    expected = {
        "linear": (
            [
                [3.0, 6.0, 9.0, 11.0, 0.9],
                [6.0, 3.0, 8.0, 7.0, 0.6],
                [3.0, 7.0, 10.0, 12.0, 0.29024392],
                [1.0, 4.0, 13.0, 7.0, 0.2],
            ],
            [1, 0, 2, 3],
        ),
        "gaussian": (
            [
                [3.0, 6.0, 9.0, 11.0, 0.9],
                [6.0, 3.0, 8.0, 7.0, 0.59630775],
                [3.0, 7.0, 10.0, 12.0, 0.35275510],
                [1.0, 4.0, 13.0, 7.0, 0.18650459],
            ],
            [1, 0, 2, 3],
        ),
        "naive": ([[3.0, 6.0, 9.0, 11.0, 0.9], [6.0, 3.0, 8.0, 7.0, 0.6], [1.0, 4.0, 13.0, 7.0, 0.2]], [1, 0, 3]),
    }
    boxes, scores = torch.from_numpy(BOXES).to(device), torch.from_numpy(SCORES).to(device)
    for method, (dets_expected, inds_expected) in expected.items():
        dets, inds = soft_nms(boxes, scores, iou_threshold=0.3, sigma=0.5, min_score=0.01, method=method)
        assert np.allclose(dets.cpu().numpy(), np.array(dets_expected, dtype=np.float32))
        assert np.allclose(inds.cpu().numpy(), np.array(inds_expected))


def test_nms_docstring_example():
    # mmcv's nms docstring: 7 boxes, threshold 0.6 -> 3 kept
    boxes = torch.tensor(
        [
            [49.1, 32.4, 51.0, 35.9],
            [49.3, 32.9, 51.0, 35.3],
            [49.2, 31.8, 51.0, 35.4],
            [35.1, 11.5, 39.1, 15.7],
            [35.6, 11.8, 39.3, 14.2],
            [35.3, 11.5, 39.9, 14.5],
            [35.2, 11.7, 39.7, 15.7],
        ]
    )
    scores = torch.tensor([0.9, 0.9, 0.5, 0.5, 0.5, 0.4, 0.3])
    dets, inds = nms(boxes, scores, 0.6)
    assert len(inds) == len(dets) == 3


def test_soft_nms_docstring_example():
    # mmcv's soft_nms docstring: 6 boxes (4 degenerate), threshold 0.6 -> 5 kept
    boxes = torch.tensor(
        [
            [4.0, 3.0, 5.0, 3.0],
            [4.0, 3.0, 5.0, 4.0],
            [3.0, 1.0, 3.0, 1.0],
            [3.0, 1.0, 3.0, 1.0],
            [3.0, 1.0, 3.0, 1.0],
            [3.0, 1.0, 3.0, 1.0],
        ]
    )
    scores = torch.tensor([0.9, 0.9, 0.5, 0.5, 0.4, 0.0])
    dets, inds = soft_nms(boxes, scores, 0.6, sigma=0.5)
    assert len(inds) == len(dets) == 5


def _batched_data(seed: int = 0, n: int = 500, classes: int = 10):
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=gen) * 300
    wh = torch.rand(n, 2, generator=gen) * 80 + 4
    return torch.cat([xy, xy + wh], 1), torch.rand(n, generator=gen), torch.randint(0, classes, (n,), generator=gen)


def test_batched_nms():
    boxes, scores, idxs = _batched_data()
    nms_max_num = 100
    nms_cfg = dict(type="nms", iou_threshold=0.7, score_threshold=0.5, max_num=nms_max_num)
    dets, keep = batched_nms(boxes, scores, idxs, nms_cfg, class_agnostic=False)
    nms_cfg.update(split_thr=100)
    seq_dets, seq_keep = batched_nms(boxes, scores, idxs, nms_cfg, class_agnostic=False)
    assert torch.equal(keep, seq_keep)
    assert torch.equal(dets, seq_dets)
    assert keep.numel() <= nms_max_num

    nms_cfg = dict(type="soft_nms", iou_threshold=0.7)
    dets, keep = batched_nms(boxes, scores, idxs, nms_cfg, class_agnostic=False)
    nms_cfg.update(split_thr=100)
    seq_dets, seq_keep = batched_nms(boxes, scores, idxs, nms_cfg, class_agnostic=False)
    assert torch.equal(keep, seq_keep)
    assert torch.equal(dets, seq_dets)

    # nms_cfg=None skips NMS and returns every box sorted by score
    seq_dets, seq_keep = batched_nms(boxes, scores, idxs, None, class_agnostic=False)
    assert len(seq_keep) == len(boxes)
    assert ((seq_dets[:, -1][1:] - seq_dets[:, -1][:-1]) < 0).all()
