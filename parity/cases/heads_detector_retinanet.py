"""Parity cases: ``RetinaHead`` on random pyramid features, and a reduced ``RetinaNet``.

Head cases (float64): mmdet builds the head from an mmdet-shaped config with its
one-stage ``train_cfg``/``test_cfg`` under ``torch.manual_seed(seed)``; visdet builds the
same dict through ``build_component`` and loads the weights strictly. Recorded: the
per-level outputs, every per-level loss term (image 2 has no ground truth in the main
case), the gradients of the summed losses w.r.t. the features and every parameter, and
the detections of each image (``test_cfg`` with ``nms_pre``, ``score_thr``,
``min_bbox_size``, class-wise NMS, ``max_per_img``). Weights are torch's default init
(``MODELS.build`` does not run mmdet's ``init_weights``, whose std 0.01 and prior bias
would put every score near 0.01), so scores spread over the threshold and the classes.

The detector cases reuse the reduced-detector harness of
:mod:`parity.cases.heads_detector_faster_rcnn` on a ResNet-18 (base width 4), an FPN
from C3 with extra convs on the input (RetinaNet's neck) and a two-conv head.
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
from parity.cases.heads_detector_faster_rcnn import _PARAMS as _DETECTOR_PARAMS
from parity.cases.heads_detector_faster_rcnn import _inputs as _detector_inputs
from parity.cases.heads_detector_faster_rcnn import _reference as _detector_reference
from parity.cases.heads_detector_faster_rcnn import _visdet as _detector_visdet
from parity.cases.heads_detector_faster_rcnn import reduced_config

HEAD_COMPONENT = "models/dense_heads/retina_head"
STRIDES = [8, 16, 32, 64, 128]

TRAIN_CFG = {
    "assigner": {"type": "MaxIoUAssigner", "pos_iou_thr": 0.5, "neg_iou_thr": 0.4, "min_pos_iou": 0,
                 "ignore_iof_thr": -1},
    "sampler": {"type": "PseudoSampler"},
    "allowed_border": -1, "pos_weight": -1, "debug": False,
}  # fmt: skip
TEST_CFG = {"nms_pre": 60, "min_bbox_size": 0, "score_thr": 0.05, "nms": {"type": "nms", "iou_threshold": 0.5},
            "max_per_img": 40}  # fmt: skip


def head_config(channels: int, num_classes: int, **overrides: Any) -> dict:
    """mmdet's RetinaNet head at reduced widths, with its one-stage settings."""
    return {
        "type": "RetinaHead", "num_classes": num_classes, "in_channels": channels, "stacked_convs": 2,
        "feat_channels": channels,
        "anchor_generator": {"type": "AnchorGenerator", "octave_base_scale": 4, "scales_per_octave": 3,
                             "ratios": [0.5, 1.0, 2.0], "strides": STRIDES},
        "bbox_coder": {"type": "DeltaXYWHBBoxCoder", "target_means": [0.0] * 4, "target_stds": [1.0] * 4},
        "loss_cls": {"type": "FocalLoss", "use_sigmoid": True, "gamma": 2.0, "alpha": 0.25, "loss_weight": 1.0},
        "loss_bbox": {"type": "L1Loss", "loss_weight": 1.0},
        "train_cfg": TRAIN_CFG, "test_cfg": TEST_CFG, **overrides,
    }  # fmt: skip


def _head_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    out = {}
    for level, (h, w) in enumerate(params["feat_sizes"]):
        out[f"feat.{level}"] = torch.randn(params["batch"], params["channels"], h, w, generator=generator)
    return {**out, **draw_gt(params, generator)}


def _head_run(head: Any, params: Mapping[str, Any], inputs: Tensors, gts: list, predict: Any) -> Tensors:
    feats = [inputs[f"feat.{level}"].clone().requires_grad_(True) for level in range(len(params["feat_sizes"]))]
    cls_scores, bbox_preds = head(feats)
    torch.manual_seed(params["sample_seed"])  # a RandomSampler draws from the global RNG
    losses = head.loss_by_feat(cls_scores, bbox_preds, gts, metas(params))
    out: Tensors = {}
    total = torch.zeros(())
    for name in ("loss_cls", "loss_bbox"):
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
        out[f"pred.{i}.bboxes"] = res.bboxes.detach().clone()
        out[f"pred.{i}.scores"] = res.scores.detach().clone()
        out[f"pred.{i}.labels"] = res.labels.detach().clone()
    return out


def _head_cfg(params: Mapping[str, Any]) -> dict:
    return head_config(params["channels"], params["num_classes"], **copy.deepcopy(params.get("head", {})))


def _head_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    torch.manual_seed(params["seed"])
    head = mm_build(mm_cfg(_head_cfg(params)))
    state = state_entries(head)
    gts = mm_instances(gt_lists(params, inputs))

    def predict(cls_scores, bbox_preds):
        return head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=metas(params), rescale=params["rescale"])

    return {**state, **_head_run(head, params, inputs, gts, predict)}


def _head_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.build import build_component
    from visdet.structures import Instances

    head = build_component("dense_head", _head_cfg(params))
    load_state(head, tensors)
    gts = [Instances(bboxes=b, labels=lab) for b, lab in gt_lists(params, tensors)]

    def predict(cls_scores, bbox_preds):
        return head.predict_by_feat(cls_scores, bbox_preds, metas(params), rescale=params["rescale"])

    return _head_run(head, params, tensors, gts, predict)


