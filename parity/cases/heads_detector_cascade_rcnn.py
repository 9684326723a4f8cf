"""Parity cases: a reduced Cascade R-CNN and Cascade Mask R-CNN (three stages, as mmdet's
``cascade-rcnn_r50_fpn.py`` / ``cascade-mask-rcnn_r50_fpn.py``), built by mmdet from an
mmdet-shaped config and by ``visdet.build_detector`` from the same dict, weights copied
strictly.

Reduced to keep golden/ small: ResNet-18 at base width 4, FPN 16 channels, box heads with
8-wide fcs, mask heads of 2 convs of 8 channels, 64 RoIs sampled per stage, 20
detections per image. The stages keep mmdet's per-stage target stds, IoU thresholds
(0.5/0.6/0.7), stage loss weights (1, 0.5, 0.25) and class-agnostic regression; the box
losses are L1 (mmdet's configs use SmoothL1): their gradients then do not carry the
float32 rounding of mmdet's regression targets, which moves between CPUs (see
``parity/tolerances.yaml``). SmoothL1 is compared in the full-size live tests.

As the Faster/Mask R-CNN detector cases: two raw uint8 images of different sizes through
each side's preprocessor; image 2 has no ground truth in the loss cases. Recorded:
detections after rescale (and the pasted masks, compared exactly), every loss term with
mmdet's per-stage names (``loss.s0.loss_cls``, ``loss.s2.loss_mask``...) and the gradient
of the summed losses for every trainable parameter.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch

from parity.cases._heads_detector_common import load_state, metas, mm_build, mm_cfg, module_grads, state_entries
from parity.cases.base import Case, Tensors, register
from parity.cases.heads_detector_faster_rcnn import _images, _inputs, reduced_config
from parity.cases.heads_mask import _ellipse_masks

STAGE_STDS = ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1], [0.033, 0.033, 0.067, 0.067])
STAGE_IOUS = (0.5, 0.6, 0.7)
RPN_LOSSES = ("loss_rpn_cls", "loss_rpn_bbox")


def loss_names(with_mask: bool) -> tuple[str, ...]:
    """mmdet's loss keys of the three-stage cascade, in its order."""
    per_stage = ("loss_cls", "acc", "loss_bbox") + (("loss_mask",) if with_mask else ())
    return RPN_LOSSES + tuple(f"s{s}.{name}" for s in range(3) for name in per_stage)


def reduced_cascade_config(num_classes: int = 5, with_mask: bool = False) -> dict:
    """mmdet's cascade-(mask-)rcnn_r50_fpn model dict at reduced widths and sample counts."""
    cfg = reduced_config(num_classes)
    cfg["type"] = "CascadeRCNN"
    cfg["backbone"].update(depth=18)
    cfg["neck"].update(in_channels=[4, 8, 16, 32], out_channels=16)
    cfg["rpn_head"].update(in_channels=16, feat_channels=16)
    extractor = cfg["roi_head"]["bbox_roi_extractor"]
    extractor["out_channels"] = 16
    base_head = cfg["roi_head"]["bbox_head"]
    heads = []
    for stds in STAGE_STDS:
        head = copy.deepcopy(base_head)
        head.update(in_channels=16, fc_out_channels=8, reg_class_agnostic=True)
        head["bbox_coder"]["target_stds"] = list(stds)
        heads.append(head)
    roi: dict[str, Any] = {"type": "CascadeRoIHead", "num_stages": 3, "stage_loss_weights": [1, 0.5, 0.25],
                           "bbox_roi_extractor": extractor, "bbox_head": heads}
    rcnn = cfg["train_cfg"]["rcnn"]
    stages = []
    for iou in STAGE_IOUS:
        stage = copy.deepcopy(rcnn)
        stage["assigner"].update(pos_iou_thr=iou, neg_iou_thr=iou, min_pos_iou=iou)
        stages.append(stage)
    cfg["train_cfg"]["rcnn"] = stages
    cfg["test_cfg"]["rcnn"]["max_per_img"] = 20
    if with_mask:
        roi["mask_roi_extractor"] = {"type": "SingleRoIExtractor",
                                     "roi_layer": {"type": "RoIAlign", "output_size": 14, "sampling_ratio": 0},
                                     "out_channels": 16, "featmap_strides": [4, 8, 16, 32]}
        roi["mask_head"] = {"type": "FCNMaskHead", "num_convs": 2, "in_channels": 16, "conv_out_channels": 8,
                            "num_classes": num_classes,
                            "loss_mask": {"type": "CrossEntropyLoss", "use_mask": True, "loss_weight": 1.0}}
        for stage in stages:
            stage["mask_size"] = 28
        cfg["test_cfg"]["rcnn"]["mask_thr_binary"] = 0.5
    cfg["roi_head"] = roi
    return cfg


