# Ported from mmdet tests/test_models/test_task_modules/test_assigners/test_hungarian_assigner.py
# (mmdet 3.3.0), TestHungarianAssigner, rewritten for visdet. Costs are given as configs through
# visdet's config boundary (build_component), as mmdet builds them from its registry. Differences:
# an empty cost list is a ValueError, or a ConfigError from a config (mmdet: AssertionError);
# DiceCost and CrossEntropyLossCost
# (MaskFormer's mask costs) are not part of visdet, so the mask test checks FocalLossCost with
# binary_input only.
import pytest
import torch

from visdet.build import build_component
from visdet.config.errors import ConfigError
from visdet.models.task_modules import HungarianAssigner
from visdet.structures import Instances

IMG_META = {"img_shape": (10, 8)}


def _assigner(costs):
    return build_component("assigner", {"type": "HungarianAssigner", "match_costs": costs})


def _preds(num_classes: int = 81) -> Instances:
    return Instances(scores=torch.rand(10, num_classes), bboxes=torch.rand(10, 4))


def _gts() -> Instances:
    return Instances(bboxes=torch.tensor([[0.0, 0, 5, 7], [3, 5, 7, 8]]), labels=torch.tensor([1, 20]))


def _assert_every_gt_matched(result, num_gts: int) -> None:
    assert bool((result.gt_inds > -1).all())
    assert int((result.gt_inds > 0).sum()) == num_gts
    assert int((result.labels > -1).sum()) == num_gts


def test_init():
    with pytest.raises(ValueError, match="at least one match cost"):
        HungarianAssigner(match_costs=[])
    with pytest.raises(ConfigError, match="match_costs: List should have at least 1 item"):
        _assigner([])


def test_hungarian_match_assigner():
    assigner = _assigner([{"type": "ClassificationCost", "weight": 1.0}, {"type": "BBoxL1Cost", "weight": 5.0},
                          {"type": "IoUCost", "iou_mode": "giou", "weight": 2.0}])  # fmt: skip
    pred = _preds()
    # no gt: every query a negative, no label
    no_gt = Instances(bboxes=torch.empty(0, 4), labels=torch.empty(0, dtype=torch.long))
    result = assigner.assign(pred, no_gt, img_meta=IMG_META)
    assert bool((result.gt_inds == 0).all())
    assert bool((result.labels == -1).all())
    # two gts: each matched once
    _assert_every_gt_matched(assigner.assign(pred, _gts(), img_meta=IMG_META), 2)


def test_bbox_match_cost():
    pred = _preds()
    # a single cost given as one config (not a list), as upstream's ConfigDict form
    for cost in ({"type": "IoUCost", "iou_mode": "iou"}, {"type": "BBoxL1Cost"}):
        _assert_every_gt_matched(_assigner(cost).assign(pred, _gts(), img_meta=IMG_META), 2)


def test_cls_match_cost():
    pred = _preds()
    for cost in ({"type": "FocalLossCost"}, {"type": "ClassificationCost"}):
        _assert_every_gt_matched(_assigner(cost).assign(pred, _gts(), img_meta=IMG_META), 2)


def test_mask_match_cost():
    gt = Instances(masks=torch.randint(0, 2, (2, 10, 10)), labels=torch.tensor([1, 20]))
    pred = Instances(masks=torch.rand(4, 10, 10), scores=torch.rand(4, 25))
    assigner = _assigner({"type": "FocalLossCost", "binary_input": True})
    result = assigner.assign(pred, gt, img_meta={"img_shape": (10, 10)})
    _assert_every_gt_matched(result, 2)
