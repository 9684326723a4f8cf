"""Parity cases: reduced Deformable DETR detectors (plain, box refinement, refinement + two-stage), float64.

mmdet builds each detector from an mmdet-shaped config (mmdet's ``deformable-detr_r50`` layout:
ResNet out_indices (1, 2, 3), ChannelMapper with one extra level, GN, sine positions with
offset -0.5) at reduced widths; visdet builds the same dict through ``build_detector`` and
loads the weights strictly. Weights are the construction-time init (``MODELS.build`` does not
run ``init_weights``), with ``level_embed`` (allocated uninitialised by mmdet) drawn N(0, 1)
under the case's seed (in the loss cases also the deformable attention's offset and attention
weights, see ``_spread_sampling``). The weights are then rounded to bfloat16 values (the model still computes
in float64) and stored as bfloat16: the golden holds a quarter of the bytes, loading them into the
float64 model is exact, and random weights test the arithmetic as well rounded as not.

Two-stage needs ``embed_dims`` 256 (mmdet encodes each proposal with 128 sine features per
coordinate into ``pos_trans_fc``); that case keeps every other size minimal (2 levels, one
encoder layer, 8 heads with one point, ``value_proj_ratio`` 1/8, FFN 16, no hidden regression fcs).

Two raw uint8 images of different sizes go through each side's DetDataPreprocessor (BGR->RGB,
normalise, ``pad_size_divisor`` 1 as the DETR configs) into one batch, so the smaller image has
padding masks on every level; one case has two images of one size (no masks, mmdet's
unmasked positional encoding). Recorded: the batch, the head's raw outputs of every decoder
layer (``forward.*``: class logits, then boxes) and the detections after rescale.

The loss cases (train mode, dropout 0.1 drawn under the same seed on both sides) record every
loss term (the last layer's, each auxiliary layer's ``d<i>.*``, two-stage's ``enc_*``) and the
gradient of their sum for every parameter; the second image has no gt. A parameter of more than
``PROJECTED_NUMEL`` entries (the backbone's convs, the two-stage case's 256-wide matrices) is
recorded as four seeded random projections of its gradient (``grad.proj.<name>``) instead of
element by element: a difference anywhere shows in them, and the goldens stay MBs smaller.
"""

from __future__ import annotations

import copy
import zlib
from collections.abc import Mapping
from typing import Any

import torch

from parity.cases._detr_detector_common import (
    HUNGARIAN,
    dropout_deprecation,
    images,
    images_and_gt,
    mm_predict,
    visdet_predict,
)
from parity.cases._heads_detector_common import load_state, metas, mm_build, mm_cfg, state_entries
from parity.cases.base import Case, Tensors, register

COMPONENT = "models/detectors/deformable_detr"
#: Gradients of parameters larger than this are recorded as projections (loss cases).
PROJECTED_NUMEL = 1024


def _layer_cfg(embed: int, heads: int, levels: int, points: int, ffn: int, ratio: float) -> dict[str, Any]:
    msda = {"embed_dims": embed, "num_heads": heads, "num_levels": levels, "num_points": points,
            "batch_first": True}  # fmt: skip
    if ratio != 1.0:
        msda["value_proj_ratio"] = ratio
    ffn_cfg = {"embed_dims": embed, "feedforward_channels": ffn, "ffn_drop": 0.1}
    return {
        "encoder": {"self_attn_cfg": msda, "ffn_cfg": ffn_cfg},
        "decoder": {"self_attn_cfg": {"embed_dims": embed, "num_heads": heads, "dropout": 0.1, "batch_first": True},
                    "cross_attn_cfg": msda, "ffn_cfg": ffn_cfg},
    }  # fmt: skip


