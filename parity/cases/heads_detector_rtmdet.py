"""Parity cases: ``RTMDetSepBNHead`` / ``RTMDetHead`` on random pyramid features (float64).

mmdet builds the head from an mmdet-shaped config (with its ``train_cfg``: the
``DynamicSoftLabelAssigner``) under ``torch.manual_seed(seed)``; visdet builds the same
dict through ``build_component`` and loads the weights strictly. Weights are torch's and
ConvModule's construction-time init (``MODELS.build`` does not run the head's
``init_weights``, whose std 0.01 would put every score near its prior), so scores spread
over the threshold and the assigner sees varied logits.

Recorded: per-level outputs (train mode, batch-statistics BN), both loss lists (per
level: QFL on the soft IoU targets, GIoU on decoded boxes; normalised by the batch's
assign-metric sums), the gradients of their sum w.r.t. the features and every parameter,
and the detections of each image after ``predict_by_feat`` in eval mode. The second image
of the batch is smaller than the padded batch (valid flags drop priors) and, in the main
case, has no gt. The gt boxes stay float32, as mmdet's data pipeline gives them (see
:mod:`parity.precision`). Both sides run inside :func:`parity.precision.float_keeps_float64`
(``RTMDetHead`` casts its regression with ``.float()``).

Strides 8/16/32, offset 0, as RTMDet; three small levels (12x16, 6x8, 3x4).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch

from parity.cases._heads_detector_common import (
    draw_gt,
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
from parity.precision import float_keeps_float64

HEAD_COMPONENT = "models/dense_heads/rtmdet_head"
TRAIN_CFG = {"assigner": {"type": "DynamicSoftLabelAssigner", "topk": 13}, "allowed_border": -1, "pos_weight": -1,
             "debug": False}  # fmt: skip
TEST_CFG = {"nms_pre": 200, "min_bbox_size": 0, "score_thr": 0.05, "nms": {"type": "nms", "iou_threshold": 0.65},
            "max_per_img": 40}  # fmt: skip
LOSS_NAMES = ("loss_cls", "loss_bbox")


def head_config(channels: int, num_classes: int, **overrides: Any) -> dict:
    """rtmdet_tiny's head at reduced widths (``RTMDetSepBNHead``, BN, SiLU, shared convs)."""
    return {
        "type": "RTMDetSepBNHead", "num_classes": num_classes, "in_channels": channels, "stacked_convs": 2,
        "feat_channels": channels,
        "anchor_generator": {"type": "MlvlPointGenerator", "offset": 0, "strides": [8, 16, 32]},
        "bbox_coder": {"type": "DistancePointBBoxCoder"},
        "loss_cls": {"type": "QualityFocalLoss", "use_sigmoid": True, "beta": 2.0, "loss_weight": 1.0},
        "loss_bbox": {"type": "GIoULoss", "loss_weight": 2.0},
        "with_objectness": False, "exp_on_reg": False, "share_conv": True, "pred_kernel_size": 1,
        "norm_cfg": {"type": "BN"}, "act_cfg": {"type": "SiLU", "inplace": True},
        "train_cfg": TRAIN_CFG, "test_cfg": TEST_CFG, **overrides,
    }  # fmt: skip


def _inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    out = {}
    for level, (h, w) in enumerate(params["feat_sizes"]):
        out[f"feat.{level}"] = torch.randn(params["batch"], params["channels"], h, w, generator=generator)
    return {**out, **draw_gt(params, generator)}


