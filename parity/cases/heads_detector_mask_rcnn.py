"""Parity cases: a reduced Mask R-CNN (ResNet-50 at base_channels 4, FPN 16 channels, mask
head 2 convs of 8 channels, 20 detections per image), built by mmdet from an mmdet-shaped config and by
``visdet.build_detector`` from the same dict, weights copied strictly.

As the Faster R-CNN cases (``heads_detector_faster_rcnn.py``) plus ground-truth masks
(ellipses inscribed in the gt boxes, bitmaps at each image's ``img_shape``) and the
pasted masks of every detection (``pred.<i>.masks``, bool at ``ori_shape``, compared
exactly). Float64 (the detector design of :mod:`parity.precision`; mmdet's mask targets
stay float32 and its paste grid float32, on both sides). One case shares the box RoI
extractor with the mask head (``share_roi_extractor``: ``mask_roi_extractor`` omitted).
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

COMPONENT = "models/detectors/mask_rcnn"
LOSS_NAMES = ("loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "acc", "loss_bbox", "loss_mask")


def reduced_mask_config(num_classes: int = 5, share_roi_extractor: bool = False) -> dict:
    """mmdet's mask-rcnn_r50_fpn model dict at reduced widths and sample counts."""
    cfg = reduced_config(num_classes)
    cfg["type"] = "MaskRCNN"
    roi = cfg["roi_head"]
    if not share_roi_extractor:
        roi["mask_roi_extractor"] = {"type": "SingleRoIExtractor",
                                     "roi_layer": {"type": "RoIAlign", "output_size": 14, "sampling_ratio": 0},
                                     "out_channels": 16, "featmap_strides": [4, 8, 16, 32]}
    roi["mask_head"] = {"type": "FCNMaskHead", "num_convs": 2, "in_channels": 16, "conv_out_channels": 8,
                        "num_classes": num_classes,
                        "loss_mask": {"type": "CrossEntropyLoss", "use_mask": True, "loss_weight": 1.0}}
    cfg["train_cfg"]["rcnn"]["mask_size"] = 14 if share_roi_extractor else 28
    cfg["test_cfg"]["rcnn"]["mask_thr_binary"] = 0.5
    cfg["test_cfg"]["rcnn"]["max_per_img"] = 20  # the pasted masks are most of a predict golden's bytes
    return cfg


def _mask_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    out = _inputs(params, generator)
    for i, (h, w) in enumerate(params["img_shapes"]):
        out[f"gt.{i}.masks"] = _ellipse_masks(out[f"gt.{i}.bboxes"], h, w, generator)
    return out


def _loss_outputs(losses: Mapping[str, Any], model: torch.nn.Module) -> Tensors:
    out: Tensors = {}
    total = torch.zeros(())
    for name in LOSS_NAMES:
        value = losses[name]
        value = sum(value) if isinstance(value, (list, tuple)) else value
        out[f"loss.{name}"] = value.detach().clone().reshape(())
        if "loss" in name:
            total = total + value.sum()
    total.backward()
    out.update(module_grads(model))
    return out


def _pred_outputs(results: list) -> Tensors:
    out: Tensors = {}
    for i, res in enumerate(results):
        for field in ("bboxes", "scores", "labels", "masks"):
            out[f"pred.{i}.{field}"] = getattr(res, field).clone()
    return out