def reduced_config(variant: str, num_classes: int = 5) -> dict[str, Any]:
    """mmdet's deformable-detr_r50 model dict at reduced sizes; ``variant``: plain, refine or twostage."""
    two_stage = variant == "twostage"
    if two_stage:
        embed, heads, points, ffn, ratio, out_indices, in_channels = 256, 8, 1, 16, 0.125, [2, 3], [32, 64]
        levels, enc_layers, dec_layers, queries, reg_fcs, groups = 2, 1, 2, 10, 0, 32
    else:
        embed, heads, points, ffn, ratio, out_indices, in_channels = 32, 4, 2, 48, 1.0, [1, 2, 3], [16, 32, 64]
        levels, enc_layers, dec_layers, queries, reg_fcs, groups = 4, 2, 3, 12, 2, 8
    layers = _layer_cfg(embed, heads, levels, points, ffn, ratio)
    return {
        "type": "DeformableDETR", "num_queries": queries, "num_feature_levels": levels,
        "with_box_refine": variant != "plain", "as_two_stage": two_stage,
        "data_preprocessor": {"type": "DetDataPreprocessor", "mean": [123.675, 116.28, 103.53],
                              "std": [58.395, 57.12, 57.375], "bgr_to_rgb": True, "pad_size_divisor": 1},
        "backbone": {"type": "ResNet", "depth": 18, "base_channels": 8, "num_stages": 4, "out_indices": out_indices,
                     "frozen_stages": 1, "norm_cfg": {"type": "BN", "requires_grad": False}, "norm_eval": True,
                     "style": "pytorch", "init_cfg": None},
        "neck": {"type": "ChannelMapper", "in_channels": in_channels, "kernel_size": 1, "out_channels": embed,
                 "act_cfg": None, "norm_cfg": {"type": "GN", "num_groups": groups}, "num_outs": levels},
        "encoder": {"num_layers": enc_layers, "layer_cfg": layers["encoder"]},
        "decoder": {"num_layers": dec_layers, "return_intermediate": True, "layer_cfg": layers["decoder"],
                    "post_norm_cfg": None},
        "positional_encoding": {"num_feats": embed // 2, "normalize": True, "offset": -0.5},
        "bbox_head": {"type": "DeformableDETRHead", "num_classes": num_classes, "embed_dims": embed,
                      "num_reg_fcs": reg_fcs, "sync_cls_avg_factor": True,
                      "loss_cls": {"type": "FocalLoss", "use_sigmoid": True, "gamma": 2.0, "alpha": 0.25,
                                   "loss_weight": 2.0},
                      "loss_bbox": {"type": "L1Loss", "loss_weight": 5.0},
                      "loss_iou": {"type": "GIoULoss", "loss_weight": 2.0}},
        "test_cfg": {"max_per_img": 15},
    }  # fmt: skip


def _spread_sampling(model: torch.nn.Module, seed: int) -> None:
    """Seeded N(0, 0.1) weights for the deformable attention's offsets and attention logits (mmcv: zero).

    With mmcv's zero offset weights every sampling point sits exactly on a pixel centre's grid line,
    where bilinear sampling has a kink: the gradient of the offsets then depends on the last bit of
    the location (it differs between CPU kernels). Spread points sample at generic places.
    """
    generator = torch.Generator().manual_seed(seed)
    for name, param in sorted(model.named_parameters()):
        if name.endswith(("sampling_offsets.weight", "attention_weights.weight")):
            param.copy_(0.1 * torch.randn(param.shape, generator=generator).to(param.dtype))


def _bfloat16_weights(model: torch.nn.Module) -> Tensors:
    """Round every floating weight to a bfloat16 value in place; return the bfloat16 ``state.*`` entries."""
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.to(torch.bfloat16))
    return {k: (v.to(torch.bfloat16) if v.is_floating_point() else v) for k, v in state_entries(model).items()}


def _projection(name: str, numel: int) -> torch.Tensor:
    """Four seeded directions ``[numel, 4]`` (float32 draws, as inputs are) for a parameter's gradient."""
    generator = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    return torch.randn(numel, 4, generator=generator).to(torch.get_default_dtype())


def _loss_outputs(losses: Mapping[str, torch.Tensor], model: torch.nn.Module, params: Mapping[str, Any]) -> Tensors:
    """Every loss term (``loss.<name>``) and the gradients of their sum (see the module docstring)."""
    out: Tensors = {}
    total = torch.zeros(())
    for name in sorted(losses):
        out[f"loss.{name}"] = losses[name].detach().clone().reshape(())
        total = total + losses[name].sum()
    total.backward()
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        grad = (param.grad if param.grad is not None else torch.zeros_like(param)).detach()
        if params.get("project_grads") and grad.numel() > PROJECTED_NUMEL:
            out[f"grad.proj.{name}"] = grad.flatten() @ _projection(name, grad.numel())
        else:
            out[f"grad.param.{name}"] = grad.clone()
    return out