def _gt_pairs(params: Mapping[str, Any], tensors: Tensors) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per image ``(bboxes, labels)``, the boxes in float32 (mmdet's box targets are float32)."""
    return [(boxes.to(torch.float32), labels) for boxes, labels in gt_lists(params, tensors)]


def _run(head: Any, params: Mapping[str, Any], inputs: Tensors, gts: list, predict: Any) -> Tensors:
    levels = range(len(params["feat_sizes"]))
    feats = [inputs[f"feat.{level}"].clone().requires_grad_(True) for level in levels]
    head.train()
    cls_scores, bbox_preds = head(feats)
    losses = head.loss_by_feat(cls_scores, bbox_preds, gts, metas(params))
    out: Tensors = {}
    total = torch.zeros(())
    for name in LOSS_NAMES:
        for level, value in enumerate(losses[name]):
            out[f"loss.{name}.{level}"] = value.detach().clone().reshape(())
            total = total + value
    total.backward()
    for level, feat in enumerate(feats):
        out[f"grad.input.{level}"] = feat.grad.detach().clone()
        out[f"out.cls.{level}"] = cls_scores[level].detach().clone()
        out[f"out.reg.{level}"] = bbox_preds[level].detach().clone()
    out.update(module_grads(head))
    head.eval()
    with torch.no_grad():
        outs = head([inputs[f"feat.{level}"] for level in levels])
        for level in levels:  # eval-mode forward (running BN statistics)
            out[f"eval.cls.{level}"], out[f"eval.reg.{level}"] = outs[0][level].clone(), outs[1][level].clone()
        results = predict(*outs)
    for i, res in enumerate(results):
        out[f"pred.{i}.bboxes"] = res.bboxes.detach().clone()
        out[f"pred.{i}.scores"] = res.scores.detach().clone()
        out[f"pred.{i}.labels"] = res.labels.detach().clone()
    return out


def _cfg(params: Mapping[str, Any]) -> dict:
    """The case's head config; an override of ``None`` removes the key (``RTMDetHead`` has no ``share_conv``)."""
    overrides = copy.deepcopy(params.get("head", {}))
    cfg = head_config(params["channels"], params["num_classes"], **overrides)
    return {key: value for key, value in cfg.items() if not (key in overrides and overrides[key] is None)}


def _reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    with float_keeps_float64():
        torch.manual_seed(params["seed"])
        head = mm_build(mm_cfg(_cfg(params)))
        state = state_entries(head)
        gts = mm_instances(_gt_pairs(params, inputs))

        def predict(cls_scores, bbox_preds):
            return head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=metas(params),
                                        rescale=params["rescale"])  # fmt: skip

        return {**state, **_run(head, params, inputs, gts, predict)}


def _visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.build import build_component
    from visdet.structures import Instances

    with float_keeps_float64():
        head = build_component("dense_head", _cfg(params))
        load_state(head, tensors)
        gts = [Instances(bboxes=b, labels=lab) for b, lab in _gt_pairs(params, tensors)]

        def predict(cls_scores, bbox_preds):
            return head.predict_by_feat(cls_scores, bbox_preds, metas(params), rescale=params["rescale"])

        return _run(head, params, tensors, gts, predict)


