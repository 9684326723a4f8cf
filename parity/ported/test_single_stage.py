# Ported from mmdet tests/test_models/test_detectors/test_single_stage.py (mmdet 3.3.0), the
# RetinaNet parameter (retinanet/retinanet_r18_fpn_1x_coco.py) of TestSingleStageDetector,
# rewritten for visdet; upstream skips its CUDA half without a GPU, visdet runs on CPU. The
# config is visdet's retinanet_r50_fpn preset (equal to mmdet's) with the backbone switched
# to ResNet-18 as mmdet's r18 config does. The other upstream parameters (CenterNet, FSAF,
# YOLOX, YOLOv3, RepPoints) are detectors visdet does not have.
import pytest
import torch

from parity.ported.test_two_stage import _inputs  # upstream's demo_mm_inputs: 128x128 and 125x130
from visdet import build_detector
from visdet.config import load_config
from visdet.structures import Instances


def _retinanet_r18():
    cfg = load_config("retinanet_r50_fpn")["model"]
    cfg["backbone"].update(depth=18, init_cfg=None)
    cfg["neck"]["in_channels"] = [64, 128, 256, 512]
    return cfg


def test_init():
    detector = build_detector(_retinanet_r18())
    assert detector.backbone and detector.neck and detector.bbox_head
    assert type(detector).__name__ == "RetinaNet" and detector.backbone.depth == 18


@pytest.mark.parametrize("with_gt", [True, False])
def test_single_stage_forward_loss_mode(with_gt):
    torch.manual_seed(0)
    detector = build_detector(_retinanet_r18())
    batch, metas = _inputs(detector)
    gts = [Instances(bboxes=torch.tensor([[10.0, 12.0, 80.0, 90.0]]), labels=torch.tensor([3])),
           Instances(bboxes=torch.tensor([[40.0, 30.0, 120.0, 100.0]]), labels=torch.tensor([7]))]
    if not with_gt:
        gts = [Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long)) for _ in gts]
    losses = detector.loss(batch, metas, gts)
    assert isinstance(losses, dict) and set(losses) == {"loss_cls", "loss_bbox"}
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    assert losses["loss_cls"] > 0
    assert (losses["loss_bbox"] > 0) == with_gt  # no ground truth: no positive anchor to regress


def test_single_stage_forward_predict_mode():
    detector = build_detector(_retinanet_r18()).eval()
    batch, metas = _inputs(detector)
    with torch.no_grad():
        results = detector.predict(batch, metas)
    assert len(results) == 2 and all(isinstance(r, Instances) for r in results)
    for res, (h, w) in zip(results, [(128, 128), (125, 130)]):
        assert len(res) <= 100 and res.bboxes.shape == (len(res), 4)
        assert bool((res.scores >= 0.05).all()) and bool(((res.labels >= 0) & (res.labels < 80)).all())
        assert bool((res.bboxes[:, 0::2] <= w).all()) and bool((res.bboxes[:, 1::2] <= h).all())


def test_single_stage_forward_tensor_mode():
    detector = build_detector(_retinanet_r18()).eval()
    batch, _ = _inputs(detector)
    with torch.no_grad():
        out = detector(batch)
    assert isinstance(out, tuple) and all(isinstance(t, torch.Tensor) for t in out)
    # five levels of class scores (9 anchors x 80 classes) then five of box deltas (9 x 4)
    assert len(out) == 10
    assert [t.shape[1] for t in out] == [720] * 5 + [36] * 5
    # the batch is padded to 128 x 160 (pad_size_divisor 32); strides 8 to 128
    assert [tuple(t.shape[2:]) for t in out[:5]] == [(16, 20), (8, 10), (4, 5), (2, 3), (1, 2)]
