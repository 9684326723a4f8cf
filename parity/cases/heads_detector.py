"""Parity cases for the two-stage heads: RPNHead, SingleRoIExtractor, Shared2FCBBoxHead,
StandardRoIHead (loss with seeded sampling) and DetDataPreprocessor.

The whole reduced Faster R-CNN lives in ``heads_detector_faster_rcnn.py``; shared
helpers (configs, metas, ground truth drawing) in ``_heads_detector_common.py``.

Conventions of the recorded keys:

* ``state.<key>``: mmdet module weights, built under ``torch.manual_seed(seed)``;
* ``out.*``: forward outputs; ``loss.*``: loss terms; ``grad.input.*`` / ``grad.param.*``:
  gradients of the summed losses (and of ``<out, w>`` for forward-only cases);
* ``pred.<i>.*`` / ``proposals.<i>.*``: per-image results.

Sampling draws from torch's global RNG: both sides call ``torch.manual_seed(sample_seed)``
right before the loss, so the same anchors/RoIs are sampled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from parity.cases._heads_detector_common import (
    RPN_HEAD_CFG,
    STRIDES,
    draw_gt,
    draw_proposals,
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

RPN_COMPONENT = "models/dense_heads/rpn_head"
EXTRACTOR_COMPONENT = "models/roi_heads/single_roi_extractor"
BBOX_HEAD_COMPONENT = "models/roi_heads/shared2fc_bbox_head"
ROI_HEAD_COMPONENT = "models/roi_heads/standard_roi_head"
PREPROCESSOR_COMPONENT = "models/data_preprocessors/det_data_preprocessor"


def _feats(params: Mapping[str, Any], generator: torch.Generator, levels: int) -> Tensors:
    out = {}
    for level in range(levels):
        h, w = params["feat_sizes"][level]
        out[f"feat.{level}"] = torch.randn(params["batch"], params["channels"], h, w, generator=generator)
    return out


# ------------------------------------------------------------------------- RPN head
def _rpn_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    return {**_feats(params, generator, len(STRIDES)), **draw_gt(params, generator)}


def _rpn_cfg(params: Mapping[str, Any]) -> dict:
    loss_cls = {"type": "CrossEntropyLoss", "use_sigmoid": params.get("use_sigmoid", True), "loss_weight": 1.0}
    return {**RPN_HEAD_CFG, "in_channels": params["channels"], "feat_channels": params["feat_channels"],
            "num_convs": params["num_convs"], "loss_cls": loss_cls}


def _rpn_run(head: Any, params: Mapping[str, Any], inputs: Tensors, gts: list, img_metas: list,
             predict: Any) -> Tensors:
    feats = [inputs[f"feat.{level}"].clone().requires_grad_(True) for level in range(len(STRIDES))]
    cls_scores, bbox_preds = head(feats)
    torch.manual_seed(params["sample_seed"])
    losses = head.loss_by_feat(cls_scores, bbox_preds, gts, img_metas)
    out: Tensors = {}
    total = torch.zeros(())
    for name in ("loss_rpn_cls", "loss_rpn_bbox"):
        for level, value in enumerate(losses[name]):
            out[f"loss.{name}.{level}"] = value.detach().clone()
            total = total + value
    total.backward()
    for level, feat in enumerate(feats):
        out[f"grad.input.{level}"] = feat.grad.detach().clone()
        out[f"out.cls.{level}"] = cls_scores[level].detach().clone()
        out[f"out.reg.{level}"] = bbox_preds[level].detach().clone()
    out.update(module_grads(head))
    for i, res in enumerate(predict(cls_scores, bbox_preds)):
        out[f"proposals.{i}.bboxes"] = res.bboxes.detach().clone()
        out[f"proposals.{i}.scores"] = res.scores.detach().clone()
    return out


def _rpn_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    torch.manual_seed(params["seed"])
    cfg = {**_rpn_cfg(params), "train_cfg": params["train_cfg"]["rpn"], "test_cfg": params["test_cfg"]["rpn"]}
    head = mm_build(mm_cfg(cfg))
    state = state_entries(head)
    gts = mm_instances(gt_lists(params, inputs, zero_labels=True))
    img_metas = metas(params)

    def predict(cls_scores, bbox_preds):
        return head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=img_metas, rescale=params["rescale"])

    return {**state, **_rpn_run(head, params, inputs, gts, img_metas, predict)}


def _rpn_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.build import build_component
    from visdet.structures import Instances

    cfg = {**_rpn_cfg(params), "train_cfg": params["train_cfg"]["rpn"], "test_cfg": params["test_cfg"]["rpn"]}
    head = build_component("dense_head", cfg)
    load_state(head, tensors)
    gts = [Instances(bboxes=b, labels=lab) for b, lab in gt_lists(params, tensors, zero_labels=True)]
    img_metas = metas(params)

    def predict(cls_scores, bbox_preds):
        return head.predict_by_feat(cls_scores, bbox_preds, img_metas, rescale=params["rescale"])

    return _rpn_run(head, params, tensors, gts, img_metas, predict)


_RPN_PARAMS = {
    "batch": 2,
    "channels": 8,
    "feat_channels": 8,
    "num_convs": 1,
    "feat_sizes": [[16, 20], [8, 10], [4, 5], [2, 3], [1, 2]],
    "img_shapes": [[60, 76], [50, 64]],
    "pad_shapes": [[64, 80], [64, 64]],
    "scale_factors": [[1.5, 1.25], [0.8, 0.75]],
    "num_gts": [3, 0],
    "num_classes": 1,
    "sample_seed": 7,
    "seed": 0,
    "rescale": False,
    "train_cfg": {
        "rpn": {
            "assigner": {"type": "MaxIoUAssigner", "pos_iou_thr": 0.7, "neg_iou_thr": 0.3,
                         "min_pos_iou": 0.3, "match_low_quality": True, "ignore_iof_thr": -1},
            "sampler": {"type": "RandomSampler", "num": 64, "pos_fraction": 0.5, "neg_pos_ub": -1,
                        "add_gt_as_proposals": False},
            "allowed_border": -1, "pos_weight": -1, "debug": False,
        },
    },
    "test_cfg": {"rpn": {"nms_pre": 100, "max_per_img": 50, "nms": {"type": "nms", "iou_threshold": 0.7},
                         "min_bbox_size": 0}},
}

register(Case(
    component=RPN_COMPONENT, dtype="float64", name="forward_loss_predict", params=_RPN_PARAMS, seed=0,
    make_inputs=_rpn_inputs, reference=_rpn_reference, visdet=_rpn_visdet,
    description="RPNHead forward, per-level losses with seeded sampling (image 2 has no gt), grads, "
                "proposals via per-level nms_pre + batched_nms",
    live_params=({"num_gts": [1, 4], "rescale": True}, {"num_convs": 2}),
))
register(Case(
    component=RPN_COMPONENT, dtype="float64", name="allowed_border_num_convs2", seed=3,
    params={**_RPN_PARAMS, "num_convs": 2, "rescale": True, "num_gts": [2, 5],
            "train_cfg": {"rpn": {**_RPN_PARAMS["train_cfg"]["rpn"], "allowed_border": 0}}},
    make_inputs=_rpn_inputs, reference=_rpn_reference, visdet=_rpn_visdet,
    description="RPNHead with two ConvModule convs, allowed_border=0, rescaled proposals",
))
register(Case(
    component=RPN_COMPONENT, dtype="float64", name="softmax_objectness", seed=4,
    params={**_RPN_PARAMS, "use_sigmoid": False, "num_gts": [2, 1]},
    make_inputs=_rpn_inputs, reference=_rpn_reference, visdet=_rpn_visdet,
    description="RPNHead with a 2-way softmax objectness loss (2 channels per anchor)",
))


register(Case(
    component=RPN_COMPONENT, dtype="float64", name="no_min_size", seed=5,
    params={**_RPN_PARAMS, "num_gts": [3, 2],
            "test_cfg": {"rpn": {**_RPN_PARAMS["test_cfg"]["rpn"], "min_bbox_size": -1}}},
    make_inputs=_rpn_inputs, reference=_rpn_reference, visdet=_rpn_visdet,
    description="RPNHead proposals with min_bbox_size=-1 (no size filter at all)",
))


# ------------------------------------------------------------------- RoI extractor
def _extractor_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    feats = _feats(params, generator, 4)
    rois = draw_proposals(params["num_rois"], params["img_shapes"], generator, with_batch_index=True)
    return {**feats, "rois": rois}


def _extractor_run(extractor: Any, params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    feats = [inputs[f"feat.{level}"].clone().requires_grad_(True) for level in range(4)]
    out = extractor(feats, inputs["rois"].clone(), roi_scale_factor=params["roi_scale_factor"])
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(11))
    (out * weight).sum().backward()
    result = {"out": out.detach().clone()}
    for level, feat in enumerate(feats):
        result[f"grad.input.{level}"] = feat.grad.detach().clone()
    return result


def _extractor_cfg(params: Mapping[str, Any]) -> dict:
    return {"type": "SingleRoIExtractor",
            "roi_layer": {"type": "RoIAlign", "output_size": params["output_size"],
                          "sampling_ratio": params["sampling_ratio"]},
            "out_channels": params["channels"], "featmap_strides": [4, 8, 16, 32],
            "finest_scale": params["finest_scale"]}


def _extractor_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    extractor = mm_build(mm_cfg(_extractor_cfg(params)))
    return _extractor_run(extractor, params, inputs)


def _extractor_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.build import build_component

    return _extractor_run(build_component("roi_extractor", _extractor_cfg(params)), params, tensors)


_EXTRACTOR_PARAMS = {
    "batch": 2, "channels": 4, "feat_sizes": [[32, 40], [16, 20], [8, 10], [4, 5]],
    "img_shapes": [[128, 160], [110, 150]], "num_rois": [12, 9], "output_size": 7,
    "sampling_ratio": 0, "finest_scale": 56, "roi_scale_factor": None,
}
register(Case(
    component=EXTRACTOR_COMPONENT, dtype="float64", name="coarse_levels",
    params={**_EXTRACTOR_PARAMS, "finest_scale": 6}, seed=2,
    make_inputs=_extractor_inputs, reference=_extractor_reference, visdet=_extractor_visdet,
    description="finest_scale=6: most RoIs map to the coarsest level (the clamp at num_levels - 1)",
))
register(Case(
    component=EXTRACTOR_COMPONENT, dtype="float64", name="beyond_coarsest_level",
    params={**_EXTRACTOR_PARAMS, "finest_scale": 2, "num_rois": [6, 4]}, seed=3,
    make_inputs=_extractor_inputs, reference=_extractor_reference, visdet=_extractor_visdet,
    description="finest_scale=2: RoIs of scale >= 32 would map to level 4 or more and are clamped to the coarsest",
))
register(Case(
    component=EXTRACTOR_COMPONENT, dtype="float64", name="fpn_levels", params=_EXTRACTOR_PARAMS, seed=1,
    make_inputs=_extractor_inputs, reference=_extractor_reference, visdet=_extractor_visdet,
    description="RoIs of many sizes mapped to FPN levels by finest_scale; features and grads",
    live_params=({"finest_scale": 28}, {"roi_scale_factor": 1.5, "sampling_ratio": 2}),
))
register(Case(
    component=EXTRACTOR_COMPONENT, dtype="float64", name="roi_scale_factor_finest28", seed=2,
    params={**_EXTRACTOR_PARAMS, "roi_scale_factor": 1.5, "finest_scale": 28, "output_size": [7, 5]},
    make_inputs=_extractor_inputs, reference=_extractor_reference, visdet=_extractor_visdet,
    description="roi_scale_factor=1.5 (applied after level mapping), finest_scale=28, 7x5 output",
))


# ------------------------------------------------------------------- bbox head
def _bbox_head_cfg(params: Mapping[str, Any]) -> dict:
    head = params.get("head", {"type": "Shared2FCBBoxHead", "fc_out_channels": params["fc"]})
    return {**head, "in_channels": params["channels"], "roi_feat_size": 7, "num_classes": params["num_classes"],
            "bbox_coder": {"type": "DeltaXYWHBBoxCoder", "target_means": [0.0] * 4,
                           "target_stds": [0.1, 0.1, 0.2, 0.2]},
            "reg_class_agnostic": params["reg_class_agnostic"],
            "loss_cls": {"type": "CrossEntropyLoss", "use_sigmoid": False, "loss_weight": 1.0},
            "loss_bbox": {"type": params["loss_bbox"], "loss_weight": 1.0}}


def _bbox_head_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    n = sum(params["num_rois"])
    k = params["num_classes"]
    labels = torch.randint(0, k + 1, (n,), generator=generator)
    labels[: params["num_pos"]] = torch.randint(0, k, (params["num_pos"],), generator=generator)
    return {
        "x": torch.randn(n, params["channels"], 7, 7, generator=generator),
        "rois": draw_proposals(params["num_rois"], params["img_shapes"], generator, with_batch_index=True),
        "labels": labels,
        "label_weights": (torch.rand(n, generator=generator) > 0.1).float(),
        "bbox_targets": torch.randn(n, 4, generator=generator) * 0.5,
        "bbox_weights": (labels < k).float()[:, None].expand(n, 4).contiguous(),
    }


def _bbox_head_run(head: Any, loss_fn: Any, predict: Any, params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    x = inputs["x"].clone().requires_grad_(True)
    cls_score, bbox_pred = head(x)
    losses = loss_fn(cls_score, bbox_pred, inputs["rois"], inputs["labels"], inputs["label_weights"],
                     inputs["bbox_targets"], inputs["bbox_weights"])
    (losses["loss_cls"] + losses["loss_bbox"]).backward()
    out = {"out.cls_score": cls_score.detach().clone(), "out.bbox_pred": bbox_pred.detach().clone(),
           "grad.input": x.grad.detach().clone(), **module_grads(head)}
    out.update({f"loss.{k}": v.detach().clone().reshape(()) for k, v in losses.items()})
    counts = params["num_rois"]
    results = predict(inputs["rois"].split(counts), cls_score.detach().split(counts),
                      bbox_pred.detach().split(counts))
    for i, res in enumerate(results):
        out[f"pred.{i}.bboxes"] = res.bboxes.clone()
        out[f"pred.{i}.scores"] = res.scores.clone()
        out[f"pred.{i}.labels"] = res.labels.clone()
    # without NMS (test_cfg None): every RoI's per-class boxes and scores; an image with no RoI
    raw = predict(inputs["rois"].split(counts), cls_score.detach().split(counts), bbox_pred.detach().split(counts),
                  raw=True)  # fmt: skip
    empty = predict((inputs["rois"][:0],), (cls_score.detach()[:0],), (bbox_pred.detach()[:0],), raw=True)
    for i, res in enumerate([*raw, *empty]):
        out[f"raw.{i}.bboxes"], out[f"raw.{i}.scores"] = res.bboxes.clone(), res.scores.clone()
        out[f"raw.{i}.has_labels"] = torch.tensor(int("labels" in res))
    if params.get("empty_forward"):  # the head on a batch of no RoIs
        with torch.no_grad():
            empty_cls, empty_reg = head(inputs["x"][:0].clone())
        out["empty.cls_score"], out["empty.bbox_pred"] = empty_cls.clone(), empty_reg.clone()
    return out


def _bbox_head_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    torch.manual_seed(params["seed"])
    head = mm_build(mm_cfg(_bbox_head_cfg(params)))
    state = state_entries(head)
    test_cfg = mm_cfg(params["test_cfg"])

    def predict(rois, scores, preds, raw=False):
        return head.predict_by_feat(rois, scores, preds, metas(params)[: len(rois)],
                                    rcnn_test_cfg=None if raw else test_cfg, rescale=params["rescale"])

    return {**state, **_bbox_head_run(head, head.loss, predict, params, inputs)}


def _bbox_head_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.build import build_component
    from visdet.models.roi_heads import RCNNTestConfig
    from visdet.models.roi_heads.bbox_loss import bbox_head_loss

    head = build_component("bbox_head", _bbox_head_cfg(params))
    load_state(head, tensors)

    def loss_fn(*args):
        return bbox_head_loss(*args, num_classes=head.num_classes, loss_cls=head.loss_cls,
                              loss_bbox=head.loss_bbox, bbox_coder=head.bbox_coder,
                              reg_class_agnostic=head.reg_class_agnostic,
                              reg_decoded_bbox=head.reg_decoded_bbox)

    def predict(rois, scores, preds, raw=False):
        return head.predict_by_feat(rois, scores, preds, metas(params)[: len(rois)],
                                    test_cfg=None if raw else RCNNTestConfig(**params["test_cfg"]),
                                    rescale=params["rescale"])

    return _bbox_head_run(head, loss_fn, predict, params, tensors)


_BBOX_HEAD_PARAMS = {
    "channels": 4, "fc": 16, "num_classes": 4, "num_rois": [20, 14], "num_pos": 9,
    "img_shapes": [[96, 120], [80, 100]], "scale_factors": [[1.25, 1.2], [0.5, 0.5]],
    "reg_class_agnostic": False, "loss_bbox": "L1Loss", "rescale": True, "seed": 0,
    "test_cfg": {"score_thr": 0.05, "nms": {"type": "nms", "iou_threshold": 0.5}, "max_per_img": 30},
}
register(Case(
    component=BBOX_HEAD_COMPONENT, dtype="float64", name="forward_loss_predict", params=_BBOX_HEAD_PARAMS, seed=4,
    make_inputs=_bbox_head_inputs, reference=_bbox_head_reference, visdet=_bbox_head_visdet,
    exact=("pred.*.labels", "raw.*.has_labels"),
    description="Shared2FCBBoxHead forward, loss (CE + L1, acc), grads, predict with rescale + multiclass NMS "
    "and without NMS (test_cfg None)",
    live_params=({"reg_class_agnostic": True}, {"loss_bbox": "SmoothL1Loss", "rescale": False}),
))
register(Case(
    component=BBOX_HEAD_COMPONENT, dtype="float64", name="class_agnostic_smoothl1", seed=5,
    params={**_BBOX_HEAD_PARAMS, "reg_class_agnostic": True, "loss_bbox": "SmoothL1Loss", "rescale": False},
    make_inputs=_bbox_head_inputs, reference=_bbox_head_reference, visdet=_bbox_head_visdet,
    exact=("pred.*.labels", "raw.*.has_labels"),
    description="class-agnostic regression with SmoothL1, no rescale; with and without NMS",
))


# other box heads: branch convs and fcs (ConvFCBBoxHead), the pooled head (BBoxHead), decoded-box loss
register(Case(
    component="models/roi_heads/convfc_bbox_head", dtype="float64", name="branch_convs_fcs", seed=6,
    params={**_BBOX_HEAD_PARAMS, "head": {
        "type": "ConvFCBBoxHead", "num_shared_convs": 1, "num_shared_fcs": 0, "num_cls_convs": 1,
        "num_cls_fcs": 1, "num_reg_convs": 2, "num_reg_fcs": 1, "conv_out_channels": 6, "fc_out_channels": 12}},
    make_inputs=_bbox_head_inputs, reference=_bbox_head_reference, visdet=_bbox_head_visdet,
    exact=("pred.*.labels", "raw.*.has_labels"),
    description="ConvFCBBoxHead with a shared conv, then per-branch convs and fcs",
))
register(Case(
    component="models/roi_heads/bbox_head", dtype="float64", name="avg_pool_decoded_loss", seed=7,
    params={**_BBOX_HEAD_PARAMS, "head": {"type": "BBoxHead", "with_avg_pool": True, "reg_decoded_bbox": True},
            "loss_bbox": "SmoothL1Loss"},
    make_inputs=_bbox_head_inputs, reference=_bbox_head_reference, visdet=_bbox_head_visdet,
    exact=("pred.*.labels", "raw.*.has_labels"),
    description="BBoxHead (average-pooled RoI features into fc_cls/fc_reg), loss on decoded boxes",
))
register(Case(
    component="models/roi_heads/bbox_head", dtype="float64", name="avg_pool_no_rois_forward", seed=11,
    params={**_BBOX_HEAD_PARAMS, "head": {"type": "BBoxHead", "with_avg_pool": True}, "num_rois": [5, 3],
            "num_pos": 4, "empty_forward": True},
    make_inputs=_bbox_head_inputs, reference=_bbox_head_reference, visdet=_bbox_head_visdet,
    exact=("pred.*.labels", "raw.*.has_labels"),
    description="BBoxHead with average pooling, also run on an empty batch of RoI features ([0, C] outputs)",
))
register(Case(
    component="models/roi_heads/convfc_bbox_head", dtype="float64", name="shared_fc_then_branch_fcs", seed=9,
    params={**_BBOX_HEAD_PARAMS, "head": {
        "type": "ConvFCBBoxHead", "num_shared_fcs": 1, "num_cls_fcs": 1, "num_reg_fcs": 2, "fc_out_channels": 12}},
    make_inputs=_bbox_head_inputs, reference=_bbox_head_reference, visdet=_bbox_head_visdet,
    exact=("pred.*.labels", "raw.*.has_labels"),
    description="ConvFCBBoxHead with a shared fc followed by per-branch fcs",
))
register(Case(
    component="models/roi_heads/convfc_bbox_head", dtype="float64", name="shared4conv1fc", seed=8,
    params={**_BBOX_HEAD_PARAMS, "head": {"type": "Shared4Conv1FCBBoxHead", "conv_out_channels": 6,
                                          "fc_out_channels": 12}},
    make_inputs=_bbox_head_inputs, reference=_bbox_head_reference, visdet=_bbox_head_visdet,
    exact=("pred.*.labels", "raw.*.has_labels"),
    description="Shared4Conv1FCBBoxHead (four shared convs, one shared fc)",
))
