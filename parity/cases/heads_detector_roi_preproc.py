"""Parity cases: StandardRoIHead loss (seeded sampling) and DetDataPreprocessor.

See ``heads_detector.py`` for the key conventions.
"""

from __future__ import annotations

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
    mm_instances,
    module_grads,
    state_entries,
)
from parity.cases.base import Case, Tensors, register

ROI_HEAD_COMPONENT = "models/roi_heads/standard_roi_head"
PREPROCESSOR_COMPONENT = "models/data_preprocessors/det_data_preprocessor"


# ------------------------------------------------------------------ StandardRoIHead
def _roi_head_cfg(params: Mapping[str, Any]) -> dict:
    c = params["channels"]
    return {
        "type": "StandardRoIHead",
        "bbox_roi_extractor": {"type": "SingleRoIExtractor",
                               "roi_layer": {"type": "RoIAlign", "output_size": 7, "sampling_ratio": 0},
                               "out_channels": c, "featmap_strides": [4, 8, 16, 32]},
        "bbox_head": {"type": "Shared2FCBBoxHead", "in_channels": c, "fc_out_channels": params["fc"],
                      "roi_feat_size": 7, "num_classes": params["num_classes"],
                      "bbox_coder": {"type": "DeltaXYWHBBoxCoder", "target_means": [0.0] * 4,
                                     "target_stds": [0.1, 0.1, 0.2, 0.2]},
                      "reg_class_agnostic": False,
                      "loss_cls": {"type": "CrossEntropyLoss", "use_sigmoid": False, "loss_weight": 1.0},
                      "loss_bbox": {"type": "L1Loss", "loss_weight": 1.0}},
    }


def _roi_head_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    feats = {}
    for level, (h, w) in enumerate(params["feat_sizes"]):
        feats[f"feat.{level}"] = torch.randn(2, params["channels"], h, w, generator=generator)
    proposals = draw_proposals(params["num_proposals"], params["img_shapes"], generator, with_batch_index=False)
    return {**feats, "proposals": proposals, **draw_gt(params, generator)}


def _roi_head_run(head: Any, params: Mapping[str, Any], inputs: Tensors, rpn_results: list, gts: list,
                  call_loss: Any) -> Tensors:
    feats = tuple(inputs[f"feat.{level}"].clone().requires_grad_(True) for level in range(len(params["feat_sizes"])))
    torch.manual_seed(params["sample_seed"])
    losses = call_loss(feats, rpn_results, gts)
    out = {f"loss.{k}": v.detach().clone().reshape(()) for k, v in losses.items()}
    (losses["loss_cls"] + losses["loss_bbox"]).backward()
    for level, feat in enumerate(feats):
        out[f"grad.input.{level}"] = feat.grad.detach().clone() if feat.grad is not None else torch.zeros_like(feat)
    out.update(module_grads(head))
    return out


def _split_proposals(params: Mapping[str, Any], inputs: Tensors) -> list[torch.Tensor]:
    return list(inputs["proposals"].split(params["num_proposals"]))


def _roi_head_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    torch.manual_seed(params["seed"])
    cfg = {**_roi_head_cfg(params), "train_cfg": params["train_cfg"], "test_cfg": None}
    head = mm_build(mm_cfg(cfg))
    state = state_entries(head)
    rpn_results = [InstanceData(bboxes=p.clone(), scores=torch.ones(len(p)),
                                labels=torch.zeros(len(p), dtype=torch.long))
                   for p in _split_proposals(params, inputs)]
    samples = []
    for meta, gt in zip(metas(params), mm_instances(gt_lists(params, inputs))):
        sample = DetDataSample(metainfo=meta)
        sample.gt_instances = gt
        samples.append(sample)
    return {**state, **_roi_head_run(head, params, inputs, rpn_results, samples, head.loss)}


def _roi_head_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.build import build_component
    from visdet.structures import Instances

    head = build_component("roi_head", {**_roi_head_cfg(params), "train_cfg": params["train_cfg"]})
    load_state(head, tensors)
    rpn_results = [Instances(bboxes=p.clone()) for p in _split_proposals(params, tensors)]
    gts = [Instances(bboxes=b, labels=lab) for b, lab in gt_lists(params, tensors)]
    return _roi_head_run(head, params, tensors, rpn_results, gts, head.loss)