def _reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.structures import DetDataSample

    torch.manual_seed(params["seed"])
    model = mm_build(mm_cfg(copy.deepcopy(params["config"])))
    with torch.no_grad():
        model.level_embed.normal_()  # mmdet allocates it uninitialised (its init_weights draws it)
        if params.get("mode") == "loss":
            _spread_sampling(model, params["seed"] + 1)
    model.to(torch.get_default_dtype())  # mmcv's MSDA init leaves a float32 offset bias
    state = _bfloat16_weights(model)
    samples = [DetDataSample(metainfo=meta) for meta in metas(params)]
    if params.get("mode") == "loss":
        from mmengine.structures import InstanceData

        for i, sample in enumerate(samples):
            sample.gt_instances = InstanceData(bboxes=inputs[f"gt.{i}.bboxes"].clone(),
                                               labels=inputs[f"gt.{i}.labels"].clone())  # fmt: skip
        model.train()
        data = model.data_preprocessor({"inputs": images(params, inputs), "data_samples": samples}, training=True)
        torch.manual_seed(params["sample_seed"])  # the dropout draws
        losses = model.loss(data["inputs"], data["data_samples"])
        return {**state, "batch_inputs": data["inputs"].clone(), **_loss_outputs(losses, model, params)}
    return {**state, **mm_predict(model, params, inputs)}


def _visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet import build_detector

    with dropout_deprecation(params["config"]["decoder"]["layer_cfg"]["self_attn_cfg"]):  # mmdet's spelling
        model = build_detector(copy.deepcopy(params["config"]))
    load_state(model, tensors)
    if params.get("mode") == "loss":
        from visdet.structures import Instances

        model.train()
        batch, batch_metas = model.data_preprocessor(images(params, tensors), metas(params))
        gts = [Instances(bboxes=tensors[f"gt.{i}.bboxes"].clone(), labels=tensors[f"gt.{i}.labels"].clone())
               for i in range(len(params["img_shapes"]))]  # fmt: skip
        torch.manual_seed(params["sample_seed"])
        losses = model.loss(batch, batch_metas, gts)
        return {"batch_inputs": batch.clone(), **_loss_outputs(losses, model, params)}
    return visdet_predict(model, params, tensors)


_PARAMS = {
    "img_shapes": [[60, 90], [52, 74]], "scale_factors": [[1.3, 1.25], [0.59, 0.6]], "num_gts": [3, 0],
    "num_classes": 5, "seed": 0,
}  # fmt: skip
_PREDICT_CASES = {
    "plain_predict": ("plain", {}, "one stage, shared prediction layers, fixed 2-d reference points"),
    "refine_predict": ("refine", {}, "box refinement: per-layer branches refine the references in the decoder"),
    "refine_twostage_predict": (
        "twostage", {"img_shapes": [[56, 80], [64, 58]]},
        "refinement + two-stage: encoder proposals (padding and border masked), top-Q reference boxes, queries from "
        "pos_trans_fc; embed_dims 256, the rest minimal; the batch pads both images (one in each direction)",
    ),
    "plain_predict_unpadded": (
        "plain", {"img_shapes": [[48, 64], [48, 64]], "scale_factors": [[0.8, 0.8], [1.5, 1.5]]},
        "two images of one size: no padding masks, positions from mmdet's unmasked encoding, valid ratios 1",
    ),
}  # fmt: skip
for _seed, (_name, (_variant, _overrides, _text)) in enumerate(_PREDICT_CASES.items(), start=2100):
    register(Case(
        component=COMPONENT, dtype="float64", name=_name, seed=_seed,
        params={**_PARAMS, **_overrides, "config": reduced_config(_variant)},
        make_inputs=images_and_gt, reference=_reference, visdet=_visdet, exact=("pred.*.labels",),
        description=f"reduced Deformable DETR ({_text}): raw outputs of every decoder layer and detections of 2 "
        "images rescaled to the original size",
    ))  # fmt: skip


_LOSS_CASES = {
    "plain_loss_empty_gt_image": ("plain", {}, "one stage: every layer's focal/L1/GIoU terms"),
    "refine_loss_empty_gt_image": ("refine", {}, "box refinement: per-layer branches, detached references"),
    "refine_twostage_loss_empty_gt_image": (
        "twostage", {"img_shapes": [[56, 80], [64, 58]]},
        "refinement + two-stage: the enc_* terms of the encoder proposals (labels set to 0), embed_dims 256",
    ),
}  # fmt: skip
for _seed, (_name, (_variant, _overrides, _text)) in enumerate(_LOSS_CASES.items(), start=2110):
    _config = {**reduced_config(_variant), "train_cfg": {"assigner": HUNGARIAN}}
    register(Case(
        component=COMPONENT, dtype="float64", name=_name, seed=_seed,
        params={**_PARAMS, **_overrides, "config": _config, "mode": "loss", "sample_seed": 21, "project_grads": True},
        make_inputs=images_and_gt, reference=_reference, visdet=_visdet,
        description=f"reduced Deformable DETR ({_text}): every loss term and the gradients of their sum, dropout "
        "0.1 drawn under one seed; image 2 has no gt",
        live_params=({"num_gts": [2, 4]},),
    ))  # fmt: skip
