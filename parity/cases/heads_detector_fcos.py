"""Parity cases: ``FCOSHead`` on random pyramid features, and a reduced ``FCOS`` detector.

Both sides run inside :func:`parity.precision.float_keeps_float64` (mmdet's ``.float()``
cast of the box branch and of the centerness targets would otherwise put float32
rounding into these float64 cases; visdet executes the same casts).

Head cases (float64): mmdet builds the head from an mmdet-shaped config under
``torch.manual_seed(seed)``; visdet builds the same dict through ``build_component`` and
loads the weights strictly. Recorded: the per-level outputs (scores, distances,
centerness), the three loss terms, the gradients of their sum w.r.t. the features and
every parameter (the ``Scale`` factors included), and the detections of each image
(centerness as the score factor). Weights are torch's default init (``MODELS.build``
does not run mmdet's ``init_weights``; its std 0.01 would put every score near 0.01), so
scores spread over the threshold and the classes. Reduced regress ranges put positives
on several levels of the small images.

The detector cases reuse the reduced-detector harness of
:mod:`parity.cases.heads_detector_faster_rcnn` on the caffe-style ResNet-50 (base width
4, frozen stem and stage 1, BN frozen), caffe means, no BGR->RGB, the FPN of
``fcos_r50-caffe_fpn_gn-head`` (from C3, extra convs on the output with a ReLU before
them) and a two-conv GN head.
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
from parity.precision import float_keeps_float64

HEAD_COMPONENT = "models/dense_heads/fcos_head"
STRIDES = [8, 16, 32, 64, 128]
SMALL_RANGES = [[-1, 16], [16, 32], [32, 64], [64, 128], [128, 1e8]]
TEST_CFG = {"nms_pre": 60, "min_bbox_size": 0, "score_thr": 0.05, "nms": {"type": "nms", "iou_threshold": 0.5},
            "max_per_img": 40}  # fmt: skip
LOSS_NAMES = ["loss_cls", "loss_bbox", "loss_centerness"]


def head_config(channels: int, num_classes: int, **overrides: Any) -> dict:
    """mmdet's FCOS head (``fcos_r50-caffe_fpn_gn-head``) at reduced widths, two groups per GN."""
    return {
        "type": "FCOSHead", "num_classes": num_classes, "in_channels": channels, "stacked_convs": 2,
        "feat_channels": channels, "strides": STRIDES, "regress_ranges": SMALL_RANGES,
        "norm_cfg": {"type": "GN", "num_groups": 2, "requires_grad": True},
        "loss_cls": {"type": "FocalLoss", "use_sigmoid": True, "gamma": 2.0, "alpha": 0.25, "loss_weight": 1.0},
        "loss_bbox": {"type": "IoULoss", "loss_weight": 1.0},
        "loss_centerness": {"type": "CrossEntropyLoss", "use_sigmoid": True, "loss_weight": 1.0},
        "test_cfg": TEST_CFG, **overrides,
    }  # fmt: skip


def _head_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    out = {}
    for level, (h, w) in enumerate(params["feat_sizes"]):
        out[f"feat.{level}"] = torch.randn(params["batch"], params["channels"], h, w, generator=generator)
    return {**out, **draw_gt(params, generator)}


def _head_run(head: Any, params: Mapping[str, Any], inputs: Tensors, gts: list, predict: Any) -> Tensors:
    feats = [inputs[f"feat.{level}"].clone().requires_grad_(True) for level in range(len(params["feat_sizes"]))]
    head.train()
    cls_scores, bbox_preds, centernesses = head(feats)
    losses = head.loss_by_feat(cls_scores, bbox_preds, centernesses, gts, metas(params))
    out: Tensors = {}
    total = torch.zeros(())
    for name in LOSS_NAMES:
        out[f"loss.{name}"] = losses[name].detach().clone()
        total = total + losses[name]
    total.backward()
    for level, feat in enumerate(feats):
        out[f"grad.input.{level}"] = feat.grad.detach().clone()
        out[f"out.cls.{level}"] = cls_scores[level].detach().clone()
        out[f"out.reg.{level}"] = bbox_preds[level].detach().clone()
        out[f"out.ctr.{level}"] = centernesses[level].detach().clone()
    out.update(module_grads(head))
    head.eval()  # norm_on_bbox multiplies by the stride in eval mode only
    with torch.no_grad():
        outs = head([inputs[f"feat.{level}"] for level in range(len(params["feat_sizes"]))])
    for i, res in enumerate(predict(*outs)):
        out[f"pred.{i}.bboxes"] = res.bboxes.detach().clone()
        out[f"pred.{i}.scores"] = res.scores.detach().clone()
        out[f"pred.{i}.labels"] = res.labels.detach().clone()
    return out