def _cascade_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    out = _inputs(params, generator)
    if params.get("with_mask"):
        for i, (h, w) in enumerate(params["img_shapes"]):
            out[f"gt.{i}.masks"] = _ellipse_masks(out[f"gt.{i}.bboxes"], h, w, generator)
    return out


def _loss_outputs(losses: Mapping[str, Any], model: torch.nn.Module, names: tuple[str, ...]) -> Tensors:
    out: Tensors = {}
    total = torch.zeros(())
    for name in names:
        value = losses[name]
        value = sum(value) if isinstance(value, (list, tuple)) else value
        out[f"loss.{name}"] = value.detach().clone().reshape(())
        if "loss" in name.rsplit(".", 1)[-1]:
            total = total + value.sum()
    total.backward()
    out.update(module_grads(model))
    return out


def _pred_outputs(results: list, with_mask: bool) -> Tensors:
    fields = ("bboxes", "scores", "labels") + (("masks",) if with_mask else ())
    return {f"pred.{i}.{field}": getattr(res, field).clone() for i, res in enumerate(results) for field in fields}


def _reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData

    with_mask = bool(params.get("with_mask"))
    torch.manual_seed(params["seed"])
    model = mm_build(mm_cfg(copy.deepcopy(params["config"])))
    if "cls_weight_std" in params:
        # mmdet's init (std 0.01) makes every class score ~1/(K+1); wider classifiers spread them
        with torch.no_grad():
            for head in model.roi_head.bbox_head:
                head.fc_cls.weight.normal_(0.0, params["cls_weight_std"])
    if "mask_logit_std" in params:
        # at reduced widths the default init leaves every mask logit below 0 (empty masks)
        with torch.no_grad():
            for head in model.roi_head.mask_head:
                head.conv_logits.weight.normal_(0.0, params["mask_logit_std"])
    state = state_entries(model)
    samples = []
    for i, meta in enumerate(metas(params)):
        sample = DetDataSample(metainfo=meta)
        fields = {"bboxes": inputs[f"gt.{i}.bboxes"].clone(), "labels": inputs[f"gt.{i}.labels"].clone()}
        if with_mask:
            h, w = params["img_shapes"][i]
            fields["masks"] = BitmapMasks(inputs[f"gt.{i}.masks"].numpy().copy(), h, w)
        sample.gt_instances = InstanceData(**fields)
        samples.append(sample)
    training = params["mode"] == "loss"
    model.train(training)
    data = model.data_preprocessor({"inputs": _images(params, inputs), "data_samples": samples}, training=training)
    out: Tensors = {"batch_inputs": data["inputs"].clone()}
    if training:
        torch.manual_seed(params["sample_seed"])
        losses = model.loss(data["inputs"], data["data_samples"])
        out.update(_loss_outputs(losses, model, loss_names(with_mask)))
    else:
        with torch.no_grad():
            results = model.predict(data["inputs"], data["data_samples"], rescale=True)
        out.update(_pred_outputs([r.pred_instances for r in results], with_mask))
    return {**state, **out}


