"""Parity cases for Mask R-CNN's mask branch: ``FCNMaskHead`` (forward, loss, gradients),
``mask_target`` and the mask pasting of ``predict_by_feat``.

Both sides build the head from the same mmdet-shaped config (mmdet through ``MODELS``,
visdet through ``build_component("mask_head", ...)``) and visdet loads mmdet's weights
strictly. Forward and loss cases run in float64 (deep sums, see :mod:`parity.precision`);
mmdet's ``mask_target`` returns float32 targets (``.float()``), and with them the BCE
returns a float32 loss (its gradient stays float64). Target and paste cases are float32:
a RoIAlign or a ``grid_sample`` followed by a threshold, compared exactly.

Sampling results are built directly (the first ``P_i`` priors of image i are positives,
each assigned to a drawn gt), identically on both sides, so the cases test the head and
not the sampler.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from parity.cases._heads_detector_common import draw_boxes, load_state, mm_build, mm_cfg, module_grads, state_entries
from parity.cases.base import Case, Tensors, register

COMPONENT = "models/roi_heads/fcn_mask_head"
TARGET_COMPONENT = "models/roi_heads/mask_target"
PASTE_COMPONENT = "models/roi_heads/mask_paste"


def _head_cfg(p: Mapping[str, Any]) -> dict[str, Any]:
    cfg = {"type": "FCNMaskHead", "num_convs": p.get("num_convs", 2), "in_channels": p["channels"],
           "conv_out_channels": p.get("conv_out", 6), "num_classes": p["num_classes"],
           "roi_feat_size": p["roi"], "class_agnostic": p.get("class_agnostic", False),
           "conv_kernel_size": p.get("kernel", 3),
           "loss_mask": {"type": "CrossEntropyLoss", "use_mask": True, "loss_weight": p.get("loss_weight", 1.0)}}
    if "upsample" in p:
        cfg["upsample_cfg"] = p["upsample"]
    return cfg


def _build_pair(p: Mapping[str, Any], tensors: Tensors | None) -> Any:
    """mmdet's head (``tensors`` None) or visdet's with the ``state.*`` weights loaded."""
    if tensors is None:
        torch.manual_seed(p.get("init_seed", 0))
        head = mm_build(mm_cfg(_head_cfg(p)))
        head.init_weights()
        return head
    from visdet.build import build_component

    head = build_component("mask_head", _head_cfg(p))
    load_state(head, tensors)
    return head


# -------------------------------------------------------------------- forward
def _forward_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    feats = torch.randn(p["num_rois"], p["channels"], p["roi"], p["roi"], generator=gen)
    out = {"feats": feats}
    probe = _head_out_shape(p)
    out["weight"] = torch.randn(p["num_rois"], *probe, generator=gen)
    return out


def _head_out_shape(p: Mapping[str, Any]) -> tuple[int, int, int]:
    channels = 1 if p.get("class_agnostic") else p["num_classes"]
    upsample = p.get("upsample", {"type": "deconv", "scale_factor": 2})
    factor = upsample.get("scale_factor") if upsample.get("type") else 1
    size = int(p["roi"] * factor)
    return channels, size, size


def _forward_run(head: Any, t: Tensors) -> Tensors:
    feats = t["feats"].clone().requires_grad_(True)
    out = head(feats)
    (out * t["weight"]).sum().backward()
    return {"out": out.detach().clone(), "grad.input": feats.grad.detach().clone(), **module_grads(head)}


def _forward_ref(p: Mapping[str, Any], t: Tensors) -> Tensors:
    head = _build_pair(p, None)
    return {**state_entries(head), **_forward_run(head, t)}


def _forward_vis(p: Mapping[str, Any], t: Tensors) -> Tensors:
    return _forward_run(_build_pair(p, t), t)


_F = {"num_rois": 5, "channels": 4, "num_classes": 3, "roi": 7}
_FORWARD = {
    "forward_deconv": {},
    "forward_bilinear": {"upsample": {"type": "bilinear", "scale_factor": 2}},
    "forward_nearest_x3": {"upsample": {"type": "nearest", "scale_factor": 3}},
    "forward_no_upsample": {"upsample": {"type": None}},
    "forward_class_agnostic": {"class_agnostic": True},
    "forward_no_convs_kernel5": {"num_convs": 0, "kernel": 5},
    "forward_four_convs_kernel1": {"num_convs": 4, "kernel": 1, "conv_out": 5},
    # one conv from 4 to 7 channels: the upsampling takes the conv's width, not the input's
    "forward_one_conv_wider": {"num_convs": 1, "conv_out": 7},
}
for _name, _extra in _FORWARD.items():
    register(Case(
        component=COMPONENT, name=_name, params={**_F, **_extra}, seed=400 + len(_name), dtype="float64",
        make_inputs=_forward_inputs, reference=_forward_ref, visdet=_forward_vis,
        description=f"FCNMaskHead forward and gradients of sum(out * w) {_extra}",
    ))


# -------------------------------------------------------------------- loss
def _ellipse_masks(boxes: torch.Tensor, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    """The ellipse inscribed in each box, with 3% of the pixels flipped: ``uint8[G, h, w]``."""
    ys = torch.arange(h, dtype=torch.float32)[:, None] + 0.5
    xs = torch.arange(w, dtype=torch.float32)[None, :] + 0.5
    masks = torch.zeros(len(boxes), h, w, dtype=torch.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, max((x2 - x1) / 2, 1.0), max((y2 - y1) / 2, 1.0)
        masks[i] = (((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1).to(torch.uint8)
    return torch.where(torch.rand(len(boxes), h, w, generator=gen) < 0.03, 1 - masks, masks)


def _around(boxes: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Boxes near ``boxes``: centres moved by up to 15% of the size, sides scaled by 0.7-1.3."""
    size = boxes[:, 2:] - boxes[:, :2]
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2 + (torch.rand(len(boxes), 2, generator=gen) - 0.5) * 0.3 * size
    half = size * (0.7 + 0.6 * torch.rand(len(boxes), 2, generator=gen)) / 2
    return torch.cat([centre - half, centre + half], dim=1)


