"""HungarianAssigner and its match costs: bad input is reported clearly; properties of the matching."""

from __future__ import annotations

import itertools

import pytest
import torch

from visdet.build import build_component
from visdet.config.errors import ConfigError
from visdet.models.task_modules import BBoxL1Cost, ClassificationCost, FocalLossCost, HungarianAssigner, IoUCost
from visdet.structures import Instances
from visdet.structures.boxes import bbox_cxcywh_to_xyxy, bbox_xyxy_to_cxcywh

META = {"img_shape": (20, 30)}


def _pred(n: int = 5, c: int = 3, seed: int = 0) -> Instances:
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=gen) * 15
    return Instances(bboxes=torch.cat([xy, xy + 1 + torch.rand(n, 2, generator=gen) * 5], 1),
                     scores=torch.randn(n, c, generator=gen))  # fmt: skip


def _gt(g: int = 3) -> Instances:
    boxes = torch.tensor([[1.0, 2, 8, 9], [10, 3, 18, 12], [4, 10, 12, 19], [0, 0, 30, 20]])[:g]
    return Instances(bboxes=boxes, labels=torch.arange(g) % 3)


def test_bad_box_format_is_named():
    with pytest.raises(ValueError, match="box_format must be one of .*'cxcywh'"):
        BBoxL1Cost(box_format="cxcywh")
    with pytest.raises(ConfigError, match="box_format"):
        build_component("match_cost", {"type": "BBoxL1Cost", "box_format": "cxcywh"})


def test_bad_iou_mode_is_named():
    with pytest.raises(ValueError, match="iou_mode must be one of"):
        IoUCost(iou_mode="diou")


def test_l1_cost_needs_the_image_shape():
    with pytest.raises(ValueError, match="needs img_meta with 'img_shape'"):
        BBoxL1Cost()(_pred(), _gt())
    with pytest.raises(KeyError, match="img_shape"):
        BBoxL1Cost()(_pred(), _gt(), img_meta={"pad_shape": (20, 30)})


def test_empty_cost_list_and_non_callable_costs():
    with pytest.raises(ValueError, match="at least one match cost"):
        HungarianAssigner(match_costs=[])
    with pytest.raises(TypeError, match="must be callable"):
        HungarianAssigner(match_costs=[{"type": "IoUCost"}])
    with pytest.raises(ConfigError, match="did you mean 'FocalLossCost'"):
        build_component("assigner", {"type": "HungarianAssigner", "match_costs": [{"type": "FocalLosCost"}]})
    with pytest.raises(ConfigError, match="match_costs"):
        build_component("assigner", {"type": "HungarianAssigner", "match_costs": []})


def test_matching_is_the_brute_force_optimum():
    costs = [FocalLossCost(weight=2.0), BBoxL1Cost(box_format="xywh", weight=5.0), IoUCost(weight=2.0)]
    pred, gt = _pred(6), _gt(3)
    total = sum(cost(pred, gt, META) for cost in costs)
    result = HungarianAssigner(match_costs=costs).assign(pred, gt, img_meta=META)
    matched = [(q, int(k) - 1) for q, k in enumerate(result.gt_inds.tolist()) if k > 0]
    assert sorted(g for _, g in matched) == [0, 1, 2]
    best = min(sum(float(total[q, g]) for g, q in enumerate(rows)) for rows in itertools.permutations(range(6), 3))
    assert sum(float(total[q, g]) for q, g in matched) == pytest.approx(best, abs=1e-6)
    assert result.labels.tolist() == [int(gt.labels[k - 1]) if k > 0 else -1 for k in result.gt_inds.tolist()]
    assert result.max_overlaps is None


def test_no_gt_and_no_queries():
    assigner = HungarianAssigner(match_costs=ClassificationCost())
    none = Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
    result = assigner.assign(_pred(4), none, img_meta=META)
    assert result.gt_inds.tolist() == [0, 0, 0, 0] and result.labels.tolist() == [-1] * 4 and result.num_gts == 0
    empty = assigner.assign(Instances(bboxes=torch.zeros(0, 4), scores=torch.zeros(0, 3)), _gt(2), img_meta=META)
    assert empty.gt_inds.shape == (0,) and empty.num_gts == 2


def test_box_format_round_trip():
    boxes = _pred(7).bboxes
    assert torch.allclose(bbox_cxcywh_to_xyxy(bbox_xyxy_to_cxcywh(boxes)), boxes, atol=1e-5)
