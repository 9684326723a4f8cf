"""Parity cases: a reduced DINO detector, float64.

mmdet builds DINO from an mmdet-shaped config (mmdet's ``dino-4scale_r50`` layout: ResNet, a
ChannelMapper with GN and no activation, sine positions with temperature 20 and offset 0) at
reduced sizes; visdet builds the same dict through ``build_detector`` and loads the weights
strictly. DINO's decoder needs ``embed_dims`` 256 (its box encoding has 128 sine features per
coordinate); everything else is minimal: 2 levels, one encoder layer, two decoder layers, 8 heads
with one point, ``value_proj_ratio`` 1/8, FFN 16, no hidden regression fcs, 8 queries.

Weights: each side builds its model under the case's seed and runs its ``init_weights`` (mmdet's
seeded init: the head's prior bias, the deformable attention's grid, Xavier and normal draws),
then adds the same seeded noise to every parameter (name order; so no branch is zero) and rounds
every weight to float32. No weights are stored: the goldens hold outputs only, and the init itself
is compared (``init.*``) in the predict case. Large tensors (init weights, gradients) are stored as
8 seeded random projections each, small ones whole (DINO's decoder is 256 wide by necessity: its
million weights, stored whole as float64 gradients, would take 9 MB per case).

Two raw uint8 images of different sizes go through each side's DetDataPreprocessor into one
batch (padding masks on every level). Recorded: the batch, the raw class logits and boxes of
every decoder layer and the detections after rescale (``predict``); in training mode, with
torch's RNG seeded the same way right before ``loss`` (the denoising queries' draws), every loss
term and every parameter's gradient (``loss*``; the batch is the predict case's check).
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
from parity.cases._heads_detector_common import metas, mm_build, mm_cfg
from parity.cases.base import Case, Tensors, register

COMPONENT = "models/detectors/dino"
_PERTURB_SCALE = 0.1
#: Tensors up to this many elements are stored whole; larger ones as projections (see _fingerprints).
_WHOLE = 1024
_DIRECTIONS = 8


def reduced_config(num_classes: int = 5, num_queries: int = 8) -> dict[str, Any]:
    """mmdet's dino-4scale_r50 model dict at reduced sizes (embed_dims 256, as DINO's decoder needs)."""
    msda = {"embed_dims": 256, "num_heads": 8, "num_levels": 2, "num_points": 1, "value_proj_ratio": 0.125,
            "dropout": 0.0, "batch_first": True}  # fmt: skip
    ffn = {"embed_dims": 256, "feedforward_channels": 16, "ffn_drop": 0.0}
    return {
        "type": "DINO", "num_queries": num_queries, "num_feature_levels": 2, "with_box_refine": True,
        "as_two_stage": True,
        "data_preprocessor": {"type": "DetDataPreprocessor", "mean": [123.675, 116.28, 103.53],
                              "std": [58.395, 57.12, 57.375], "bgr_to_rgb": True, "pad_size_divisor": 1},
        "backbone": {"type": "ResNet", "depth": 18, "base_channels": 8, "num_stages": 4, "out_indices": [2, 3],
                     "frozen_stages": 1, "norm_cfg": {"type": "BN", "requires_grad": False}, "norm_eval": True,
                     "style": "pytorch", "init_cfg": None},
        "neck": {"type": "ChannelMapper", "in_channels": [32, 64], "kernel_size": 1, "out_channels": 256,
                 "act_cfg": None, "norm_cfg": {"type": "GN", "num_groups": 32}, "num_outs": 2},
        "encoder": {"num_layers": 1, "layer_cfg": {"self_attn_cfg": msda, "ffn_cfg": ffn}},
        "decoder": {"num_layers": 2, "return_intermediate": True, "post_norm_cfg": None,
                    "layer_cfg": {"self_attn_cfg": {"embed_dims": 256, "num_heads": 8, "dropout": 0.0},
                                  "cross_attn_cfg": msda, "ffn_cfg": ffn}},
        "positional_encoding": {"num_feats": 128, "normalize": True, "offset": 0.0, "temperature": 20},
        "bbox_head": {"type": "DINOHead", "num_classes": num_classes, "num_reg_fcs": 0, "sync_cls_avg_factor": True,
                      "loss_cls": {"type": "FocalLoss", "use_sigmoid": True, "gamma": 2.0, "alpha": 0.25,
                                   "loss_weight": 1.0},
                      "loss_bbox": {"type": "L1Loss", "loss_weight": 5.0},
                      "loss_iou": {"type": "GIoULoss", "loss_weight": 2.0}},
        "dn_cfg": {"label_noise_scale": 0.5, "box_noise_scale": 1.0,
                   "group_cfg": {"dynamic": True, "num_groups": None, "num_dn_queries": 6}},
        "test_cfg": {"max_per_img": 12},
    }  # fmt: skip


def _perturb_to_float32(model: torch.nn.Module, seed: int) -> None:
    """Seeded noise on every parameter (in name order), then every floating weight rounded to float32.

    Both sides do it to their own seeded model: the same names and shapes draw the same noise.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, param in sorted(model.named_parameters()):
            param.add_(_PERTURB_SCALE * torch.randn(param.shape, generator=generator).to(param.dtype))
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.to(torch.float32))


