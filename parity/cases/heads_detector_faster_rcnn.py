"""Parity cases: a reduced Faster R-CNN (ResNet-50 at base_channels 4, FPN 16 channels),
built by mmdet from an mmdet-shaped config and by ``visdet.build_detector`` from the same
dict, weights copied strictly.

Two raw uint8 images of different sizes go through each side's DetDataPreprocessor
(BGR->RGB, normalise, pad to 32) into one batch; the second image has no ground truth
in the main loss case. Recorded: the batch, per-image detections after rescale
(``pred.<i>.bboxes/scores/labels``), every loss term (RPN terms summed over levels, as
mmengine's ``parse_losses`` does) and the gradient of the summed losses for every
trainable parameter.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch

from parity.cases._heads_detector_common import (
    RPN_HEAD_CFG,
    draw_gt,
    load_state,
    metas,
    mm_build,
    mm_cfg,
    module_grads,
    state_entries,
)
from parity.cases.base import Case, Tensors, register

COMPONENT = "models/detectors/faster_rcnn"
LOSS_NAMES = ("loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "acc", "loss_bbox")


def reduced_config(num_classes: int = 5) -> dict:
    """mmdet's faster-rcnn_r50_fpn model dict at reduced widths and sample counts."""
    return {
        "type": "FasterRCNN",
        "data_preprocessor": {"type": "DetDataPreprocessor", "mean": [123.675, 116.28, 103.53],
                              "std": [58.395, 57.12, 57.375], "bgr_to_rgb": True, "pad_size_divisor": 32},
        "backbone": {"type": "ResNet", "depth": 50, "base_channels": 4, "num_stages": 4,
                     "out_indices": [0, 1, 2, 3], "frozen_stages": 1,
                     "norm_cfg": {"type": "BN", "requires_grad": True}, "norm_eval": True, "style": "pytorch",
                     "init_cfg": None},
        "neck": {"type": "FPN", "in_channels": [16, 32, 64, 128], "out_channels": 16, "num_outs": 5},
        "rpn_head": {**RPN_HEAD_CFG, "in_channels": 16, "feat_channels": 16},
        "roi_head": {
            "type": "StandardRoIHead",
            "bbox_roi_extractor": {"type": "SingleRoIExtractor",
                                   "roi_layer": {"type": "RoIAlign", "output_size": 7, "sampling_ratio": 0},
                                   "out_channels": 16, "featmap_strides": [4, 8, 16, 32]},
            "bbox_head": {"type": "Shared2FCBBoxHead", "in_channels": 16, "fc_out_channels": 32,
                          "roi_feat_size": 7, "num_classes": num_classes,
                          "bbox_coder": {"type": "DeltaXYWHBBoxCoder", "target_means": [0.0] * 4,
                                         "target_stds": [0.1, 0.1, 0.2, 0.2]},
                          "reg_class_agnostic": False,
                          "loss_cls": {"type": "CrossEntropyLoss", "use_sigmoid": False, "loss_weight": 1.0},
                          "loss_bbox": {"type": "L1Loss", "loss_weight": 1.0}},
        },
        "train_cfg": {
            "rpn": {"assigner": {"type": "MaxIoUAssigner", "pos_iou_thr": 0.7, "neg_iou_thr": 0.3,
                                 "min_pos_iou": 0.3, "match_low_quality": True, "ignore_iof_thr": -1},
                    "sampler": {"type": "RandomSampler", "num": 64, "pos_fraction": 0.5, "neg_pos_ub": -1,
                                "add_gt_as_proposals": False},
                    "allowed_border": -1, "pos_weight": -1, "debug": False},
            "rpn_proposal": {"nms_pre": 300, "max_per_img": 150, "nms": {"type": "nms", "iou_threshold": 0.7},
                             "min_bbox_size": 0},
            "rcnn": {"assigner": {"type": "MaxIoUAssigner", "pos_iou_thr": 0.5, "neg_iou_thr": 0.5,
                                  "min_pos_iou": 0.5, "match_low_quality": False, "ignore_iof_thr": -1},
                     "sampler": {"type": "RandomSampler", "num": 64, "pos_fraction": 0.25, "neg_pos_ub": -1,
                                 "add_gt_as_proposals": True},
                     "pos_weight": -1, "debug": False},
        },
        "test_cfg": {
            "rpn": {"nms_pre": 200, "max_per_img": 100, "nms": {"type": "nms", "iou_threshold": 0.7},
                    "min_bbox_size": 0},
            "rcnn": {"score_thr": 0.05, "nms": {"type": "nms", "iou_threshold": 0.5}, "max_per_img": 50},
        },
    }