_HEAD_PARAMS = {
    "batch": 2, "channels": 8, "num_classes": 4, "seed": 0, "sample_seed": 7, "rescale": True,
    "feat_sizes": [[10, 12], [5, 6], [3, 3], [2, 2], [1, 1]],
    "img_shapes": [[76, 90], [64, 80]], "pad_shapes": [[80, 96], [64, 96]],
    "scale_factors": [[1.5, 1.25], [0.8, 0.75]], "num_gts": [4, 0],
}  # fmt: skip
register(
    Case(
        component=HEAD_COMPONENT,
        dtype="float64",
        name="forward_loss_predict",
        params=_HEAD_PARAMS,
        seed=0,
        make_inputs=_head_inputs,
        reference=_head_reference,
        visdet=_head_visdet,
        exact=("pred.*.labels",),
        description="RetinaHead forward, focal + L1 losses per level with PseudoSampler (image 2 has no gt), grads, "
        "predict with nms_pre/score_thr/class-wise NMS, rescaled",
        live_params=({"num_gts": [1, 6]}, {"rescale": False}),
    )
)
register(
    Case(
        component=HEAD_COMPONENT,
        dtype="float64",
        name="border_pos_weight_gn",
        seed=1,
        params={
            **_HEAD_PARAMS,
            "num_gts": [3, 5],
            "rescale": False,
            "head": {
                "norm_cfg": {"type": "GN", "num_groups": 2, "requires_grad": True},
                "loss_bbox": {"type": "SmoothL1Loss", "beta": 0.11, "loss_weight": 2.0},
                "train_cfg": {**TRAIN_CFG, "allowed_border": 0, "pos_weight": 2.0},
                "test_cfg": {
                    "score_thr": 0.2,
                    "min_bbox_size": 3.0,
                    "nms": {"type": "nms", "iou_threshold": 0.4},
                    "max_per_img": 10,
                },
            },
        },
        make_inputs=_head_inputs,
        reference=_head_reference,
        visdet=_head_visdet,
        exact=("pred.*.labels",),
        description="GN in the stacked convs, allowed_border=0, pos_weight=2, SmoothL1 with loss_weight 2, "
        "no nms_pre (mmdet's -1 slice), min_bbox_size=3",
    )
)
register(
    Case(
        component=HEAD_COMPONENT,
        dtype="float64",
        name="softmax_cross_entropy",
        seed=2,
        params={
            **_HEAD_PARAMS,
            "num_gts": [2, 3],
            "head": {
                "stacked_convs": 1,
                "loss_cls": {"type": "CrossEntropyLoss", "use_sigmoid": False, "loss_weight": 1.0},
                "train_cfg": {
                    **TRAIN_CFG,
                    "sampler": {"type": "RandomSampler", "num": 32, "pos_fraction": 0.5, "add_gt_as_proposals": False},
                },
            },
        },
        make_inputs=_head_inputs,
        reference=_head_reference,
        visdet=_head_visdet,
        exact=("pred.*.labels",),
        description="softmax classification (K + 1 channels per anchor), RandomSampler (seeded), one stacked conv",
    )
)


# ----------------------------------------------------------------- reduced detector
def retinanet_config(num_classes: int = 5) -> dict:
    """mmdet's retinanet_r50_fpn model dict on a ResNet-18 (base width 4), 8-channel FPN and head (golden size)."""
    full = reduced_config(num_classes)
    return {
        "type": "RetinaNet",
        "data_preprocessor": full["data_preprocessor"],
        "backbone": {**full["backbone"], "depth": 18, "base_channels": 4},
        "neck": {"type": "FPN", "in_channels": [4, 8, 16, 32], "out_channels": 8, "start_level": 1,
                 "add_extra_convs": "on_input", "num_outs": 5},
        "bbox_head": {key: value for key, value in head_config(8, num_classes).items()
                      if key not in ("train_cfg", "test_cfg")},
        "train_cfg": TRAIN_CFG,
        "test_cfg": {**TEST_CFG, "nms_pre": 100, "max_per_img": 50},
    }  # fmt: skip


_RETINA_PARAMS = {**_DETECTOR_PARAMS, "config": retinanet_config(), "loss_names": ["loss_cls", "loss_bbox"],
                  "img_shapes": [[56, 64], [44, 60]], "num_gts": [3, 0]}  # fmt: skip
register(
    Case(
        component="models/detectors/retinanet",
        dtype="float64",
        name="predict_rescale",
        seed=14,
        params={**_RETINA_PARAMS, "mode": "predict", "forward": True},
        make_inputs=_detector_inputs,
        reference=_detector_reference,
        visdet=_detector_visdet,
        exact=("pred.*.labels", "num_classes"),
        description="reduced RetinaNet: detections of 2 padded images rescaled to the original size, raw head outputs",
    )
)
register(
    Case(
        component="models/detectors/retinanet",
        dtype="float64",
        name="loss_empty_gt_image",
        seed=15,
        params={**_RETINA_PARAMS, "mode": "loss"},
        make_inputs=_detector_inputs,
        reference=_detector_reference,
        visdet=_detector_visdet,
        description="reduced RetinaNet: focal and L1 loss terms (summed over levels) and every gradient; "
        "image 2 has no gt",
        live_params=({"num_gts": [2, 5]},),
    )
)