def _reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData

    torch.manual_seed(params["seed"])
    model = mm_build(mm_cfg(copy.deepcopy(params["config"])))
    if "cls_weight_std" in params:
        with torch.no_grad():
            model.roi_head.bbox_head.fc_cls.weight.normal_(0.0, params["cls_weight_std"])
    if "mask_logit_std" in params:
        # at reduced widths the default init leaves every mask logit below 0 (empty masks);
        # wider mask predictor weights give masks with both foreground and background
        with torch.no_grad():
            model.roi_head.mask_head.conv_logits.weight.normal_(0.0, params["mask_logit_std"])
    state = state_entries(model)
    samples = []
    for i, meta in enumerate(metas(params)):
        sample = DetDataSample(metainfo=meta)
        h, w = params["img_shapes"][i]
        sample.gt_instances = InstanceData(bboxes=inputs[f"gt.{i}.bboxes"].clone(),
                                           labels=inputs[f"gt.{i}.labels"].clone(),
                                           masks=BitmapMasks(inputs[f"gt.{i}.masks"].numpy().copy(), h, w))
        samples.append(sample)
    training = params["mode"] == "loss"
    model.train(training)
    data = model.data_preprocessor({"inputs": _images(params, inputs), "data_samples": samples}, training=training)
    out: Tensors = {"batch_inputs": data["inputs"].clone()}
    if training:
        torch.manual_seed(params["sample_seed"])
        out.update(_loss_outputs(model.loss(data["inputs"], data["data_samples"]), model))
    else:
        with torch.no_grad():
            results = model.predict(data["inputs"], data["data_samples"], rescale=True)
        out.update(_pred_outputs([r.pred_instances for r in results]))
    return {**state, **out}


def _visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet import build_detector
    from visdet.structures import BitmapMasks, Instances

    model = build_detector(copy.deepcopy(params["config"]))
    load_state(model, tensors)
    training = params["mode"] == "loss"
    model.train(training)
    batch, batch_metas = model.data_preprocessor(_images(params, tensors), metas(params))
    out: Tensors = {"batch_inputs": batch.clone()}
    if training:
        gts = []
        for i, (h, w) in enumerate(params["img_shapes"]):
            gts.append(Instances(bboxes=tensors[f"gt.{i}.bboxes"].clone(), labels=tensors[f"gt.{i}.labels"].clone(),
                                 masks=BitmapMasks(tensors[f"gt.{i}.masks"].numpy().copy(), h, w)))
        torch.manual_seed(params["sample_seed"])
        out.update(_loss_outputs(model.loss(batch, batch_metas, gts), model))
    else:
        with torch.no_grad():
            results = model.predict(batch, batch_metas, rescale=True)
        out.update(_pred_outputs(results))
    return out


_PARAMS = {
    "config": reduced_mask_config(),
    "img_shapes": [[60, 90], [52, 74]],
    "scale_factors": [[1.3, 1.25], [0.59, 0.6]],
    "num_gts": [3, 0],
    "num_classes": 5,
    "seed": 0,
    "sample_seed": 21,
}
register(Case(
    component=COMPONENT, dtype="float64", name="predict_rescale", seed=12,
    params={**_PARAMS, "mode": "predict", "cls_weight_std": 8.0, "mask_logit_std": 2.0},
    make_inputs=_mask_inputs, reference=_reference, visdet=_visdet, exact=("pred.*.labels", "pred.*.masks"),
    description="reduced Mask R-CNN predict on 2 padded images: boxes rescaled, masks pasted at ori_shape",
))
register(Case(
    component=COMPONENT, dtype="float64", name="predict_no_rescale_shared_extractor", seed=13,
    params={**_PARAMS, "config": reduced_mask_config(share_roi_extractor=True), "mode": "predict",
            "cls_weight_std": 8.0, "mask_logit_std": 2.0, "scale_factors": [[1.0, 1.0], [1.0, 1.0]]},
    make_inputs=_mask_inputs, reference=_reference, visdet=_visdet, exact=("pred.*.labels", "pred.*.masks"),
    description="reduced Mask R-CNN predict, mask head on the shared 7x7 box extractor",
))
register(Case(
    component=COMPONENT, dtype="float64", name="loss_empty_gt_image", params={**_PARAMS, "mode": "loss"}, seed=14,
    make_inputs=_mask_inputs, reference=_reference, visdet=_visdet,
    description="reduced Mask R-CNN loss terms (loss_mask included) and grads, seeded sampling; image 2 has no gt",
    live_params=({"num_gts": [2, 4]},),
))
register(Case(
    component=COMPONENT, dtype="float64", name="loss_shared_extractor", seed=15,
    params={**_PARAMS, "config": reduced_mask_config(share_roi_extractor=True), "mode": "loss", "num_gts": [2, 5]},
    make_inputs=_mask_inputs, reference=_reference, visdet=_visdet,
    description="reduced Mask R-CNN loss with share_roi_extractor (mask head reads the positives' box features)",
))