_ROI_HEAD_PARAMS = {
    "channels": 4, "fc": 16, "num_classes": 3, "feat_sizes": [[24, 32], [12, 16], [6, 8], [3, 4], [2, 2]],
    "img_shapes": [[96, 128], [80, 110]], "num_proposals": [60, 40], "num_gts": [4, 0],
    "sample_seed": 13, "seed": 0,
    "train_cfg": {
        "assigner": {"type": "MaxIoUAssigner", "pos_iou_thr": 0.5, "neg_iou_thr": 0.5, "min_pos_iou": 0.5,
                     "match_low_quality": False, "ignore_iof_thr": -1},
        "sampler": {"type": "RandomSampler", "num": 32, "pos_fraction": 0.25, "neg_pos_ub": -1,
                    "add_gt_as_proposals": True},
        "pos_weight": -1, "debug": False,
    },
}
register(Case(
    component=ROI_HEAD_COMPONENT, dtype="float64", name="loss_sampling", params=_ROI_HEAD_PARAMS, seed=6,
    make_inputs=_roi_head_inputs, reference=_roi_head_reference, visdet=_roi_head_visdet,
    description="assign + RandomSampler (gt added as proposals, seeded) + box head loss; image 2 has no gt",
    live_params=({"num_gts": [2, 3]}, {"num_gts": [0, 0]}),
))
register(Case(
    component=ROI_HEAD_COMPONENT, dtype="float64", name="loss_many_gts_pos_weight", seed=7,
    params={**_ROI_HEAD_PARAMS, "num_gts": [6, 5], "num_proposals": [80, 30],
            "train_cfg": {**_ROI_HEAD_PARAMS["train_cfg"], "pos_weight": 2.0}},
    make_inputs=_roi_head_inputs, reference=_roi_head_reference, visdet=_roi_head_visdet,
    description="both images with gt, pos_weight=2",
))


# --------------------------------------------------------------- DetDataPreprocessor
def _pre_cfg(params: Mapping[str, Any]) -> dict:
    return {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375],
            "bgr_to_rgb": params["bgr_to_rgb"], "pad_size_divisor": params["pad_size_divisor"],
            "pad_value": params["pad_value"]}


def _pre_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    return {f"img.{i}": torch.randint(0, 256, (3, h, w), generator=generator, dtype=torch.uint8)
            for i, (h, w) in enumerate(params["img_shapes"])}


def _pre_images(params: Mapping[str, Any], inputs: Tensors) -> Any:
    images = [inputs[f"img.{i}"].clone() for i in range(len(params["img_shapes"]))]
    return torch.stack(images) if params["as_batch"] else images


def _pre_outputs(batch: torch.Tensor, pad_shapes: list, batch_shape: tuple) -> Tensors:
    out = {"inputs": batch.clone(), "batch_input_shape": torch.tensor(list(batch_shape))}
    for i, shape in enumerate(pad_shapes):
        out[f"pad_shape.{i}"] = torch.tensor(list(shape))
    return out


def _pre_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.data_preprocessors import DetDataPreprocessor
    from mmdet.structures import DetDataSample

    pre = DetDataPreprocessor(**_pre_cfg(params))
    samples = [DetDataSample(metainfo=m) for m in metas(params)]
    data = pre({"inputs": _pre_images(params, inputs), "data_samples": samples}, training=False)
    return _pre_outputs(data["inputs"], [s.pad_shape for s in data["data_samples"]],
                        data["data_samples"][0].batch_input_shape)


def _pre_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.models.data_preprocessors import DetDataPreprocessor

    batch, out_metas = DetDataPreprocessor(**_pre_cfg(params))(_pre_images(params, tensors), metas(params))
    return _pre_outputs(batch, [m["pad_shape"] for m in out_metas], out_metas[0]["batch_input_shape"])


_PRE_PARAMS = {"img_shapes": [[45, 70], [64, 33], [31, 31]], "bgr_to_rgb": True, "pad_size_divisor": 32,
               "pad_value": 0, "as_batch": False}
register(Case(
    component=PREPROCESSOR_COMPONENT, name="list_bgr_pad32", params=_PRE_PARAMS, seed=8,
    make_inputs=_pre_inputs, reference=_pre_reference, visdet=_pre_visdet,
    exact=("pad_shape.*", "batch_input_shape"),
    description="three uint8 BGR images of different sizes -> normalised RGB batch padded to 32",
    live_params=({"pad_value": 3.5, "pad_size_divisor": 1}, {"bgr_to_rgb": False, "pad_size_divisor": 7}),
))
register(Case(
    component=PREPROCESSOR_COMPONENT, name="tensor_batch_pad_value", seed=9,
    params={**_PRE_PARAMS, "img_shapes": [[50, 41], [50, 41]], "as_batch": True, "pad_value": 2.0,
            "pad_size_divisor": 16},
    make_inputs=_pre_inputs, reference=_pre_reference, visdet=_pre_visdet,
    exact=("pad_shape.*", "batch_input_shape"),
    description="one (B, C, H, W) batch padded to 16 with pad_value 2.0",
))
register(Case(
    component=PREPROCESSOR_COMPONENT, name="tensor_batch_more_images_than_channels", seed=10,
    params={**_PRE_PARAMS, "img_shapes": [[9, 13]] * 5, "as_batch": True, "pad_size_divisor": 8},
    make_inputs=_pre_inputs, reference=_pre_reference, visdet=_pre_visdet,
    exact=("pad_shape.*", "batch_input_shape"),
    description="a (5, 3, 9, 13) batch: a pad_shape for each of the 5 images, not for each of the 3 channels",
))
