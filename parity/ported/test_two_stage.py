# Ported from mmdet tests/test_models/test_detectors/test_two_stage.py (mmdet 3.3.0),
# the Faster R-CNN and Cascade R-CNN parameters of TestTwoStageBBox and the Mask R-CNN and
# Cascade Mask R-CNN parameters of TestTwoStageMask, rewritten for visdet; upstream skips the
# forward tests without CUDA, visdet runs them on CPU. Configs: mmdet's R50-FPN configs
# (visdet's presets equal them) with the backbone switched to ResNet-18, as upstream does.
import pytest
import torch

from visdet import build_detector
from visdet.structures import Instances
from visdet.testing.tiny_models import faster_rcnn_config

BBOX_CONFIGS = ["faster_rcnn_r50_fpn", "cascade_rcnn_r50_fpn"]
MASK_CONFIGS = ["mask_rcnn_r50_fpn", "cascade_mask_rcnn_r50_fpn"]


def _resnet18(cfg):
    cfg["backbone"].update(depth=18, init_cfg=None)
    cfg["neck"]["in_channels"] = [64, 128, 256, 512]
    return cfg


def _config(name="faster_rcnn_r50_fpn"):
    from visdet.config import load_config

    return _resnet18(faster_rcnn_config() if name == "faster_rcnn_r50_fpn" else load_config(name)["model"])


def _inputs(detector):
    g = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 256, (3, 128, 128), generator=g, dtype=torch.uint8),
              torch.randint(0, 256, (3, 125, 130), generator=g, dtype=torch.uint8)]
    metas = [{"img_shape": (128, 128), "ori_shape": (128, 128), "scale_factor": (1.0, 1.0)},
             {"img_shape": (125, 130), "ori_shape": (125, 130), "scale_factor": (1.0, 1.0)}]
    return detector.data_preprocessor(images, metas)


@pytest.mark.parametrize("name", BBOX_CONFIGS)
def test_init(name):
    cfg = _config(name)
    detector = build_detector(cfg)
    assert detector.backbone and detector.neck and detector.rpn_head and detector.roi_head
    cfg["rpn_head"]["num_classes"] = 2
    with pytest.warns(UserWarning, match="num_classes"):
        detector = build_detector(cfg)
    assert detector.rpn_head.num_classes == 1


@pytest.mark.parametrize("name", BBOX_CONFIGS)
def test_two_stage_forward_loss_mode(name):
    detector = build_detector(_config(name))
    batch, metas = _inputs(detector)
    gts = [Instances(bboxes=torch.tensor([[10.0, 12.0, 80.0, 90.0]]), labels=torch.tensor([3])),
           Instances(bboxes=torch.tensor([[40.0, 30.0, 120.0, 100.0]]), labels=torch.tensor([7]))]
    losses = detector.loss(batch, metas, gts)
    assert isinstance(losses, dict) and all(torch.isfinite(v) for v in losses.values())


@pytest.mark.parametrize("name", BBOX_CONFIGS)
def test_single_stage_forward_predict_mode(name):
    detector = build_detector(_config(name)).eval()
    batch, metas = _inputs(detector)
    with torch.no_grad():
        results = detector.predict(batch, metas)
    assert len(results) == 2 and all(isinstance(r, Instances) for r in results)


@pytest.mark.parametrize("name", BBOX_CONFIGS)
def test_single_stage_forward_tensor_mode(name):
    detector = build_detector(_config(name)).eval()
    batch, _ = _inputs(detector)
    with torch.no_grad():
        out = detector(batch)
    assert isinstance(out, tuple) and all(isinstance(t, torch.Tensor) for t in out)


# ------------------------------------------------------------------ TestTwoStageMask
# mmdet's (cascade) mask-rcnn R50-FPN with the backbone switched to ResNet-18, as upstream does.
def _mask_config(name="mask_rcnn_r50_fpn"):
    from visdet.config import load_config

    return _resnet18(load_config(name)["model"])


@pytest.mark.parametrize("name", MASK_CONFIGS)
def test_mask_init(name):
    cfg = _mask_config(name)
    detector = build_detector(cfg)
    assert detector.backbone and detector.neck and detector.rpn_head
    assert detector.roi_head.bbox_head and detector.roi_head.mask_head and detector.roi_head.with_mask
    cfg["rpn_head"]["num_classes"] = 2
    with pytest.warns(UserWarning, match="num_classes"):
        detector = build_detector(cfg)
    assert detector.rpn_head.num_classes == 1


@pytest.mark.parametrize("name", MASK_CONFIGS)
def test_mask_forward_loss_mode(name):
    detector = build_detector(_mask_config(name))
    batch, metas = _inputs(detector)
    masks = torch.zeros(1, *batch.shape[2:], dtype=torch.uint8)
    masks[0, 12:90, 10:80] = 1
    gts = [Instances(bboxes=torch.tensor([[10.0, 12.0, 80.0, 90.0]]), labels=torch.tensor([3]), masks=masks),
           Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long), masks=masks[:0])]
    losses = detector.loss(batch, metas, gts)
    assert isinstance(losses, dict) and any(k.endswith("loss_mask") for k in losses)
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in losses.values())


@pytest.mark.parametrize("name", MASK_CONFIGS)
def test_mask_forward_predict_mode(name):
    cfg = _mask_config(name)
    cfg["test_cfg"]["rcnn"]["score_thr"] = 0.0  # random weights: keep low-scoring detections
    detector = build_detector(cfg).eval()
    batch, metas = _inputs(detector)
    with torch.no_grad():
        results = detector.predict(batch, metas)
    assert len(results) == 2 and all(isinstance(r, Instances) for r in results)
    assert results[1].masks.shape == (len(results[1]), 125, 130)


@pytest.mark.parametrize("name", MASK_CONFIGS)
def test_mask_forward_tensor_mode(name):
    detector = build_detector(_mask_config(name)).eval()
    batch, _ = _inputs(detector)
    with torch.no_grad():
        out = detector(batch)
    assert isinstance(out, tuple) and all(isinstance(t, torch.Tensor) for t in out)
