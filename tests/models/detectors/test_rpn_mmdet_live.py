"""Live comparison with mmdet (skipped without the reference): the ``RPN`` detector.

A reduced version of mmdet's ``configs/_base_/models/rpn_r50_fpn.py`` is built by mmdet
(``MODELS.build``) and by visdet (``visdet.build.build_model``) from the same dict; with
mmdet's weights loaded strictly, predictions and losses must be equal.
"""

from __future__ import annotations

import copy

import pytest
import torch

from parity.reference import reference_missing
from visdet.build import build_model
from visdet.config import model_preset
from visdet.structures import Instances

pytestmark = pytest.mark.live


def _config() -> dict:
    cfg = model_preset("rpn_r50_fpn")
    cfg["backbone"].update(depth=18, base_channels=4)
    cfg["neck"].update(in_channels=[4, 8, 16, 32], out_channels=8)
    cfg["rpn_head"].update(in_channels=8, feat_channels=8)
    cfg["train_cfg"]["rpn"]["sampler"]["num"] = 32
    cfg["test_cfg"]["rpn"].update(nms_pre=200, max_per_img=50)
    return cfg


@pytest.fixture(scope="module")
def models():
    missing = reference_missing()
    if missing:
        pytest.skip(missing)
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import ConfigDict

    register_all_modules()
    torch.manual_seed(0)
    reference = MODELS.build(ConfigDict(copy.deepcopy(_config())))
    ours = build_model(_config())
    ours.load_state_dict(reference.state_dict(), strict=True)
    return ours, reference


def _batch():
    g = torch.Generator().manual_seed(3)
    inputs = torch.randn(2, 3, 64, 96, generator=g)
    metas = [{"img_shape": (64, 90), "pad_shape": (64, 96), "ori_shape": (128, 180), "scale_factor": (0.5, 0.5),
              "batch_input_shape": (64, 96)},
             {"img_shape": (60, 96), "pad_shape": (64, 96), "ori_shape": (60, 96), "scale_factor": (1.0, 1.0),
              "batch_input_shape": (64, 96)}]  # fmt: skip
    boxes = torch.tensor([[4.0, 6.0, 40.0, 50.0], [30.0, 10.0, 80.0, 44.0]])
    gts = [Instances(bboxes=boxes, labels=torch.tensor([2, 5])),
           Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))]  # fmt: skip
    return inputs, metas, gts


def _samples(metas, gts):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    samples = []
    for meta, gt in zip(metas, gts):
        sample = DetDataSample(metainfo=meta)
        sample.gt_instances = InstanceData(bboxes=gt.bboxes.clone(), labels=gt.labels.clone())
        samples.append(sample)
    return samples


def test_state_dict_keys_are_mmdets(models):
    ours, reference = models
    assert list(ours.state_dict()) == list(reference.state_dict())
    assert any(key.startswith("bbox_head.rpn_conv") for key in ours.state_dict())


def test_predictions_equal_mmdets(models):
    ours, reference = models
    inputs, metas, _ = _batch()
    ours.eval(), reference.eval()
    with torch.no_grad():
        expected = reference.predict(inputs, _samples(metas, _batch()[2]), rescale=True)
        got = ours.predict(inputs, metas, rescale=True)
    for mine, theirs in zip(got, expected):
        pred = theirs.pred_instances
        assert len(mine) == len(pred) > 0
        torch.testing.assert_close(mine.bboxes, pred.bboxes, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(mine.scores, pred.scores, rtol=1e-5, atol=1e-5)
        assert torch.equal(mine.labels, pred.labels)


def test_losses_equal_mmdets(models):
    ours, reference = models
    inputs, metas, gts = _batch()
    ours.train(), reference.train()
    torch.manual_seed(11)
    expected = reference.loss(inputs, _samples(metas, gts))
    torch.manual_seed(11)
    got = ours.loss(inputs, metas, gts)
    assert set(got) == set(expected)
    for name, value in expected.items():
        total = sum(value) if isinstance(value, (list, tuple)) else value
        torch.testing.assert_close(got[name], total, rtol=1e-5, atol=1e-6)