_PARAMS = {
    "batch": 2, "channels": 8, "num_classes": 4, "seed": 0, "rescale": True,
    "feat_sizes": [[12, 16], [6, 8], [3, 4]],
    "img_shapes": [[90, 128], [70, 100]], "pad_shapes": [[96, 128], [72, 104]],
    "scale_factors": [[1.5, 1.25], [0.8, 0.75]], "num_gts": [6, 0],
}  # fmt: skip
_CASES = {
    "sepbn_tiny_loss_predict": (
        {},
        "RTMDetSepBNHead as rtmdet_tiny (shared convs, separate BN, SiLU, 1x1 predictors, no exp): QFL/GIoU per "
        "level, grads, predict rescaled; image 2 has no gt and priors outside its pad_shape",
    ),
    "sepbn_objectness_exp_no_share": (
        {"num_gts": [3, 5], "rescale": False,
         "head": {"with_objectness": True, "exp_on_reg": True, "share_conv": False, "pred_kernel_size": 3,
                  "norm_cfg": {"type": "BN", "momentum": 0.03, "eps": 0.001},
                  "train_cfg": {**TRAIN_CFG, "assigner": {"type": "DynamicSoftLabelAssigner", "topk": 5,
                                                          "soft_center_radius": 2.5, "iou_weight": 2.0},
                                "pos_weight": 2.0},
                  "loss_cls": {"type": "QualityFocalLoss", "use_sigmoid": True, "beta": 1.5, "loss_weight": 0.5},
                  "test_cfg": {**TEST_CFG, "nms_pre": 30, "score_thr": 0.2, "min_bbox_size": 4.0}}},
        "objectness merged by the sigmoid geometric mean, exp on the regression, convs not shared, 3x3 "
        "predictors, BN momentum 0.03/eps 1e-3, assigner topk 5 radius 2.5 iou weight 2, pos_weight 2, QFL beta "
        "1.5; nms_pre 30, score_thr 0.2, min_bbox_size 4",
    ),
    "shared_head_gn_scales": (
        {"num_gts": [4, 2],
         "head": {"type": "RTMDetHead", "norm_cfg": {"type": "GN", "num_groups": 2, "requires_grad": True},
                  "act_cfg": {"type": "ReLU"}, "with_objectness": True, "pred_kernel_size": 3,
                  "share_conv": None, "exp_on_reg": None}},
        "RTMDetHead (one tower for every level, GN, ReLU, objectness, Scale x exp(reg) cast with .float())",
    ),
    "no_gt_batch": (
        {"num_gts": [0, 0]},
        "no gt in the batch: QFL on negatives only, normalisers clamped to 1, box loss zero and connected",
    ),
}  # fmt: skip
for _seed, (_name, (_overrides, _description)) in enumerate(_CASES.items(), start=60):
    register(Case(
        component=HEAD_COMPONENT, dtype="float64", name=_name, params={**_PARAMS, **_overrides}, seed=_seed,
        make_inputs=_inputs, reference=_reference, visdet=_visdet, exact=("pred.*.labels",),
        description=_description,
    ))  # fmt: skip

# smaller cases (4 channels, levels 6x8 / 3x4 / 2x2) for the remaining head branches
_SMALL_PARAMS = {
    **_PARAMS, "channels": 4, "feat_sizes": [[6, 8], [3, 4], [2, 2]], "img_shapes": [[44, 64], [36, 50]],
    "pad_shapes": [[48, 64], [40, 56]], "num_gts": [4, 2],
}  # fmt: skip
_SMALL_CASES = {
    "sepbn_depthwise": (
        {"head": {"use_depthwise": True, "share_conv": False}},
        "RTMDetSepBNHead with depthwise-separable tower convs, not shared (mmdet 3.3's share_conv looks for a "
        "``.conv`` these modules lack and raises)",
    ),
    "shared_head_no_objectness": (
        {"num_gts": [3, 0],
         "head": {"type": "RTMDetHead", "norm_cfg": {"type": "GN", "num_groups": 2, "requires_grad": True},
                  "with_objectness": False, "pred_kernel_size": 3, "share_conv": None, "exp_on_reg": None}},
        "RTMDetHead without objectness (one tower for every level, GN, SiLU), image 2 without gt",
    ),
}  # fmt: skip
for _seed, (_name, (_overrides, _description)) in enumerate(_SMALL_CASES.items(), start=64):
    register(Case(
        component=HEAD_COMPONENT, dtype="float64", name=_name, params={**_SMALL_PARAMS, **_overrides}, seed=_seed,
        make_inputs=_inputs, reference=_reference, visdet=_visdet, exact=("pred.*.labels",),
        description=_description,
    ))  # fmt: skip


