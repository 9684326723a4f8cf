"""Parity cases: StandardRoIHead with a decoded-box loss, samples without negatives, and
prediction from empty proposal lists.

Inputs, configs and key conventions are those of ``heads_detector_roi_preproc.py``. With
``pos_fraction=1.0`` and a sampler ``num`` no larger than the ground truth added as
proposals, every sampled RoI is positive (no negative at all). Prediction runs on the same
features with no proposal in any image: mmdet's empty detections.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from parity.cases._heads_detector_common import (
    gt_lists,
    load_state,
    metas,
    mm_build,
    mm_cfg,
    mm_instances,
    module_grads,
    state_entries,
)
from parity.cases.base import Case, Tensors, register
from parity.cases.heads_detector_roi_preproc import (
    _ROI_HEAD_PARAMS,
    _roi_head_cfg,
    _roi_head_inputs,
    _split_proposals,
)

COMPONENT = "models/roi_heads/standard_roi_head"


def _cfg(params: Mapping[str, Any]) -> dict:
    cfg = _roi_head_cfg(params)
    return {**cfg, "bbox_head": {**cfg["bbox_head"], **params.get("bbox_head", {})}}


def _run(head: Any, params: Mapping[str, Any], inputs: Tensors, rpn_results: list, gts: list,
         call_loss: Any, call_predict: Any) -> Tensors:
    feats = tuple(inputs[f"feat.{level}"].clone().requires_grad_(True) for level in range(len(params["feat_sizes"])))
    torch.manual_seed(params["sample_seed"])
    losses = call_loss(feats, rpn_results, gts)
    out = {f"loss.{k}": v.detach().clone().reshape(()) for k, v in losses.items()}
    (losses["loss_cls"] + losses["loss_bbox"]).backward()
    for level, feat in enumerate(feats):
        out[f"grad.input.{level}"] = feat.grad.detach().clone() if feat.grad is not None else torch.zeros_like(feat)
    out.update(module_grads(head))
    with torch.no_grad():
        for i, res in enumerate(call_predict(tuple(f.detach() for f in feats))):
            for key in ("bboxes", "scores", "labels"):
                out[f"pred_no_proposals.{i}.{key}"] = getattr(res, key).clone()
    return out


def _reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    torch.manual_seed(params["seed"])
    head = mm_build(mm_cfg({**_cfg(params), "train_cfg": params["train_cfg"], "test_cfg": params["test_cfg"]}))
    state = state_entries(head)
    rpn_results = [InstanceData(bboxes=p.clone(), scores=torch.ones(len(p)),
                                labels=torch.zeros(len(p), dtype=torch.long))
                   for p in _split_proposals(params, inputs)]
    samples = []
    for meta, gt in zip(metas(params), mm_instances(gt_lists(params, inputs))):
        sample = DetDataSample(metainfo=meta)
        sample.gt_instances = gt
        samples.append(sample)

    def predict(feats):
        empty = [InstanceData(bboxes=p[:0].clone()) for p in _split_proposals(params, inputs)]
        return head.predict(feats, empty, samples, rescale=True)

    return {**state, **_run(head, params, inputs, rpn_results, samples, head.loss, predict)}


def _visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.build import build_component
    from visdet.structures import Instances

    head = build_component("roi_head", {**_cfg(params), "train_cfg": params["train_cfg"],
                                        "test_cfg": params["test_cfg"]})
    load_state(head, tensors)
    rpn_results = [Instances(bboxes=p.clone()) for p in _split_proposals(params, tensors)]
    gts = [Instances(bboxes=b, labels=lab) for b, lab in gt_lists(params, tensors)]

    def predict(feats):
        empty = [Instances(bboxes=p[:0].clone()) for p in _split_proposals(params, tensors)]
        return head.predict(feats, empty, metas(params), rescale=True)

    return _run(head, params, tensors, rpn_results, gts, head.loss, predict)


_TRAIN_CFG = _ROI_HEAD_PARAMS["train_cfg"]
register(Case(
    component=COMPONENT, dtype="float64", name="one_and_no_negatives_pos_weight", seed=24,
    params={**_ROI_HEAD_PARAMS, "num_gts": [5, 4], "num_proposals": [60, 0],
            "train_cfg": {**_TRAIN_CFG, "pos_weight": 2.0,
                          "sampler": {**_TRAIN_CFG["sampler"], "num": 5, "pos_fraction": 0.8}},
            "test_cfg": {"score_thr": 0.05, "nms": {"type": "nms", "iou_threshold": 0.5}, "max_per_img": 20}},
    make_inputs=_roi_head_inputs, reference=_reference, visdet=_visdet, exact=("pred_no_proposals.*.labels",),
    description="5 RoIs per image, 4 positive: image 1 samples exactly one negative, image 2 (no proposals, only "
                "its gt boxes) none; pos_weight 2 on the positives' classification",
))
register(Case(
    component=COMPONENT, dtype="float64", name="decoded_loss_no_negatives", seed=23,
    params={**_ROI_HEAD_PARAMS, "num_gts": [5, 4], "scale_factors": [[1.25, 1.2], [0.5, 0.5]],
            "bbox_head": {"reg_decoded_bbox": True},
            "train_cfg": {**_TRAIN_CFG, "sampler": {**_TRAIN_CFG["sampler"], "num": 4, "pos_fraction": 1.0}},
            "test_cfg": {"score_thr": 0.05, "nms": {"type": "nms", "iou_threshold": 0.5}, "max_per_img": 20}},
    make_inputs=_roi_head_inputs, reference=_reference, visdet=_visdet, exact=("pred_no_proposals.*.labels",),
    description="reg_decoded_bbox (L1 on decoded boxes) with 4 sampled RoIs, all positive (the gt boxes "
                "added as proposals), so no negatives; predict with no proposal in any image",
))
