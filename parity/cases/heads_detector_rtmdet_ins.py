"""Parity cases: ``RTMDetInsSepBNHead`` / ``RTMDetInsHead`` on random pyramid features (float64).

Built as the RTMDet head cases (:mod:`parity.cases.heads_detector_rtmdet`): mmdet's head
from an mmdet-shaped config under ``torch.manual_seed(seed)``, visdet's from the same dict
through ``build_component``, weights loaded strictly. The gt masks are random pixels
inside each gt box on the batch's padded canvas (8x the first level's size, as mmdet's
loss expects), given to mmdet as ``BitmapMasks`` and to visdet as a bool tensor.

Recorded: per-level outputs and the prototypes (train mode), ``loss_cls``/``loss_bbox`` per
level and ``loss_mask`` (Dice on the positives' upsampled logits against the stride-4 gt),
the gradients of their sum w.r.t. the features and every parameter, the eval-mode
detections with their binary masks (compared exactly). The second image is smaller than
the padded batch (valid flags drop priors, which exercises mmdet's kernel indexing).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch

from parity.cases._heads_detector_common import load_state, metas, mm_build, mm_cfg, module_grads, state_entries
from parity.cases.base import Case, Tensors, register
from parity.cases.heads_detector_rtmdet import TEST_CFG, _gt_pairs, _inputs, head_config
from parity.precision import float_keeps_float64

HEAD_COMPONENT = "models/dense_heads/rtmdet_ins_head"
LOSS_NAMES = ("loss_cls", "loss_bbox")


def _ins_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    out = _inputs(params, generator)
    h0, w0 = params["feat_sizes"][0]
    canvas = (8 * h0, 8 * w0)
    for i in range(len(params["img_shapes"])):
        boxes = out[f"gt.{i}.bboxes"]
        masks = torch.rand(len(boxes), *canvas, generator=generator) > 0.3
        ys = torch.arange(canvas[0]).view(1, -1, 1) + 0.5
        xs = torch.arange(canvas[1]).view(1, 1, -1) + 0.5
        inside = ((xs >= boxes[:, 0, None, None]) & (xs <= boxes[:, 2, None, None])
                  & (ys >= boxes[:, 1, None, None]) & (ys <= boxes[:, 3, None, None]))  # fmt: skip
        out[f"gt.{i}.masks"] = (masks & inside).to(torch.uint8)
    return out


def _cfg(params: Mapping[str, Any]) -> dict:
    overrides = copy.deepcopy(params.get("head", {}))
    cfg = head_config(params["channels"], params["num_classes"], **{
        "type": "RTMDetInsSepBNHead", "num_prototypes": 4, "dyconv_channels": 4, "num_dyconvs": 3,
        "loss_mask": {"type": "DiceLoss", "loss_weight": 2.0, "eps": 5e-6, "reduction": "mean"},
        "test_cfg": {**TEST_CFG, "max_per_img": 8, "mask_thr_binary": 0.5}, **overrides})  # fmt: skip
    cfg.pop("exp_on_reg", None)
    return {key: value for key, value in cfg.items() if not (key in overrides and overrides[key] is None)}


def _run(head: Any, params: Mapping[str, Any], inputs: Tensors, gts: list, predict: Any) -> Tensors:
    levels = range(len(params["feat_sizes"]))
    feats = [inputs[f"feat.{level}"].clone().requires_grad_(True) for level in levels]
    head.train()
    cls_scores, bbox_preds, kernel_preds, mask_feat = head(feats)
    losses = head.loss_by_feat(cls_scores, bbox_preds, kernel_preds, mask_feat, gts, metas(params))
    out: Tensors = {"loss.loss_mask": losses["loss_mask"].detach().clone().reshape(())}
    total = losses["loss_mask"]
    for name in LOSS_NAMES:
        for level, value in enumerate(losses[name]):
            out[f"loss.{name}.{level}"] = value.detach().clone().reshape(())
            total = total + value
    total.backward()
    out["out.mask_feat"] = mask_feat.detach().clone()
    for level, feat in enumerate(feats):
        out[f"grad.input.{level}"] = feat.grad.detach().clone()
        out[f"out.cls.{level}"] = cls_scores[level].detach().clone()
        out[f"out.reg.{level}"] = bbox_preds[level].detach().clone()
        out[f"out.kernel.{level}"] = kernel_preds[level].detach().clone()
    out.update(module_grads(head))
    head.eval()
    with torch.no_grad():
        outs = head([inputs[f"feat.{level}"] for level in levels])
        out["eval.mask_feat"] = outs[3].clone()
        results = predict(*outs)
    for i, res in enumerate(results):
        out[f"pred.{i}.bboxes"] = res.bboxes.detach().clone()
        out[f"pred.{i}.scores"] = res.scores.detach().clone()
        out[f"pred.{i}.labels"] = res.labels.detach().clone()
        out[f"pred.{i}.masks"] = res.masks.detach().to(torch.uint8)
    return out


def _gt_with_masks(params: Mapping[str, Any], tensors: Tensors) -> list[tuple]:
    pairs = _gt_pairs(params, tensors)
    return [(b, lab, tensors[f"gt.{i}.masks"].bool()) for i, (b, lab) in enumerate(pairs)]


def _reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData

    with float_keeps_float64():
        torch.manual_seed(params["seed"])
        head = mm_build(mm_cfg(_cfg(params)))
        state = state_entries(head)
        gts = []
        for b, lab, m in _gt_with_masks(params, inputs):
            gts.append(InstanceData(bboxes=b, labels=lab, masks=BitmapMasks(m.numpy().astype("uint8"), *m.shape[1:])))

        def predict(cls_scores, bbox_preds, kernel_preds, mask_feat):
            return head.predict_by_feat(cls_scores, bbox_preds, kernel_preds, mask_feat,
                                        batch_img_metas=metas(params), rescale=params["rescale"])  # fmt: skip

        return {**state, **_run(head, params, inputs, gts, predict)}


def _visdet_masks(params: Mapping[str, Any], masks: torch.Tensor) -> Any:
    """The gt masks for visdet: a bool tensor, or visdet's ``BitmapMasks`` when the case asks for them."""
    if not params.get("visdet_bitmap"):
        return masks
    from visdet.structures.bitmap_masks import BitmapMasks

    return BitmapMasks(masks.numpy().astype("uint8"), *masks.shape[1:])