def _visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet import build_detector
    from visdet.structures import BitmapMasks, Instances

    with_mask = bool(params.get("with_mask"))
    model = build_detector(copy.deepcopy(params["config"]))
    load_state(model, tensors)
    training = params["mode"] == "loss"
    model.train(training)
    batch, batch_metas = model.data_preprocessor(_images(params, tensors), metas(params))
    out: Tensors = {"batch_inputs": batch.clone()}
    if training:
        gts = []
        for i, (h, w) in enumerate(params["img_shapes"]):
            fields = {"bboxes": tensors[f"gt.{i}.bboxes"].clone(), "labels": tensors[f"gt.{i}.labels"].clone()}
            if with_mask:
                fields["masks"] = BitmapMasks(tensors[f"gt.{i}.masks"].numpy().copy(), h, w)
            gts.append(Instances(**fields))
        torch.manual_seed(params["sample_seed"])
        out.update(_loss_outputs(model.loss(batch, batch_metas, gts), model, loss_names(with_mask)))
    else:
        with torch.no_grad():
            results = model.predict(batch, batch_metas, rescale=True)
        out.update(_pred_outputs(results, with_mask))
    return out


_PARAMS = {
    "img_shapes": [[60, 90], [52, 74]],
    "scale_factors": [[1.3, 1.25], [0.59, 0.6]],
    "num_gts": [3, 0],
    "num_classes": 5,
    "seed": 0,
    "sample_seed": 21,
}
for _component, _with_mask, _seed in (("cascade_rcnn", False, 30), ("cascade_mask_rcnn", True, 32)):
    _base = {**_PARAMS, "config": reduced_cascade_config(with_mask=_with_mask), "with_mask": _with_mask}
    _what = "Cascade Mask R-CNN" if _with_mask else "Cascade R-CNN"
    register(Case(
        component=f"models/detectors/{_component}", dtype="float64", name="predict_rescale", seed=_seed,
        # weights seed and classifier spread chosen so the detections span 3 labels and scores ~0.5-0.85
        params={**_base, "mode": "predict", "cls_weight_std": 8.0, "seed": 0 if _with_mask else 2,
                **({"mask_logit_std": 2.0} if _with_mask else {})},
        make_inputs=_cascade_inputs, reference=_reference, visdet=_visdet,
        exact=("pred.*.labels", "pred.*.masks") if _with_mask else ("pred.*.labels",),
        description=f"reduced {_what} predict on 2 padded images: three stages refine, scores averaged; "
                    "results rescaled to the original size" + (", masks averaged over stages and pasted" if _with_mask
                                                                else ""),
    ))
    register(Case(
        component=f"models/detectors/{_component}", dtype="float64", name="loss_empty_gt_image", seed=_seed + 1,
        params={**_base, "mode": "loss"},
        make_inputs=_cascade_inputs, reference=_reference, visdet=_visdet,
        description=f"reduced {_what} loss terms of every stage (s0..s2) and grads, seeded sampling per stage; "
                    "image 2 has no gt",
        live_params=({"num_gts": [2, 4]},),
    ))


def _no_detection_config() -> dict:
    config = reduced_cascade_config(with_mask=True)
    config["test_cfg"]["rcnn"]["score_thr"] = 1.0  # no score exceeds it: every box is dropped
    return config


register(Case(
    component="models/detectors/cascade_mask_rcnn", dtype="float64", name="predict_no_detection", seed=34,
    params={**_PARAMS, "config": _no_detection_config(), "with_mask": True, "mode": "predict",
            "cls_weight_std": 8.0, "seed": 0, "mask_logit_std": 2.0},
    make_inputs=_cascade_inputs, reference=_reference, visdet=_visdet,
    exact=("pred.*.labels", "pred.*.masks"),
    empty_ok="no box passes score_thr=1.0: both images' results (boxes, scores, labels, masks) must be empty, "
             "with the masks at the original image size",
    description="reduced Cascade Mask R-CNN predict where no detection survives: the mask branch's no-RoI path",
))
