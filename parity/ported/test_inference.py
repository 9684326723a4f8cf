# Ported from mmdet tests/test_apis/test_inference.py (mmdet 3.3.0), rewritten for visdet.
# Upstream uses configs/retinanet/retinanet_r18_fpn_1x_coco.py; visdet has no RetinaNet,
# so the same checks run on mmdet's Faster R-CNN config (tests/data/mmdet_configs, the
# file itself, with its _base_ chain) switched to ResNet-18 by cfg_options, as upstream's
# retinanet_r18 config does. CUDA variants skip without a GPU, as upstream. To keep the
# CPU run short, inference resizes to 128 instead of 1333x800 and keeps 100 proposals.
from pathlib import Path

import numpy as np
import pytest
import torch

from visdet import inference_detector, init_detector
from visdet.structures import Instances

CONFIG = Path(__file__).parents[2] / "tests/data/mmdet_configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py"
R18 = {
    "model": {
        # upstream passes a Pretrained init_cfg; visdet accepts and ignores it (no downloads)
        "backbone": {"depth": 18, "init_cfg": {"type": "Pretrained", "checkpoint": "torchvision://resnet18"}},
        "neck": {"in_channels": [64, 128, 256, 512]},
    }
}
DEVICES = ("cpu", "cuda")


def _skip_unavailable(device):
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("test requires GPU and torch+cuda")


@pytest.mark.parametrize("device", DEVICES)
def test_init_detector(device):
    _skip_unavailable(device)
    model = init_detector(str(CONFIG), device=device, cfg_options=R18)
    assert model.backbone.layer4[1].conv2.weight.shape == (512, 512, 3, 3)
    model = init_detector(Path(CONFIG), device=device, cfg_options=R18)  # a Path works too
    assert next(model.parameters()).device.type == device
    with pytest.raises(TypeError):
        init_detector([str(CONFIG)])


def _small_config():
    from visdet.config import load_config, merge

    cfg = merge(load_config(CONFIG), R18)
    cfg["model"]["test_cfg"]["rpn"].update(nms_pre=100, max_per_img=100)
    for step in cfg["test_dataloader"]["dataset"]["pipeline"]:
        if step["type"] == "Resize":
            step["scale"] = [128, 128]
    return cfg


@pytest.mark.parametrize("device", DEVICES)
def test_inference_detector(device):
    _skip_unavailable(device)
    rng = np.random.RandomState(0)
    img1 = rng.randint(0, 255, (100, 100, 3), dtype=np.uint8)
    img2 = rng.randint(0, 255, (100, 100, 3), dtype=np.uint8)
    model = init_detector(_small_config(), device=device)
    result = inference_detector(model, img1)
    assert isinstance(result, Instances)
    result = inference_detector(model, [img1, img2])
    assert isinstance(result, list) and len(result) == 2