def _head_cfg(params: Mapping[str, Any]) -> dict:
    return head_config(params["channels"], params["num_classes"], **copy.deepcopy(params.get("head", {})))


def _head_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    with float_keeps_float64():
        torch.manual_seed(params["seed"])
        head = mm_build(mm_cfg(_head_cfg(params)))
        state = state_entries(head)
        gts = mm_instances(gt_lists(params, inputs))

        def predict(cls_scores, bbox_preds, centernesses):
            return head.predict_by_feat(cls_scores, bbox_preds, centernesses, batch_img_metas=metas(params),
                                        rescale=params["rescale"])  # fmt: skip

        return {**state, **_head_run(head, params, inputs, gts, predict)}


def _head_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.build import build_component
    from visdet.structures import Instances

    with float_keeps_float64():
        head = build_component("dense_head", _head_cfg(params))
        load_state(head, tensors)
        gts = [Instances(bboxes=b, labels=lab) for b, lab in gt_lists(params, tensors)]

        def predict(cls_scores, bbox_preds, centernesses):
            return head.predict_by_feat(cls_scores, bbox_preds, metas(params), rescale=params["rescale"],
                                        score_factors=centernesses)  # fmt: skip

        return _head_run(head, params, tensors, gts, predict)


_HEAD_PARAMS = {
    "batch": 2, "channels": 8, "num_classes": 4, "seed": 0, "rescale": True,
    "feat_sizes": [[10, 12], [5, 6], [3, 3], [2, 2], [1, 1]],
    "img_shapes": [[76, 90], [64, 80]], "pad_shapes": [[80, 96], [64, 96]],
    "scale_factors": [[1.5, 1.25], [0.8, 0.75]], "num_gts": [5, 0],
}  # fmt: skip
register(Case(
    component=HEAD_COMPONENT, dtype="float64", name="forward_loss_predict", params=_HEAD_PARAMS, seed=40,
    make_inputs=_head_inputs, reference=_head_reference, visdet=_head_visdet, exact=("pred.*.labels",),
    description="FCOSHead (GN towers, exp distances): focal, IoU (centerness-weighted) and centerness BCE losses "
    "(image 2 has no gt), grads incl. Scale, predict with centerness factors, rescaled",
    live_params=({"num_gts": [1, 6]}, {"rescale": False}),
))  # fmt: skip
register(Case(
    component=HEAD_COMPONENT, dtype="float64", name="norm_on_bbox_center_sampling", seed=41,
    params={**_HEAD_PARAMS, "num_gts": [4, 6], "rescale": False,
            "head": {"norm_on_bbox": True, "centerness_on_reg": True, "center_sampling": True,
                     "center_sample_radius": 1.5, "conv_bias": True,
                     "loss_bbox": {"type": "IoULoss", "mode": "linear", "loss_weight": 2.0},
                     "test_cfg": {"score_thr": 0.2, "min_bbox_size": 3.0, "nms": {"type": "nms", "iou_threshold": 0.4},
                                  "max_per_img": 10}}},
    make_inputs=_head_inputs, reference=_head_reference, visdet=_head_visdet, exact=("pred.*.labels",),
    description="FCOS's tricks: norm_on_bbox (ReLU, targets in strides, x stride in eval), centerness on the "
    "regression tower, center sampling radius 1.5, conv bias with GN; linear IoU x2; no nms_pre, min_bbox_size 3",
))  # fmt: skip
register(Case(
    component=HEAD_COMPONENT, dtype="float64", name="no_norm_default_ranges_no_gt", seed=42,
    params={**_HEAD_PARAMS, "num_gts": [0, 0],
            "head": {"norm_cfg": None, "stacked_convs": 1, "regress_ranges": [[-1, 64], [64, 128], [128, 256],
                                                                              [256, 512], [512, 1e8]]}},
    make_inputs=_head_inputs, reference=_head_reference, visdet=_head_visdet, exact=("pred.*.labels",),
    description="no norm (conv bias auto), mmdet's default regress ranges, no gt in the batch: zero box and "
    "centerness losses connected to the graph",
))  # fmt: skip


