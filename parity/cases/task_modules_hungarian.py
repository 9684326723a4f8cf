"""Parity cases for the DETR family's matching: the match costs and ``HungarianAssigner``.

Inputs, all from the case's generator: Q query boxes (absolute xyxy inside an image of
``img_shape``), their class logits ``[Q, C]``, G gt boxes with labels, and for the mask
variant of ``FocalLossCost`` query mask logits and binary gt masks. Recorded: each cost
matrix ``[Q, G]`` (float32: a handful of correctly rounded operations per element), and
the assignment of the summed costs (exact: ``gt_inds``, ``labels``, the gt count).

Variants: ``no_gt`` (every query a negative), ``no_queries`` (an empty result),
``more_gts_than_queries`` (only Q gts matched), ``ties`` (duplicated queries, integer
boxes and logits, so several matchings have the same total cost and scipy's choice must
be the same call on the same matrix), costs with other weights, ``box_format="xyxy"`` and
``iou_mode="iou"``, and DETR's softmax ``ClassificationCost``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from parity.cases.base import Case, Tensors, register

# the match costs of mmdet's DINO / Deformable DETR configs
_DETR_COSTS = [{"type": "FocalLossCost", "weight": 2.0}, {"type": "BBoxL1Cost", "weight": 5.0, "box_format": "xywh"},
               {"type": "IoUCost", "iou_mode": "giou", "weight": 2.0}]  # fmt: skip


def _boxes(n: int, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    scale = torch.tensor([w, h, w, h], dtype=torch.float32)
    xy = torch.rand(n, 2, generator=gen) * 0.7
    wh = torch.rand(n, 2, generator=gen) * 0.3 + 0.02
    return torch.cat([xy, xy + wh], 1) * scale


def _inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    h, w = p["img_shape"]
    q, g, c = p["num_queries"], p["num_gts"], p["num_classes"]
    boxes, scores = _boxes(q, h, w, gen), torch.randn(q, c, generator=gen) * 2
    gt = _boxes(g, h, w, gen)
    labels = torch.randint(0, c, (g,), generator=gen)
    if p.get("ties"):  # integer values and duplicated queries: equal costs, several optimal matchings
        boxes, scores, gt = boxes.round(), scores.round(), gt.round()
        boxes[q // 2 :], scores[q // 2 :] = boxes[: q - q // 2], scores[: q - q // 2]
    out = {"bboxes": boxes, "scores": scores, "gt_bboxes": gt, "gt_labels": labels}
    if p.get("masks"):
        out["masks"] = torch.randn(q, 6, 5, generator=gen)
        out["gt_masks"] = (torch.rand(g, 6, 5, generator=gen) > 0.5).long()
    return out


def _run(p: Mapping[str, Any], inputs: Tensors, instance_cls: Any, build_cost: Any, build_assigner: Any) -> Tensors:
    meta = {"img_shape": tuple(p["img_shape"])}
    pred_fields = {"bboxes": inputs["bboxes"], "scores": inputs["scores"]}
    gt_fields = {"bboxes": inputs["gt_bboxes"], "labels": inputs["gt_labels"]}
    if p.get("masks"):
        pred_fields["masks"], gt_fields["masks"] = inputs["masks"], inputs["gt_masks"]
    pred, gt = instance_cls(**pred_fields), instance_cls(**gt_fields)
    out: Tensors = {}
    for i, cfg in enumerate(p["costs"]):
        out[f"cost{i}.{cfg['type']}"] = build_cost(cfg)(pred_instances=pred, gt_instances=gt, img_meta=meta)
    result = build_assigner([dict(cfg) for cfg in p["costs"]]).assign(pred, gt, img_meta=meta)
    out.update(gt_inds=result.gt_inds, labels=result.labels, num_gts=torch.tensor(result.num_gts))
    return out


def _ref(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.task_modules.assigners import HungarianAssigner
    from mmdet.registry import TASK_UTILS
    from mmdet.utils import register_all_modules
    from mmengine.structures import InstanceData

    register_all_modules()
    return _run(p, inputs, InstanceData, lambda cfg: TASK_UTILS.build(dict(cfg)), HungarianAssigner)


def _vis(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.build import build_component
    from visdet.structures import Instances

    return _run(p, inputs, Instances, lambda cfg: build_component("match_cost", cfg),
                lambda costs: build_component("assigner", {"type": "HungarianAssigner", "match_costs": costs}))


_BASE = dict(img_shape=[48, 64], num_classes=5, costs=_DETR_COSTS)
_CASES = {
    "detr_costs": dict(_BASE, num_queries=12, num_gts=5),
    "no_gt": dict(_BASE, num_queries=6, num_gts=0),
    "no_queries": dict(_BASE, num_queries=0, num_gts=3),
    "more_gts_than_queries": dict(_BASE, num_queries=4, num_gts=7),
    "ties": dict(_BASE, num_queries=10, num_gts=4, ties=True),
    "square_image_one_gt": dict(_BASE, img_shape=[40, 40], num_queries=9, num_gts=1),
    "other_weights_xyxy_iou": dict(
        _BASE, num_queries=11, num_gts=6,
        costs=[{"type": "FocalLossCost", "alpha": 0.4, "gamma": 1.5, "eps": 1e-8, "weight": 1.5},
               {"type": "BBoxL1Cost", "weight": 3.0, "box_format": "xyxy"},
               {"type": "IoUCost", "iou_mode": "iou", "weight": 1.0}]),
    "softmax_classification": dict(
        _BASE, num_queries=8, num_gts=4,
        costs=[{"type": "ClassificationCost", "weight": 1.0},
               {"type": "BBoxL1Cost", "weight": 5.0, "box_format": "xywh"},
               {"type": "IoUCost", "iou_mode": "giou", "weight": 2.0}]),
    "focal_mask_cost": dict(
        _BASE, num_queries=5, num_gts=3, masks=True,
        costs=[{"type": "FocalLossCost", "binary_input": True, "weight": 2.0},
               {"type": "ClassificationCost", "weight": 1.0}]),
}  # fmt: skip
for _name, _params in _CASES.items():
    register(Case(
        component="models/task_modules/hungarian_assigner", name=_name, params=_params, seed=181,
        make_inputs=_inputs, reference=_ref, visdet=_vis, exact=("gt_inds", "labels", "num_gts"),
        description="match costs [Q, G] and HungarianAssigner.assign on query boxes, logits and gts",
    ))  # fmt: skip
