# Ported from mmdet tests/test_models/test_detectors/test_two_stage.py (mmdet 3.3.0),
# Faster R-CNN parts (TestTwoStageBBox), rewritten for visdet; upstream skips the
# forward tests without CUDA, visdet runs them on CPU. Config: mmdet's faster-rcnn
# R50-FPN with the backbone switched to ResNet-18, as upstream does.
import pytest
import torch

from visdet import build_detector
from visdet.structures import Instances
from visdet.testing.tiny_models import faster_rcnn_config


def _config():
    cfg = faster_rcnn_config()
    cfg["backbone"].update(depth=18, init_cfg=None)
    cfg["neck"]["in_channels"] = [64, 128, 256, 512]
    return cfg


def _inputs(detector):
    g = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 256, (3, 128, 128), generator=g, dtype=torch.uint8),
              torch.randint(0, 256, (3, 125, 130), generator=g, dtype=torch.uint8)]
    metas = [{"img_shape": (128, 128), "ori_shape": (128, 128), "scale_factor": (1.0, 1.0)},
             {"img_shape": (125, 130), "ori_shape": (125, 130), "scale_factor": (1.0, 1.0)}]
    return detector.data_preprocessor(images, metas)


def test_init():
    cfg = _config()
    detector = build_detector(cfg)
    assert detector.backbone and detector.neck and detector.rpn_head and detector.roi_head
    cfg["rpn_head"]["num_classes"] = 2
    with pytest.warns(UserWarning, match="num_classes"):
        detector = build_detector(cfg)
    assert detector.rpn_head.num_classes == 1


def test_two_stage_forward_loss_mode():
    detector = build_detector(_config())
    batch, metas = _inputs(detector)
    gts = [Instances(bboxes=torch.tensor([[10.0, 12.0, 80.0, 90.0]]), labels=torch.tensor([3])),
           Instances(bboxes=torch.tensor([[40.0, 30.0, 120.0, 100.0]]), labels=torch.tensor([7]))]
    losses = detector.loss(batch, metas, gts)
    assert isinstance(losses, dict) and all(torch.isfinite(v) for v in losses.values())


def test_single_stage_forward_predict_mode():
    detector = build_detector(_config()).eval()
    batch, metas = _inputs(detector)
    with torch.no_grad():
        results = detector.predict(batch, metas)
    assert len(results) == 2 and all(isinstance(r, Instances) for r in results)


def test_single_stage_forward_tensor_mode():
    detector = build_detector(_config()).eval()
    batch, _ = _inputs(detector)
    with torch.no_grad():
        out = detector(batch)
    assert isinstance(out, tuple) and all(isinstance(t, torch.Tensor) for t in out)


# ------------------------------------------------------------------ TestTwoStageMask
# mmdet's mask-rcnn R50-FPN with the backbone switched to ResNet-18, as upstream does.
def _mask_config():
    from visdet.config import load_config

    cfg = load_config("mask_rcnn_r50_fpn")["model"]
    cfg["backbone"].update(depth=18, init_cfg=None)
    cfg["neck"]["in_channels"] = [64, 128, 256, 512]
    return cfg


def test_mask_init():
    detector = build_detector(_mask_config())
    assert detector.backbone and detector.neck and detector.rpn_head
    assert detector.roi_head.bbox_head and detector.roi_head.mask_head and detector.roi_head.with_mask


def test_mask_forward_loss_mode():
    detector = build_detector(_mask_config())
    batch, metas = _inputs(detector)
    masks = torch.zeros(1, *batch.shape[2:], dtype=torch.uint8)
    masks[0, 12:90, 10:80] = 1
    gts = [Instances(bboxes=torch.tensor([[10.0, 12.0, 80.0, 90.0]]), labels=torch.tensor([3]), masks=masks),
           Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long), masks=masks[:0])]
    losses = detector.loss(batch, metas, gts)
    assert isinstance(losses, dict) and "loss_mask" in losses
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in losses.values())


def test_mask_forward_predict_mode():
    cfg = _mask_config()
    cfg["test_cfg"]["rcnn"]["score_thr"] = 0.0  # random weights: keep low-scoring detections
    detector = build_detector(cfg).eval()
    batch, metas = _inputs(detector)
    with torch.no_grad():
        results = detector.predict(batch, metas)
    assert len(results) == 2 and all(isinstance(r, Instances) for r in results)
    assert results[1].masks.shape == (len(results[1]), 125, 130)


def test_mask_forward_tensor_mode():
    detector = build_detector(_mask_config()).eval()
    batch, _ = _inputs(detector)
    with torch.no_grad():
        out = detector(batch)
    assert isinstance(out, tuple) and all(isinstance(t, torch.Tensor) for t in out)