def _visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.build import build_component
    from visdet.structures import Instances

    with float_keeps_float64():
        head = build_component("dense_head", _cfg(params))
        load_state(head, tensors)
        gts = [Instances(bboxes=b, labels=lab, masks=_visdet_masks(params, m))
               for b, lab, m in _gt_with_masks(params, tensors)]  # fmt: skip

        def predict(cls_scores, bbox_preds, kernel_preds, mask_feat):
            return head.predict_by_feat(cls_scores, bbox_preds, kernel_preds, mask_feat, metas(params),
                                        rescale=params["rescale"])  # fmt: skip

        return _run(head, params, tensors, gts, predict)


_PARAMS = {
    "batch": 2, "channels": 8, "num_classes": 3, "seed": 0, "rescale": True,
    "feat_sizes": [[8, 10], [4, 5], [2, 3]],
    "img_shapes": [[60, 80], [50, 70]], "pad_shapes": [[64, 80], [56, 72]],
    "scale_factors": [[1.5, 1.5], [0.8, 0.8]], "num_gts": [4, 3],
}  # fmt: skip
_CASES = {
    "ins_sepbn_loss_predict": (
        {},
        "RTMDetInsSepBNHead as rtmdet-ins-tiny at reduced widths (shared class/reg convs, relu distances, 4 "
        "prototypes, 3 dynamic convs of 4 channels): QFL/GIoU per level, Dice mask loss, grads, predict with "
        "rescaled masks",
    ),
    "ins_sepbn_no_share_objectness": (
        {"num_gts": [2, 0], "rescale": False,
         "head": {"share_conv": False, "with_objectness": True, "pred_kernel_size": 3, "num_dyconvs": 2,
                  "dyconv_channels": 3, "mask_loss_stride": 2,
                  "norm_cfg": {"type": "BN", "momentum": 0.03, "eps": 0.001},
                  "loss_mask": {"type": "DiceLoss", "loss_weight": 1.0, "eps": 1e-3, "naive_dice": True},
                  "test_cfg": {**TEST_CFG, "max_per_img": 8, "mask_thr_binary": 0.6, "min_bbox_size": 3.0}}},
        "convs not shared, objectness, 3x3 predictors, 2 dynamic convs, mask loss stride 2, naive Dice; the "
        "second image has no gt; predict without rescale (masks at the padded size), min_bbox_size 3",
    ),
    "ins_shared_head_gn": (
        {"num_gts": [3, 2],
         "head": {"type": "RTMDetInsHead", "share_conv": None, "norm_cfg": {"type": "GN", "num_groups": 2},
                  "act_cfg": {"type": "ReLU"}, "with_objectness": True, "pred_kernel_size": 3}},
        "RTMDetInsHead (one tower per branch for every level, GN, ReLU, Scale x reg without exp)",
    ),
    "ins_no_gt_batch": (
        {"num_gts": [0, 0]},
        "no gt in the batch: mask loss zero and connected",
    ),
}  # fmt: skip
for _seed, (_name, (_overrides, _description)) in enumerate(_CASES.items(), start=70):
    register(Case(
        component=HEAD_COMPONENT, dtype="float64", name=_name, params={**_PARAMS, **_overrides}, seed=_seed,
        make_inputs=_ins_inputs, reference=_reference, visdet=_visdet, exact=("pred.*.labels", "pred.*.masks"),
        description=_description,
    ))  # fmt: skip


# smaller cases (4 channels, levels 4x5 / 2x3 / 1x2) for predict's filtering branches and BitmapMasks gt
_SMALL_PARAMS = {
    **_PARAMS, "channels": 4, "feat_sizes": [[4, 5], [2, 3], [1, 2]], "img_shapes": [[28, 40], [22, 34]],
    "pad_shapes": [[32, 40], [24, 40]], "num_gts": [3, 2],
}  # fmt: skip
_SMALL_TEST_CFG = {**TEST_CFG, "max_per_img": 8, "mask_thr_binary": 0.5}
_SMALL_CASES = {
    "ins_bitmap_gt_no_min_size": (
        {"visdet_bitmap": True, "head": {"test_cfg": {**_SMALL_TEST_CFG, "min_bbox_size": -1}}},
        "gt masks given to visdet as BitmapMasks too; predict with min_bbox_size -1 (no size filter)",
    ),
    "ins_all_filtered": (
        {"rescale": False, "head": {"test_cfg": {**_SMALL_TEST_CFG, "min_bbox_size": 1000.0}}},
        "min_bbox_size 1000 removes every detection: empty results with 0xHxW masks at the image size",
    ),
}  # fmt: skip
for _seed, (_name, (_overrides, _description)) in enumerate(_SMALL_CASES.items(), start=74):
    register(Case(
        component=HEAD_COMPONENT, dtype="float64", name=_name, params={**_SMALL_PARAMS, **_overrides}, seed=_seed,
        make_inputs=_ins_inputs, reference=_reference, visdet=_visdet, exact=("pred.*.labels", "pred.*.masks"),
        description=_description,
    ))  # fmt: skip