# ----------------------------------------------------------------- reduced detector
def rtmdet_config(num_classes: int = 5) -> dict:
    """rtmdet_tiny's model dict at reduced widths (CSPNeXt deepen 0.167 widen 0.03125 with the last two stages
    halved through ``arch_ovewrite``, neck and head 8, BN)."""
    layers = {"norm_cfg": {"type": "BN"}, "act_cfg": {"type": "SiLU", "inplace": True}}
    head = head_config(8, num_classes)
    return {
        "type": "RTMDet",
        "data_preprocessor": {"type": "DetDataPreprocessor", "mean": [103.53, 116.28, 123.675],
                              "std": [57.375, 57.12, 58.395], "bgr_to_rgb": False, "pad_size_divisor": 32},
        "backbone": {"type": "CSPNeXt", "arch": "P5", "expand_ratio": 0.5, "deepen_factor": 0.167,
                     "widen_factor": 0.03125, "channel_attention": True, **layers,
                     # P5 with stages 3 and 4 at half width (keeps the golden small; mmdet's arch_ovewrite)
                     "arch_ovewrite": [[64, 128, 3, True, False], [128, 256, 6, True, False],
                                       [256, 256, 6, True, False], [256, 512, 3, False, True]]},
        "neck": {"type": "CSPNeXtPAFPN", "in_channels": [8, 8, 16], "out_channels": 8, "num_csp_blocks": 1,
                 "expand_ratio": 0.5, **layers},
        "bbox_head": {key: value for key, value in head.items() if key not in ("train_cfg", "test_cfg")},
        "train_cfg": TRAIN_CFG,
        "test_cfg": {**TEST_CFG, "nms_pre": 100, "score_thr": 0.009, "max_per_img": 30},
    }  # fmt: skip


def _float32_gt(tensors: Tensors) -> Tensors:
    """The gt boxes in float32, as mmdet's pipeline gives them (``RTMDetHead`` writes them into float32 targets)."""
    return {k: (v.to(torch.float32) if k.startswith("gt.") and k.endswith(".bboxes") else v)
            for k, v in tensors.items()}  # fmt: skip


def _detector_reference_f64(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from parity.cases.heads_detector_faster_rcnn import _reference as detector_reference

    with float_keeps_float64():
        return detector_reference(params, _float32_gt(inputs))


def _detector_visdet_f64(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from parity.cases.heads_detector_faster_rcnn import _visdet as detector_visdet

    with float_keeps_float64():
        return detector_visdet(params, _float32_gt(tensors))


def _detector_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    from parity.cases.heads_detector_faster_rcnn import _inputs as detector_inputs

    return detector_inputs(params, generator)


_DETECTOR_PARAMS = {
    "config": rtmdet_config(), "loss_names": list(LOSS_NAMES), "img_shapes": [[32, 40], [24, 30]],
    "scale_factors": [[1.3, 1.25], [0.59, 0.6]], "num_gts": [3, 0], "num_classes": 5, "seed": 0, "sample_seed": 21,
}  # fmt: skip
register(Case(
    component="models/detectors/rtmdet", dtype="float64", name="predict_rescale", seed=70,
    params={**_DETECTOR_PARAMS, "mode": "predict", "forward": True},
    make_inputs=_detector_inputs, reference=_detector_reference_f64, visdet=_detector_visdet_f64,
    exact=("pred.*.labels", "num_classes"),
    description="reduced RTMDet (CSPNeXt P5 deepen 0.167 widen 0.03125, arch_ovewrite, PAFPN 8, SepBN head 8, "
    "BGR kept): detections of 2 padded images rescaled to the original size, raw head outputs",
))  # fmt: skip
register(Case(
    component="models/detectors/rtmdet", dtype="float64", name="loss_empty_gt_image", seed=71,
    params={**_DETECTOR_PARAMS, "mode": "loss"},
    make_inputs=_detector_inputs, reference=_detector_reference_f64, visdet=_detector_visdet_f64,
    description="reduced RTMDet: QFL and GIoU losses (summed over levels) and every gradient; image 2 has no gt",
    live_params=({"num_gts": [2, 5]},),
))  # fmt: skip