def _loss_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    out: Tensors = {}
    h, w = p["mask_shape"]
    for i, (num_priors, num_pos, num_gts) in enumerate(zip(p["num_priors"], p["num_pos"], p["num_gts"])):
        gt_boxes = draw_boxes(num_gts, h, w, gen)
        assigned = torch.randint(0, max(num_gts, 1), (num_pos,), generator=gen)
        positives = _around(gt_boxes[assigned], gen) if num_gts else torch.zeros(0, 4)
        out[f"img.{i}.priors"] = torch.cat([positives, draw_boxes(num_priors - num_pos, h, w, gen)])
        out[f"img.{i}.gt_bboxes"] = gt_boxes
        out[f"img.{i}.gt_labels"] = torch.randint(0, p["num_classes"], (num_gts,), generator=gen)
        out[f"img.{i}.gt_masks"] = _ellipse_masks(gt_boxes, h, w, gen)
        out[f"img.{i}.assigned"] = assigned
    total_pos = sum(p["num_pos"])
    out["feats"] = torch.randn(total_pos, p["channels"], p["roi"], p["roi"], generator=gen)
    return out


def _sampling_results(p: Mapping[str, Any], t: Tensors, sampling_cls: Any, assign_cls: Any) -> list:
    results = []
    for i, num_pos in enumerate(p["num_pos"]):
        priors = t[f"img.{i}.priors"].clone()
        n = priors.shape[0]
        gt_inds = torch.zeros(n, dtype=torch.long)
        labels = torch.full((n,), -1, dtype=torch.long)
        assigned = t[f"img.{i}.assigned"]
        gt_inds[:num_pos] = assigned + 1
        labels[:num_pos] = t[f"img.{i}.gt_labels"][assigned]
        assign = assign_cls(len(t[f"img.{i}.gt_labels"]), gt_inds, torch.zeros(n, dtype=priors.dtype), labels)
        results.append(sampling_cls(torch.arange(num_pos), torch.arange(num_pos, n), priors,
                                    t[f"img.{i}.gt_bboxes"].clone(), assign, torch.zeros(n, dtype=torch.uint8)))
    return results


