# Ported from mmyolo tests/test_models/test_dense_heads/test_rtmdet_head.py (TestRTMDetHead),
# rewritten for visdet's mmdet-API heads. mmdet 3.3 ships no RTMDet head test of its own; mmyolo's
# is the upstream one (its RTMDetSepBNHeadModule is mmdet's RTMDetSepBNHead split into a module
# and a loss wrapper). Each test runs on both RTMDetHead and RTMDetSepBNHead with mmyolo's small
# head (4 classes, 1 input channel, one 64-channel tower conv, strides 4, 8, 16, a 256 image).
# test_loss_by_feat holds the union of mmyolo's versions: empty gt, one gt, one class (newest),
# and a gt outside the image (the version with mmdet's DynamicSoftLabelAssigner): no prior
# centre lies inside that gt, the assigner leaves every prior negative, and the box loss is a
# zero (as in mmdet), the class loss positive. Differences: visdet's predict_by_feat has no
# with_nms switch (NMS always runs); mmyolo's BatchDynamicSoftLabelAssigner is mmdet's
# DynamicSoftLabelAssigner here.
import math

import pytest
import torch

from visdet.build import build_component
from visdet.structures import Instances

S = 256
STRIDES = [4, 8, 16]
HEAD_TYPES = ["RTMDetHead", "RTMDetSepBNHead"]
TRAIN_CFG = {"assigner": {"type": "DynamicSoftLabelAssigner", "topk": 13}, "allowed_border": -1, "pos_weight": -1,
             "debug": False}  # fmt: skip
TEST_CFG = {"nms_pre": 30000, "min_bbox_size": 0, "score_thr": 0.001, "nms": {"type": "nms", "iou_threshold": 0.65},
            "max_per_img": 300}  # fmt: skip


def _cfg(head_type: str, num_classes: int = 4, **extra) -> dict:
    return {
        "type": head_type, "num_classes": num_classes, "in_channels": 1, "stacked_convs": 1, "feat_channels": 64,
        "anchor_generator": {"type": "MlvlPointGenerator", "offset": 0, "strides": STRIDES},
        "bbox_coder": {"type": "DistancePointBBoxCoder"},
        "loss_cls": {"type": "QualityFocalLoss", "use_sigmoid": True, "beta": 2.0, "loss_weight": 1.0},
        "loss_bbox": {"type": "GIoULoss", "loss_weight": 2.0},
        **extra,
    }  # fmt: skip


def _feats() -> list[torch.Tensor]:
    return [torch.rand(1, 1, S // stride, S // stride) for stride in STRIDES]


def _classifiers(head) -> list[torch.nn.Conv2d]:
    return list(head.rtm_cls) if isinstance(head.rtm_cls, torch.nn.ModuleList) else [head.rtm_cls]


@pytest.mark.parametrize("head_type", HEAD_TYPES)
def test_init_weights(head_type):
    head = build_component("dense_head", _cfg(head_type))
    with torch.no_grad():
        for conv in _classifiers(head):
            conv.bias.fill_(5.0)
    head.init_weights()
    # the classifiers' bias returns to the 0.01 prior: -log((1 - 0.01) / 0.01)
    for conv in _classifiers(head):
        assert conv.bias.unique().tolist() == pytest.approx([-math.log(99.0)])


@pytest.mark.parametrize("head_type", HEAD_TYPES)
def test_predict_by_feat(head_type):
    torch.manual_seed(0)
    head = build_component("dense_head", _cfg(head_type, test_cfg=TEST_CFG)).eval()
    meta = {"img_shape": (S, S), "ori_shape": (S, S), "scale_factor": (1.0, 1.0)}
    with torch.no_grad():
        cls_scores, bbox_preds = head(_feats())
        rescaled = head.predict_by_feat(cls_scores, bbox_preds, [meta], rescale=True)
        unscaled = head.predict_by_feat(cls_scores, bbox_preds, [meta], rescale=False)
    for results in (rescaled, unscaled):
        assert len(results) == 1
        res = results[0]
        assert 0 < len(res.bboxes) <= TEST_CFG["max_per_img"]
        assert bool((res.bboxes >= 0).all()) and bool((res.bboxes <= S).all())
        assert bool((res.labels >= 0).all()) and bool((res.labels < 4).all())
    # scale factor 1: rescaling changes nothing
    assert torch.equal(rescaled[0].bboxes, unscaled[0].bboxes)


def _loss_sums(head, cls_scores, bbox_preds, gt: Instances) -> tuple[float, float]:
    meta = {"img_shape": (S, S), "pad_shape": (S, S), "scale_factor": (1.0, 1.0)}
    losses = head.loss_by_feat(cls_scores, bbox_preds, [gt], [meta])
    return sum(losses["loss_cls"]).item(), sum(losses["loss_bbox"]).item()


@pytest.mark.parametrize("head_type", HEAD_TYPES)
def test_loss_by_feat(head_type):
    torch.manual_seed(0)
    feats = _feats()
    head = build_component("dense_head", _cfg(head_type, train_cfg=TRAIN_CFG))
    cls_scores, bbox_preds = head(feats)

    # no truth: background is still trained, there is nothing to regress
    empty = Instances(bboxes=torch.empty((0, 4)), labels=torch.zeros(0, dtype=torch.long))
    cls_loss, box_loss = _loss_sums(head, cls_scores, bbox_preds, empty)
    assert cls_loss > 0
    assert box_loss == 0

    # one gt: both terms are positive for random inputs
    one = Instances(bboxes=torch.tensor([[23.6667, 23.8757, 238.6326, 151.8874]]), labels=torch.tensor([1]))
    cls_loss, box_loss = _loss_sums(head, cls_scores, bbox_preds, one)
    assert cls_loss > 0
    assert box_loss > 0

    # a gt outside the image: no prior is a candidate, so no positive and a zero box loss
    outside = Instances(bboxes=torch.tensor([[S * 4.0, S * 4.0, S * 4.0 + 10, S * 4.0 + 10]]),
                        labels=torch.tensor([2]))  # fmt: skip
    cls_loss, box_loss = _loss_sums(head, cls_scores, bbox_preds, outside)
    assert cls_loss > 0
    assert box_loss == 0

    # a single class
    head = build_component("dense_head", _cfg(head_type, num_classes=1, train_cfg=TRAIN_CFG))
    cls_scores, bbox_preds = head(feats)
    one = Instances(bboxes=torch.tensor([[23.6667, 23.8757, 238.6326, 151.8874]]), labels=torch.tensor([0]))
    cls_loss, box_loss = _loss_sums(head, cls_scores, bbox_preds, one)
    assert cls_loss > 0
    assert box_loss > 0