def _fingerprints(prefix: str, tensors: Mapping[str, torch.Tensor]) -> Tensors:
    """Each tensor whole when it has at most ``_WHOLE`` elements, else ``t.flatten() @ R``.

    ``R`` is ``[numel, _DIRECTIONS]`` standard normal, drawn from a generator seeded by the name's
    CRC-32 (the same on both sides): any difference in the tensor moves the projections, while
    the golden keeps a few numbers per large tensor (DINO's 256-wide decoder has about a million
    weights; stored whole, their gradients alone would take 9 MB per case).
    """
    out: Tensors = {}
    for name, tensor in tensors.items():
        value = tensor.detach()
        if value.numel() <= _WHOLE or not value.is_floating_point():
            out[f"{prefix}.{name}"] = value.clone()
            continue
        generator = torch.Generator().manual_seed(zlib.crc32(name.encode()))
        directions = torch.randn(value.numel(), _DIRECTIONS, generator=generator).to(value.dtype)
        out[f"{prefix}_proj.{name}"] = value.flatten() @ directions
    return out


def _mm_model(params: Mapping[str, Any]) -> tuple[torch.nn.Module, Tensors]:
    """mmdet's DINO: seeded construction, ``init_weights``, the init's fingerprints, then perturbed."""
    torch.manual_seed(params["seed"])
    model = mm_build(mm_cfg(copy.deepcopy(params["config"])))
    model.init_weights()
    model.to(torch.get_default_dtype())  # mmcv's MSDA init leaves a float32 offset bias
    init = _fingerprints("init", model.state_dict()) if params.get("check_init") else {}
    _perturb_to_float32(model, params["seed"] + 1)
    return model, init


def _visdet_model(params: Mapping[str, Any]) -> tuple[torch.nn.Module, Tensors]:
    """visdet's DINO from the same dict, the same steps."""
    from visdet import build_detector

    torch.manual_seed(params["seed"])
    with dropout_deprecation(params["config"]["decoder"]["layer_cfg"]["self_attn_cfg"]):  # mmdet's spelling
        model = build_detector(copy.deepcopy(params["config"]))
    model.init_weights()
    init = _fingerprints("init", model.state_dict()) if params.get("check_init") else {}
    _perturb_to_float32(model, params["seed"] + 1)
    return model, init


def _reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:

    model, init = _mm_model(params)
    return {**init, **mm_predict(model, params, inputs)}


def _visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    model, init = _visdet_model(params)
    return {**init, **visdet_predict(model, params, tensors)}


def _loss_terms(losses: Mapping[str, Any]) -> Tensors:
    return {f"loss.{k}": (sum(v) if isinstance(v, (list, tuple)) else v).detach().clone().reshape(-1)
            for k, v in losses.items()}  # fmt: skip


def _total(losses: Mapping[str, Any]) -> torch.Tensor:
    return sum((sum(v) if isinstance(v, (list, tuple)) else v).sum() for k, v in losses.items() if "loss" in k)