def _inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    images = {f"img.{i}": torch.randint(0, 256, (3, h, w), generator=generator, dtype=torch.uint8)
              for i, (h, w) in enumerate(params["img_shapes"])}
    return {**images, **draw_gt(params, generator)}


def _images(params: Mapping[str, Any], inputs: Tensors) -> list[torch.Tensor]:
    return [inputs[f"img.{i}"].clone() for i in range(len(params["img_shapes"]))]


def _loss_outputs(losses: Mapping[str, Any], model: torch.nn.Module, names: tuple[str, ...] = LOSS_NAMES) -> Tensors:
    out: Tensors = {}
    total = torch.zeros(())
    for name in names:
        value = losses[name]
        value = sum(value) if isinstance(value, (list, tuple)) else value
        out[f"loss.{name}"] = value.detach().clone().reshape(())
        if "loss" in name:
            total = total + value
    total.backward()
    out.update(module_grads(model))
    return out


def _reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    torch.manual_seed(params["seed"])
    model = mm_build(mm_cfg(copy.deepcopy(params["config"])))
    if "cls_weight_std" in params:
        # mmdet's init (std 0.01) makes every class score ~1/(K+1); wider classifier
        # weights spread the scores (0.09 to 1.0 here) over four of the five labels
        with torch.no_grad():
            model.roi_head.bbox_head.fc_cls.weight.normal_(0.0, params["cls_weight_std"])
    state = state_entries(model)
    samples = []
    for i, meta in enumerate(metas(params)):
        sample = DetDataSample(metainfo=meta)
        sample.gt_instances = InstanceData(bboxes=inputs[f"gt.{i}.bboxes"].clone(),
                                           labels=inputs[f"gt.{i}.labels"].clone())
        samples.append(sample)
    training = params["mode"] == "loss"
    model.train(training)
    data = model.data_preprocessor({"inputs": _images(params, inputs), "data_samples": samples}, training=training)
    out: Tensors = {"batch_inputs": data["inputs"].clone()}
    if training:
        torch.manual_seed(params["sample_seed"])
        names = tuple(params.get("loss_names", LOSS_NAMES))
        out.update(_loss_outputs(model.loss(data["inputs"], data["data_samples"]), model, names))
    else:
        with torch.no_grad():
            results = model.predict(data["inputs"], data["data_samples"], rescale=True)
            if params.get("forward"):  # mmdet's _forward: the head's raw outputs (cls levels, then reg levels)
                raw = model._forward(data["inputs"])
                flat = [level for levels in raw for level in levels]
                out.update({f"forward.{i}": t.clone() for i, t in enumerate(flat)})
                out["num_classes"] = torch.tensor(model.bbox_head.num_classes)
        for i, sample in enumerate(results):
            pred = sample.pred_instances
            out[f"pred.{i}.bboxes"], out[f"pred.{i}.scores"] = pred.bboxes.clone(), pred.scores.clone()
            out[f"pred.{i}.labels"] = pred.labels.clone()
    return {**state, **out}


