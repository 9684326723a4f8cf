import pytest
import torch

from visdet.build import build_model
from visdet.engine.precision import autocast
from visdet.structures import Instances
from visdet.testing.tiny_models import tiny_faster_rcnn_config


def _model():
    cfg = tiny_faster_rcnn_config(3)
    torch.manual_seed(0)
    return build_model(cfg)


# Under autocast, proposals come out in bf16 while gt boxes stay fp32; bbox_overlaps
# promotes the pair as torch arithmetic (and so mmdet) does, so the assigner works.
@pytest.mark.parametrize("precision", ["bf16"])
def test_faster_rcnn_loss_under_autocast(precision):
    model = _model().train()
    images = [torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))]
    batch, metas = model.data_preprocessor(images, [{"img_shape": (64, 64)}])
    gt = [Instances(bboxes=torch.tensor([[4.0, 6.0, 40.0, 50.0]]), labels=torch.tensor([1]))]
    with autocast(precision, torch.device("cpu")):
        losses = model.loss(batch, metas, gt)
    total = sum(v.float() for k, v in losses.items() if "loss" in k)
    assert torch.isfinite(total)
    total.backward()
