"""Parity cases: RoI heads on their own, where proposals run out.

* ``cascade_roi_head/class_specific_empty_lists``: the reduced three-stage cascade of
  ``heads_detector_cascade_rcnn.py`` with class-specific regression (each stage refines by
  the predicted class's deltas): loss and gradients; the loss of a batch where nothing is
  sampled (mmdet stops after stage 1); prediction with one image without proposals, and
  with none in any image.
* ``cascade_roi_head/mask_predict_empty_lists`` and
  ``standard_roi_head/mask_predict_empty_lists``: the mask branch after box prediction,
  for one image without proposals and for none in any image (mmdet's empty masks).

Features ``[2, 16, H_l, W_l]`` of five levels (strides 4..64 of a 64x96 batch) and
proposals are drawn from the seed; float64.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch

from parity.cases._heads_detector_common import (
    draw_gt,
    draw_proposals,
    gt_lists,
    load_state,
    metas,
    mm_build,
    mm_cfg,
    module_grads,
    state_entries,
)
from parity.cases.base import Case, Tensors, register
from parity.cases.heads_detector_cascade_rcnn import reduced_cascade_config

_FEAT_SIZES = [[16, 24], [8, 12], [4, 6], [2, 3], [1, 2]]


def _config(params: Mapping[str, Any]) -> dict:
    full = reduced_cascade_config(with_mask=params["with_mask"])
    roi = copy.deepcopy(full["roi_head"])
    train = copy.deepcopy(full["train_cfg"]["rcnn"])
    if params["head"] == "StandardRoIHead":
        roi = {**roi, "type": "StandardRoIHead", "bbox_head": roi["bbox_head"][0]}
        roi.pop("num_stages"), roi.pop("stage_loss_weights")
        train = train[0]
    else:
        for head in roi["bbox_head"]:
            head["reg_class_agnostic"] = params["reg_class_agnostic"]
    return {**roi, "train_cfg": train, "test_cfg": full["test_cfg"]["rcnn"]}


def _inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    feats = {f"feat.{level}": torch.randn(2, 16, h, w, generator=generator) for level, (h, w) in enumerate(_FEAT_SIZES)}
    proposals = draw_proposals(params["num_proposals"], params["img_shapes"], generator, with_batch_index=False)
    return {**feats, "proposals": proposals, **draw_gt(params, generator)}


def _run(head: Any, params: Mapping[str, Any], inputs: Tensors, make_proposals: Any, call_loss: Any,
         call_predict: Any) -> Tensors:
    feats = tuple(inputs[f"feat.{level}"].clone().requires_grad_(True) for level in range(len(_FEAT_SIZES)))
    proposals = list(inputs["proposals"].split(params["num_proposals"]))
    none = [p[:0] for p in proposals]
    out: Tensors = {}
    if params["mode"] == "loss":
        torch.manual_seed(params["sample_seed"])
        losses = call_loss(feats, make_proposals(proposals), gt_lists(params, inputs))
        out.update({f"loss.{k}": v.detach().clone().reshape(()) for k, v in losses.items()})
        sum(v for k, v in losses.items() if "loss" in k.rsplit(".", 1)[-1]).backward()
        for level, feat in enumerate(feats):
            grad = feat.grad if feat.grad is not None else torch.zeros_like(feat)
            out[f"grad.input.{level}"] = grad.detach().clone()
        out.update(module_grads(head))
        torch.manual_seed(params["sample_seed"])
        empty_gts = [(b[:0], lab[:0]) for b, lab in gt_lists(params, inputs)]
        nothing = call_loss(tuple(f.detach() for f in feats), make_proposals(none), empty_gts)
        out["loss_nothing_sampled.keys"] = torch.tensor(len(nothing))
        out.update({f"loss_nothing_sampled.{k}": v.detach().clone().reshape(()) for k, v in nothing.items()})
    fields = ("bboxes", "scores", "labels") + (("masks",) if params["with_mask"] else ())
    with torch.no_grad():
        detached = tuple(f.detach() for f in feats)
        one_empty = [proposals[0], none[1]]
        for prefix, lists in (("pred_one_image_empty", one_empty), ("pred_all_empty", none)):
            for i, res in enumerate(call_predict(detached, make_proposals(lists))):
                for field in fields:
                    out[f"{prefix}.{i}.{field}"] = getattr(res, field).clone()
    return out


def _reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    torch.manual_seed(params["seed"])
    head = mm_build(mm_cfg(_config(params)))
    with torch.no_grad():  # spread the class scores (mmdet's std 0.01 init makes them all ~1/(K+1))
        for bbox_head in head.bbox_head if isinstance(head.bbox_head, torch.nn.ModuleList) else [head.bbox_head]:
            bbox_head.fc_cls.weight.normal_(0.0, 8.0)
    state = state_entries(head)

    def samples(gts):
        out = []
        for meta, (bboxes, labels) in zip(metas(params), gts):
            sample = DetDataSample(metainfo=meta)
            sample.gt_instances = InstanceData(bboxes=bboxes, labels=labels)
            out.append(sample)
        return out

    def make_proposals(lists):
        return [InstanceData(bboxes=p.clone(), scores=torch.ones(len(p)), labels=torch.zeros(len(p), dtype=torch.long))
                for p in lists]

    def predict(feats, rpn_results):
        return head.predict(feats, rpn_results, samples(gt_lists(params, inputs)), rescale=True)

    return {**state, **_run(head, params, inputs, make_proposals,
                            lambda feats, rpn, gts: head.loss(feats, rpn, samples(gts)), predict)}


def _visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.build import build_component
    from visdet.structures import Instances

    head = build_component("roi_head", _config(params))
    load_state(head, tensors)

    def make_proposals(lists):
        return [Instances(bboxes=p.clone()) for p in lists]

    def loss(feats, rpn_results, gts):
        gts = [Instances(bboxes=b, labels=lab) for b, lab in gts]
        return head.loss(feats, rpn_results, gts, batch_img_metas=metas(params))

    def predict(feats, rpn_results):
        return head.predict(feats, rpn_results, metas(params), rescale=True)

    return _run(head, params, tensors, make_proposals, loss, predict)


_PARAMS = {"img_shapes": [[60, 90], [52, 74]], "scale_factors": [[1.3, 1.25], [0.59, 0.6]], "num_classes": 5,
           "num_gts": [3, 2], "num_proposals": [30, 20], "seed": 0, "sample_seed": 27, "reg_class_agnostic": True}
register(Case(
    component="models/roi_heads/cascade_roi_head", dtype="float64", name="class_specific_empty_lists", seed=61,
    params={**_PARAMS, "head": "CascadeRoIHead", "with_mask": False, "mode": "loss", "reg_class_agnostic": False},
    make_inputs=_inputs, reference=_reference, visdet=_visdet,
    exact=("loss_nothing_sampled.keys", "pred_*.labels"),
    description="CascadeRoIHead, class-specific regression: loss and grads; loss with nothing sampled (stops after "
                "stage 1); predict with image 2 without proposals, and with none at all",
))
for _head, _component in (("CascadeRoIHead", "cascade_roi_head"), ("StandardRoIHead", "standard_roi_head")):
    register(Case(
        component=f"models/roi_heads/{_component}", dtype="float64", name="mask_predict_empty_lists", seed=62,
        params={**_PARAMS, "head": _head, "with_mask": True, "mode": "predict"},
        make_inputs=_inputs, reference=_reference, visdet=_visdet, exact=("pred_*.labels", "pred_*.masks"),
        description=f"{_head} with a mask head: predict (boxes and pasted masks) with image 2 without proposals, "
                    "and with none at all (empty masks of each image's original size)",
    ))
register(Case(
    component="models/roi_heads/cascade_roi_head", dtype="float64", name="class_specific_predict_last_class", seed=63,
    params={**_PARAMS, "head": "CascadeRoIHead", "with_mask": False, "mode": "predict", "reg_class_agnostic": False,
            "seed": 3, "num_proposals": [40, 10]},
    make_inputs=_inputs, reference=_reference, visdet=_visdet, exact=("pred_*.labels",),
    description="CascadeRoIHead, class-specific regression, predict: RoIs whose best class is the last one (K - 1) "
                "are refined by that class's deltas between stages",
))
