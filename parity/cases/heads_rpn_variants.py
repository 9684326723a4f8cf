"""Parity cases: RPNHead losses on decoded boxes, and samples whose anchors are all positive.

``reg_decoded_bbox`` cannot run through the float64 head: mmdet's anchor targets are
``zeros_like(anchors)`` in float32 while the predictions are float64. It runs in float32
instead, on given class scores and box deltas (``loss_by_feat`` alone, no convolution):
every output is then a few correctly rounded operations per element plus one ``exp`` in
the decoding (a last-ulp difference between CPU math paths, far under the float32
tolerance) and the loss sums, so the golden holds on any CPU. The all-positive sample
uses the float64 head cases of ``heads_detector.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from parity.cases._heads_detector_common import STRIDES, draw_gt, gt_lists, metas, mm_build, mm_cfg, mm_instances
from parity.cases.base import Case, Tensors, register
from parity.cases.heads_detector import _RPN_PARAMS, RPN_COMPONENT, _rpn_cfg, _rpn_inputs, _rpn_reference, _rpn_visdet


def _decoded_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    out = {}
    for level, (h, w) in enumerate(params["feat_sizes"]):
        out[f"cls.{level}"] = torch.randn(params["batch"], 3, h, w, generator=generator)
        out[f"reg.{level}"] = torch.randn(params["batch"], 12, h, w, generator=generator) * 0.3
    return {**out, **draw_gt(params, generator)}


def _decoded_run(head: Any, params: Mapping[str, Any], inputs: Tensors, gts: list) -> Tensors:
    levels = range(len(STRIDES))
    cls_scores = [inputs[f"cls.{level}"].clone().requires_grad_(True) for level in levels]
    bbox_preds = [inputs[f"reg.{level}"].clone().requires_grad_(True) for level in levels]
    torch.manual_seed(params["sample_seed"])
    losses = head.loss_by_feat(cls_scores, bbox_preds, gts, metas(params))
    out: Tensors = {}
    total = torch.zeros(())
    for name in ("loss_rpn_cls", "loss_rpn_bbox"):
        for level, value in enumerate(losses[name]):
            out[f"loss.{name}.{level}"] = value.detach().clone()
            total = total + value
    total.backward()
    for level in levels:
        out[f"grad.cls.{level}"] = cls_scores[level].grad.detach().clone()
        out[f"grad.reg.{level}"] = bbox_preds[level].grad.detach().clone()
    return out


def _decoded_cfg(params: Mapping[str, Any]) -> dict:
    return {**_rpn_cfg(params), "reg_decoded_bbox": True, "train_cfg": params["train_cfg"]["rpn"],
            "test_cfg": params["test_cfg"]["rpn"]}


def _decoded_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    head = mm_build(mm_cfg(_decoded_cfg(params)))
    return _decoded_run(head, params, inputs, mm_instances(gt_lists(params, inputs, zero_labels=True)))


def _decoded_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.build import build_component
    from visdet.structures import Instances

    head = build_component("dense_head", _decoded_cfg(params))
    gts = [Instances(bboxes=b, labels=lab) for b, lab in gt_lists(params, tensors, zero_labels=True)]
    return _decoded_run(head, params, tensors, gts)


register(Case(
    component=RPN_COMPONENT, name="decoded_box_loss", seed=24,
    params={**_RPN_PARAMS, "num_gts": [3, 2]},
    make_inputs=_decoded_inputs, reference=_decoded_reference, visdet=_decoded_visdet,
    description="RPNHead(reg_decoded_bbox=True): L1 loss on boxes decoded from the anchors, per level, with "
                "seeded sampling; gradients to the given scores and deltas (float32, no convolution)",
))

_RPN_TRAIN = _RPN_PARAMS["train_cfg"]["rpn"]
register(Case(
    component=RPN_COMPONENT, dtype="float64", name="all_positive_sample", seed=25,
    params={**_RPN_PARAMS, "num_gts": [5, 6],
            "train_cfg": {"rpn": {**_RPN_TRAIN, "sampler": {**_RPN_TRAIN["sampler"], "num": 4, "pos_fraction": 1.0}}}},
    make_inputs=_rpn_inputs, reference=_rpn_reference, visdet=_rpn_visdet,
    description="RPNHead whose sampler (num=4, pos_fraction=1) takes only positive anchors: no negative "
                "in either image",
))
register(Case(
    component=RPN_COMPONENT, dtype="float64", name="wide_convs_pos_weight_zero", seed=26,
    params={**_RPN_PARAMS, "channels": 6, "feat_channels": 10, "num_convs": 2, "num_gts": [3, 2],
            "train_cfg": {"rpn": {**_RPN_TRAIN, "pos_weight": 0}}},
    make_inputs=_rpn_inputs, reference=_rpn_reference, visdet=_rpn_visdet,
    description="RPNHead with two convs from 6 input to 10 feature channels (the first conv takes in_channels), "
                "and pos_weight=0 (mmdet's boundary: a weight <= 0 means 1 for positive labels)",
))