# ----------------------------------------------------------------- reduced detector
def fcos_config(num_classes: int = 5) -> dict:
    """mmdet's fcos_r50-caffe_fpn_gn-head model dict at reduced widths (ResNet-50 base 4, FPN and head 8)."""
    return {
        "type": "FCOS",
        "data_preprocessor": {"type": "DetDataPreprocessor", "mean": [102.9801, 115.9465, 122.7717],
                              "std": [1.0, 1.0, 1.0], "bgr_to_rgb": False, "pad_size_divisor": 32},
        "backbone": {"type": "ResNet", "depth": 50, "base_channels": 4, "num_stages": 4,
                     "out_indices": [0, 1, 2, 3], "frozen_stages": 1,
                     "norm_cfg": {"type": "BN", "requires_grad": False}, "norm_eval": True, "style": "caffe",
                     "init_cfg": None},
        "neck": {"type": "FPN", "in_channels": [16, 32, 64, 128], "out_channels": 8, "start_level": 1,
                 "add_extra_convs": "on_output", "num_outs": 5, "relu_before_extra_convs": True},
        "bbox_head": {key: value for key, value in head_config(8, num_classes).items() if key != "test_cfg"},
        "test_cfg": {**TEST_CFG, "nms_pre": 100, "max_per_img": 50},
    }  # fmt: skip


def _detector_reference_f64(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    with float_keeps_float64():
        return _detector_reference(params, inputs)


def _detector_visdet_f64(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    with float_keeps_float64():
        return _detector_visdet(params, tensors)


_FCOS_PARAMS = {**_DETECTOR_PARAMS, "config": fcos_config(), "loss_names": LOSS_NAMES,
                "img_shapes": [[56, 64], [44, 60]], "num_gts": [3, 0]}  # fmt: skip
register(Case(
    component="models/detectors/fcos", dtype="float64", name="predict_rescale", seed=43,
    params={**_FCOS_PARAMS, "mode": "predict", "forward": True},
    make_inputs=_detector_inputs, reference=_detector_reference_f64, visdet=_detector_visdet_f64,
    exact=("pred.*.labels", "num_classes"),
    description="reduced FCOS (caffe ResNet-50, caffe means, BGR kept): detections of 2 padded images rescaled "
    "to the original size, raw head outputs",
))  # fmt: skip
register(Case(
    component="models/detectors/fcos", dtype="float64", name="loss_empty_gt_image", seed=44,
    params={**_FCOS_PARAMS, "mode": "loss"},
    make_inputs=_detector_inputs, reference=_detector_reference_f64, visdet=_detector_visdet_f64,
    description="reduced FCOS: focal, IoU and centerness losses and every gradient; image 2 has no gt",
    live_params=({"num_gts": [2, 5]},),
))  # fmt: skip


# ------------------------------------------------------- hand-placed integer gt boxes
def _fixed_gt_head_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    """Random features; the gt boxes and labels are the case's own (``gt_boxes``, ``gt_labels`` per image)."""
    out = {}
    for level, (h, w) in enumerate(params["feat_sizes"]):
        out[f"feat.{level}"] = torch.randn(params["batch"], params["channels"], h, w, generator=generator)
    for i, (boxes, labels) in enumerate(zip(params["gt_boxes"], params["gt_labels"])):
        out[f"gt.{i}.bboxes"] = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        out[f"gt.{i}.labels"] = torch.tensor(labels, dtype=torch.int64)
    return out


_FIXED_PARAMS = {**_HEAD_PARAMS, "channels": 4, "rescale": False,
                 "head": {"norm_cfg": None, "stacked_convs": 1}}  # fmt: skip
register(Case(
    component=HEAD_COMPONENT, dtype="float64", name="softmax_cls_boxes_on_range_bounds", seed=45,
    params={**_FIXED_PARAMS, "gt_boxes": [[[1, 1, 20, 10], [2, 2, 40, 14], [30, 20, 70, 60]], []],
            "gt_labels": [[1, 3, 0], []],
            "head": {**_FIXED_PARAMS["head"],
                     "loss_cls": {"type": "CrossEntropyLoss", "use_sigmoid": False, "loss_weight": 1.0}}},
    make_inputs=_fixed_gt_head_inputs, reference=_head_reference, visdet=_head_visdet, exact=("pred.*.labels",),
    description="softmax classification (K + 1 channels, CE loss, softmax scores); integer boxes whose largest side "
    "distance from a point is exactly its level's upper bound (point (4, 4) to x2 = 20: 16; (8, 8) to 40: 32)",
))  # fmt: skip
register(Case(
    component=HEAD_COMPONENT, dtype="float64", name="single_positive_point", seed=46,
    params={**_FIXED_PARAMS, "gt_boxes": [[[2, 2, 7, 7]], []], "gt_labels": [[2], []]},
    make_inputs=_fixed_gt_head_inputs, reference=_head_reference, visdet=_head_visdet, exact=("pred.*.labels",),
    description="one 5x5 gt box that holds a single point (4, 4) of the batch: exactly one positive, its centerness "
    "target sqrt(2/3 * 2/3)",
))  # fmt: skip
