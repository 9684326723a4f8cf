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