def _ellipse_polygon(box: list[float]) -> list[np.ndarray]:
    """A 10-gon inscribed in the box's ellipse (a polygon gt like the bitmap one)."""
    x1, y1, x2, y2 = box
    angle = np.arange(10) * (2 * np.pi / 10)
    xs = (x1 + x2) / 2 + (x2 - x1) / 2 * np.cos(angle)
    ys = (y1 + y2) / 2 + (y2 - y1) / 2 * np.sin(angle)
    return [np.stack([xs, ys], axis=1).reshape(-1)]


def _gt_masks(p: Mapping[str, Any], t: Tensors, i: int, bitmap_cls: Any, polygon_cls: Any) -> Any:
    h, w = p["mask_shape"]
    if p.get("polygons"):
        return polygon_cls([_ellipse_polygon(b) for b in t[f"img.{i}.gt_bboxes"].double().tolist()], h, w)
    return bitmap_cls(t[f"img.{i}.gt_masks"].numpy().copy(), h, w)


def _loss_run(head: Any, p: Mapping[str, Any], t: Tensors, results: list, gts: list, call: Any) -> Tensors:
    feats = t["feats"].clone().requires_grad_(True)
    mask_preds = head(feats)
    out = call(mask_preds, results, gts)
    loss = out["loss_mask"]["loss_mask"]
    loss.sum().backward()
    return {"loss.loss_mask": loss.detach().clone().reshape(()), "mask_targets": out["mask_targets"].clone(),
            "grad.input": feats.grad.detach().clone() if feats.grad is not None else torch.zeros_like(feats),
            **module_grads(head)}