def _grads(model: torch.nn.Module) -> Tensors:
    return _fingerprints("grad", {n: (p.grad if p.grad is not None else torch.zeros_like(p))
                                  for n, p in model.named_parameters() if p.requires_grad})  # fmt: skip


def _loss_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    model, _ = _mm_model(params)
    samples = []
    for i, meta in enumerate(metas(params)):
        sample = DetDataSample(metainfo=meta)
        sample.gt_instances = InstanceData(bboxes=inputs[f"gt.{i}.bboxes"], labels=inputs[f"gt.{i}.labels"])
        samples.append(sample)
    model.train()
    data = model.data_preprocessor({"inputs": images(params, inputs), "data_samples": samples}, training=True)
    torch.manual_seed(params["seed"] + 2)  # the denoising queries' draws
    losses = model.loss(data["inputs"].to(torch.get_default_dtype()), data["data_samples"])
    _total(losses).backward()
    return {**_loss_terms(losses), **_grads(model)}


def _loss_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.structures import Instances

    model, _ = _visdet_model(params)
    model.train()
    batch, batch_metas = model.data_preprocessor(images(params, tensors), metas(params))
    gts = [Instances(bboxes=tensors[f"gt.{i}.bboxes"], labels=tensors[f"gt.{i}.labels"])
           for i in range(len(params["img_shapes"]))]  # fmt: skip
    torch.manual_seed(params["seed"] + 2)
    losses = model.loss(batch.to(torch.get_default_dtype()), batch_metas, gts)
    _total(losses).backward()
    return {**_loss_terms(losses), **_grads(model)}


_PARAMS = {
    "img_shapes": [[56, 80], [64, 58]], "scale_factors": [[1.3, 1.25], [0.59, 0.6]], "num_gts": [3, 0],
    "num_classes": 5, "seed": 0,
}  # fmt: skip
register(Case(
    component=COMPONENT, dtype="float64", name="predict", seed=2440,
    params={**_PARAMS, "seed": 2440, "check_init": True, "config": reduced_config()},
    make_inputs=images_and_gt, reference=_reference, visdet=_visdet, exact=("pred.*.labels",),
    description="reduced DINO: mmdet's seeded init (all but the backbone), then with perturbed weights the raw "
    "outputs of both decoder layers and the detections of 2 images (each padded in one direction) rescaled",
))  # fmt: skip
_LOSS_CASES = {
    "loss": ({"num_gts": [3, 0]}, 6, "an image with 3 gts and one without (dynamic groups: 2 of 3 positive and "
                                      "3 negative queries, the second image's rows padding)"),
    "loss_static_groups_many_gts": (
        {"num_gts": [2, 5], "img_shapes": [[64, 58], [56, 80]]}, {"dynamic": False, "num_groups": 3},
        "2 and 5 gts, static 3 groups (30 denoising queries, the first image's padded)",
    ),
    "loss_no_gt": ({"num_gts": [0, 0]}, 6, "no gt in the batch: no denoising query (mmdet's zero dn terms)"),
}  # fmt: skip
for _index, (_name, (_overrides, _groups, _text)) in enumerate(_LOSS_CASES.items()):
    _config = {**reduced_config(), "train_cfg": {"assigner": HUNGARIAN}}
    _config["dn_cfg"] = {**_config["dn_cfg"], "group_cfg": (
        {"dynamic": True, "num_groups": None, "num_dn_queries": _groups} if isinstance(_groups, int) else _groups)}
    _seed = 2441 + _index
    register(Case(
        component=COMPONENT, dtype="float64", name=_name, seed=_seed,
        params={**_PARAMS, **_overrides, "seed": _seed, "config": _config},
        make_inputs=images_and_gt, reference=_loss_reference, visdet=_loss_visdet,
        description=f"reduced DINO training step ({_text}), the denoising draws seeded the same way: every loss term "
        "(last layer, d0., enc_, dn_, d0.dn_) and every parameter gradient",
    ))  # fmt: skip