def _visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet import build_detector
    from visdet.structures import Instances

    model = build_detector(copy.deepcopy(params["config"]))
    load_state(model, tensors)
    training = params["mode"] == "loss"
    model.train(training)
    batch, batch_metas = model.data_preprocessor(_images(params, tensors), metas(params))
    out: Tensors = {"batch_inputs": batch.clone()}
    if training:
        gts = [Instances(bboxes=tensors[f"gt.{i}.bboxes"].clone(), labels=tensors[f"gt.{i}.labels"].clone())
               for i in range(len(params["img_shapes"]))]
        torch.manual_seed(params["sample_seed"])
        names = tuple(params.get("loss_names", LOSS_NAMES))
        out.update(_loss_outputs(model.loss(batch, batch_metas, gts), model, names))
    else:
        with torch.no_grad():
            results = model.predict(batch, batch_metas, rescale=True)
            if params.get("forward"):  # visdet's plain-tensor forward, in mmdet's order
                out.update({f"forward.{i}": t.clone() for i, t in enumerate(model.forward(batch))})
                out["num_classes"] = torch.tensor(model.num_classes)
        for i, res in enumerate(results):
            out[f"pred.{i}.bboxes"], out[f"pred.{i}.scores"] = res.bboxes.clone(), res.scores.clone()
            out[f"pred.{i}.labels"] = res.labels.clone()
    return out


_PARAMS = {
    "config": reduced_config(),
    "img_shapes": [[60, 90], [52, 74]],
    "scale_factors": [[1.3, 1.25], [0.59, 0.6]],
    "num_gts": [3, 0],
    "num_classes": 5,
    "seed": 0,
    "sample_seed": 21,
}
register(Case(
    component=COMPONENT, dtype="float64", name="predict_rescale", seed=10,
    params={**_PARAMS, "mode": "predict", "cls_weight_std": 16.0},
    make_inputs=_inputs, reference=_reference, visdet=_visdet, exact=("pred.*.labels",),
    description="reduced Faster R-CNN predict on 2 padded images, boxes rescaled to the original size",
))
register(Case(
    component=COMPONENT, dtype="float64", name="loss_empty_gt_image", params={**_PARAMS, "mode": "loss"}, seed=11,
    make_inputs=_inputs, reference=_reference, visdet=_visdet,
    description="reduced Faster R-CNN loss terms and grads, seeded sampling; image 2 has zero gt boxes",
    live_params=({"num_gts": [2, 4]},),
))


# mmdet's RPN detector (a SingleStageDetector with the RPN head): proposals and RPN losses
def rpn_config() -> dict:
    """mmdet's ``RPN`` detector on a ResNet-18 (base width 4), a 16-channel FPN and the RPN head.

    It runs BasicBlock stages inside a whole detector (the other detector cases run
    Bottleneck stages).
    """
    full = reduced_config()
    backbone = {**full["backbone"], "depth": 18}
    neck = {**full["neck"], "in_channels": [4, 8, 16, 32], "out_channels": 16}
    rpn_head = {**full["rpn_head"], "in_channels": 16, "feat_channels": 16}
    return {"type": "RPN", "data_preprocessor": full["data_preprocessor"], "backbone": backbone, "neck": neck,
            "rpn_head": rpn_head, "train_cfg": {"rpn": full["train_cfg"]["rpn"]},
            "test_cfg": {"rpn": full["test_cfg"]["rpn"]}}


_RPN_PARAMS = {**_PARAMS, "config": rpn_config(), "loss_names": ["loss_rpn_cls", "loss_rpn_bbox"]}
register(Case(
    component="models/detectors/rpn", dtype="float64", name="predict_rescale", seed=12,
    params={**_RPN_PARAMS, "mode": "predict", "forward": True},
    make_inputs=_inputs, reference=_reference, visdet=_visdet, exact=("pred.*.labels", "num_classes"),
    description="mmdet's RPN detector: proposals of 2 padded images, rescaled to the original size",
))
register(Case(
    component="models/detectors/rpn", dtype="float64", name="loss_empty_gt_image", seed=13,
    params={**_RPN_PARAMS, "mode": "loss"},
    make_inputs=_inputs, reference=_reference, visdet=_visdet,
    description="mmdet's RPN detector: RPN loss terms (summed over levels) and grads; image 2 has no gt",
))