def _loss_ref(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from mmdet.models.task_modules.assigners import AssignResult
    from mmdet.models.task_modules.samplers import SamplingResult
    from mmdet.structures.mask import BitmapMasks, PolygonMasks
    from mmengine.config import ConfigDict
    from mmengine.structures import InstanceData

    head = _build_pair(p, None)
    results = _sampling_results(p, t, SamplingResult, AssignResult)
    gts = [InstanceData(bboxes=t[f"img.{i}.gt_bboxes"].clone(), labels=t[f"img.{i}.gt_labels"].clone(),
                        masks=_gt_masks(p, t, i, BitmapMasks, PolygonMasks)) for i in range(len(p["num_pos"]))]
    cfg = ConfigDict(mask_size=p["mask_size"], soft_mask_target=p.get("soft", False))
    run = _loss_run(head, p, t, results, gts, lambda m, r, g: head.loss_and_target(m, r, g, rcnn_train_cfg=cfg))
    return {**state_entries(head), **run}


def _loss_vis(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from visdet.models.task_modules import AssignResult, SamplingResult
    from visdet.structures import BitmapMasks, Instances, PolygonMasks

    head = _build_pair(p, t)
    results = _sampling_results(p, t, SamplingResult, AssignResult)
    gts = [Instances(bboxes=t[f"img.{i}.gt_bboxes"].clone(), labels=t[f"img.{i}.gt_labels"].clone(),
                     masks=_gt_masks(p, t, i, BitmapMasks, PolygonMasks)) for i in range(len(p["num_pos"]))]
    size, soft = p["mask_size"], p.get("soft", False)
    return _loss_run(head, p, t, results, gts,
                     lambda m, r, g: head.loss_and_target(m, r, g, mask_size=size, soft_mask_target=soft))


_L = {"channels": 4, "num_classes": 4, "roi": 7, "mask_shape": [48, 60], "mask_size": 14,
      "num_priors": [9, 6, 5], "num_pos": [4, 0, 3], "num_gts": [3, 0, 2]}
_LOSS = {
    "loss_bitmap": {},
    "loss_polygon": {"polygons": True},
    "loss_class_agnostic": {"class_agnostic": True, "roi": 6, "mask_size": [12, 12],
                            "upsample": {"type": "bilinear", "scale_factor": 2}},
    "loss_soft_targets_weighted": {"soft": True, "loss_weight": 2.5},
}
for _name, _extra in _LOSS.items():
    register(Case(
        component=COMPONENT, name=_name, params={**_L, **_extra}, seed=450 + len(_name), dtype="float64",
        make_inputs=_loss_inputs, reference=_loss_ref, visdet=_loss_vis,
        description="loss_and_target: mask targets of 7 positives in 3 images (one without gt), BCE, gradients",
        live_params=({"num_pos": [2, 0, 5]},),
    ))
register(Case(
    component=COMPONENT, name="loss_no_positives", params={**_L, "num_pos": [0, 0, 0]}, seed=470, dtype="float64",
    make_inputs=_loss_inputs, reference=_loss_ref, visdet=_loss_vis,
    description="no positive RoI in the batch: loss_mask is mask_preds.sum() (0) and every gradient 0",
    empty_ok="no positives: the zero loss and zero gradients are the point",
))


# -------------------------------------------------------------------- mask_target
def _target_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    out: Tensors = {}
    h, w = p["mask_shape"]
    for i, (num_pos, num_gts) in enumerate(zip(p["num_pos"], p["num_gts"])):
        gt_boxes = draw_boxes(num_gts, h, w, gen)
        assigned = torch.randint(0, max(num_gts, 1), (num_pos,), generator=gen)
        boxes = _around(gt_boxes[assigned], gen) if num_gts else torch.zeros(0, 4)
        # push some RoIs out of the canvas: mask_target clips them
        boxes = boxes + ((torch.rand(num_pos, 2, generator=gen) - 0.5) * 16).repeat(1, 2)
        out[f"img.{i}.proposals"] = boxes.round() if p.get("integer") else boxes
        out[f"img.{i}.assigned"] = assigned
        out[f"img.{i}.gt_bboxes"] = gt_boxes
        out[f"img.{i}.gt_masks"] = _ellipse_masks(gt_boxes, h, w, gen)
    return out


def _target_run(p: Mapping[str, Any], t: Tensors, fn: Any, bitmap_cls: Any, polygon_cls: Any) -> Tensors:
    n = len(p["num_pos"])
    proposals = [t[f"img.{i}.proposals"].clone() for i in range(n)]
    targets = fn(proposals, [t[f"img.{i}.assigned"].clone() for i in range(n)],
                 [_gt_masks(p, t, i, bitmap_cls, polygon_cls) for i in range(n)])
    return {"targets": targets}


def _target_ref(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from mmdet.structures.mask import BitmapMasks, PolygonMasks, mask_target
    from mmengine.config import ConfigDict

    cfg = ConfigDict(mask_size=p["mask_size"], soft_mask_target=p.get("soft", False))
    return _target_run(p, t, lambda a, b, c: mask_target(a, b, c, cfg), BitmapMasks, PolygonMasks)


def _target_vis(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from visdet.models.roi_heads.mask_target import mask_target
    from visdet.structures import BitmapMasks, PolygonMasks

    return _target_run(p, t, lambda a, b, c: mask_target(a, b, c, p["mask_size"], soft=p.get("soft", False)),
                       BitmapMasks, PolygonMasks)


_T = {"mask_shape": [50, 64], "mask_size": 28, "num_pos": [12, 0, 9], "num_gts": [4, 0, 3]}
_TARGETS = {
    "bitmap": {},
    "bitmap_integer_rois": {"integer": True},
    "bitmap_soft": {"soft": True, "mask_size": [13, 21]},
    "polygon": {"polygons": True},
}
for _name, _extra in _TARGETS.items():
    register(Case(
        component=TARGET_COMPONENT, name=_name, params={**_T, **_extra}, seed=480 + len(_name),
        make_inputs=_target_inputs, reference=_target_ref, visdet=_target_vis,
        description="mask_target over 3 images (one without positives), RoIs partly outside the masks",
        live_params=({"integer": True}, {"integer": False}),
    ))


# -------------------------------------------------------------------- paste
def _paste_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    out: Tensors = {}
    channels = 1 if p.get("class_agnostic") else p["num_classes"]
    for i, ((h, w), n) in enumerate(zip(p["img_shapes"], p["num_dets"])):
        boxes = draw_boxes(n, h, w, gen)
        if p.get("degenerate") and n:
            boxes[0, 2] = boxes[0, 0]  # zero width: mmdet maps the infinities to 0
        out[f"img.{i}.bboxes"] = boxes
        out[f"img.{i}.labels"] = torch.randint(0, p["num_classes"], (n,), generator=gen)
        out[f"img.{i}.scores"] = torch.rand(n, generator=gen)
        out[f"img.{i}.logits"] = torch.randn(n, channels, p["size"], p["size"], generator=gen) * 3
        if p.get("zero_logits"):  # probability exactly 0.5 = mask_thr_binary inside the boxes (kept: >=)
            out[f"img.{i}.logits"].zero_()
    return out


def _paste_metas(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    metas = []
    for (h, w), (sw, sh) in zip(p["img_shapes"], p["scale_factors"]):
        metas.append({"img_shape": (h, w), "ori_shape": (round(h / sh), round(w / sw)), "scale_factor": (sw, sh)})
    return metas


def _paste_outputs(results: list) -> Tensors:
    out: Tensors = {}
    for i, res in enumerate(results):
        out[f"pred.{i}.masks"] = res.masks.clone()
        out[f"pred.{i}.bboxes"] = res.bboxes.clone()
    return out


def _paste_ref(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from mmengine.config import ConfigDict
    from mmengine.structures import InstanceData

    head = mm_build(mm_cfg(_head_cfg({**p, "channels": 4, "roi": 7})))
    n = len(p["num_dets"])
    results = [InstanceData(bboxes=t[f"img.{i}.bboxes"].clone(), labels=t[f"img.{i}.labels"].clone(),
                            scores=t[f"img.{i}.scores"].clone()) for i in range(n)]
    out = head.predict_by_feat(tuple(t[f"img.{i}.logits"].clone() for i in range(n)), results, _paste_metas(p),
                               rcnn_test_cfg=ConfigDict(mask_thr_binary=p["thr"]), rescale=p["rescale"])
    return _paste_outputs(out)


def _paste_vis(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from visdet.build import build_component
    from visdet.structures import Instances

    head = build_component("mask_head", _head_cfg({**p, "channels": 4, "roi": 7}))
    n = len(p["num_dets"])
    results = [Instances(bboxes=t[f"img.{i}.bboxes"].clone(), labels=t[f"img.{i}.labels"].clone(),
                         scores=t[f"img.{i}.scores"].clone()) for i in range(n)]
    out = head.predict_by_feat([t[f"img.{i}.logits"].clone() for i in range(n)], results, _paste_metas(p),
                               mask_thr_binary=p["thr"], rescale=p["rescale"])
    return _paste_outputs(out)


_P = {"num_classes": 5, "size": 28, "img_shapes": [[60, 80], [45, 70], [30, 40]], "num_dets": [6, 4, 0],
      "scale_factors": [[1.25, 1.2], [0.5, 0.5], [1.0, 1.0]], "thr": 0.5, "rescale": True}
_PASTES = {
    "rescale": {},
    "no_rescale": {"rescale": False},
    "uint8_maps": {"thr": -1.0},
    "class_agnostic_thr03": {"class_agnostic": True, "thr": 0.3},
    "degenerate_box": {"degenerate": True},
    "logit_zero_ties": {"zero_logits": True, "num_dets": [2, 1, 0]},
}
for _name, _extra in _PASTES.items():
    register(Case(
        component=PASTE_COMPONENT, name=_name, params={**_P, **_extra}, seed=490 + len(_name),
        make_inputs=_paste_inputs, reference=_paste_ref, visdet=_paste_vis,
        description="FCNMaskHead.predict_by_feat: sigmoid, class channel, chunked paste on CPU, threshold",
    ))


# -------------------------------------------------------------------- pad_mask
PREPROCESSOR_COMPONENT = "models/data_preprocessors/det_data_preprocessor"


def _pad_mask_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    out: Tensors = {}
    for i, ((h, w), n) in enumerate(zip(p["img_shapes"], p["num_gts"])):
        out[f"img.{i}"] = torch.randint(0, 256, (3, h, w), generator=gen, dtype=torch.uint8)
        out[f"gt.{i}.masks"] = (torch.rand(n, h, w, generator=gen) < 0.4).to(torch.uint8)
    return out


def _pad_mask_cfg(p: Mapping[str, Any]) -> dict[str, Any]:
    return {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "bgr_to_rgb": True,
            "pad_size_divisor": p["divisor"], "pad_mask": True, "mask_pad_value": p["mask_pad_value"]}


def _pad_mask_ref(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from mmdet.models.data_preprocessors import DetDataPreprocessor
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData

    samples = []
    for i, (h, w) in enumerate(p["img_shapes"]):
        sample = DetDataSample(metainfo={"img_shape": (h, w)})
        masks = t[f"gt.{i}.masks"]
        sample.gt_instances = InstanceData(bboxes=torch.zeros(len(masks), 4), masks=BitmapMasks(masks.numpy(), h, w))
        samples.append(sample)
    pre = DetDataPreprocessor(**_pad_mask_cfg(p))
    images = [t[f"img.{i}"].clone() for i in range(len(p["img_shapes"]))]
    data = pre({"inputs": images, "data_samples": samples}, training=True)
    return {f"gt.{i}.padded": torch.from_numpy(s.gt_instances.masks.masks.copy())
            for i, s in enumerate(data["data_samples"])}


def _pad_mask_vis(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from visdet.models.data_preprocessors import DetDataPreprocessor
    from visdet.structures import BitmapMasks, Instances

    pre = DetDataPreprocessor(**_pad_mask_cfg(p))
    images = [t[f"img.{i}"].clone() for i in range(len(p["img_shapes"]))]
    _, metas = pre(images, [{"img_shape": tuple(s)} for s in p["img_shapes"]])
    gts = [Instances(bboxes=torch.zeros(len(t[f"gt.{i}.masks"]), 4),
                     masks=BitmapMasks(t[f"gt.{i}.masks"].numpy(), h, w)) for i, (h, w) in enumerate(p["img_shapes"])]
    return {f"gt.{i}.padded": torch.from_numpy(gt.masks.masks.copy())
            for i, gt in enumerate(pre.pad_gt_masks(gts, metas))}


register(Case(
    component=PREPROCESSOR_COMPONENT, name="pad_mask_training", seed=495,
    params={"img_shapes": [[45, 70], [64, 33], [31, 31]], "num_gts": [3, 0, 2], "divisor": 32, "mask_pad_value": 0},
    make_inputs=_pad_mask_inputs, reference=_pad_mask_ref, visdet=_pad_mask_vis,
    description="pad_mask=True in training: gt masks (one image without any) padded to the batch shape",
    live_params=({"mask_pad_value": 1, "divisor": 8},),
))


# ----------------------------------------------- paste over the whole image (mmdet's GPU mode)
def _whole_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    h, w = p["img_shape"]
    boxes = draw_boxes(p["num"], h, w, gen)
    boxes[0] = torch.tensor([-6.0, -4.0, w + 5.0, h + 3.0])  # beyond the image on every side
    return {"boxes": boxes, "probs": torch.rand(p["num"], 1, p["size"], p["size"], generator=gen)}


def _whole_ref(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from mmdet.models.roi_heads.mask_heads.fcn_mask_head import _do_paste_mask

    pasted, spatial = _do_paste_mask(t["probs"].clone(), t["boxes"].clone(), *p["img_shape"], skip_empty=False)
    return {"pasted": pasted, "num_slices": torch.tensor(len(spatial))}


def _whole_vis(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from visdet.models.roi_heads.mask_paste import paste_masks_chunk

    pasted, spatial = paste_masks_chunk(t["probs"].clone(), t["boxes"].clone(), *p["img_shape"], skip_empty=False)
    return {"pasted": pasted, "num_slices": torch.tensor(len(spatial))}


register(Case(
    component=PASTE_COMPONENT, name="whole_image_chunk", params={"img_shape": [37, 52], "num": 5, "size": 14},
    seed=499, make_inputs=_whole_inputs, reference=_whole_ref, visdet=_whole_vis, exact=("num_slices",),
    description="_do_paste_mask with skip_empty=False (mmdet's GPU mode, run on the CPU): probabilities pasted "
                "over the whole image, one box beyond every border",
))
