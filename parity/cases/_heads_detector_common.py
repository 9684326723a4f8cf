"""Helpers shared by the heads/detector parity cases (no cases registered here).

Inputs are drawn only from the case's generator; JSON params carry shapes, metas and
mmdet-shaped configs, which both sides build from (mmdet through ``MODELS.build``,
visdet through its config builders).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from parity.cases.base import STATE_PREFIX, Tensors

STRIDES = [4, 8, 16, 32, 64]

RPN_HEAD_CFG = {
    "type": "RPNHead",
    "anchor_generator": {"type": "AnchorGenerator", "scales": [8], "ratios": [0.5, 1.0, 2.0],
                         "strides": STRIDES},
    "bbox_coder": {"type": "DeltaXYWHBBoxCoder", "target_means": [0.0] * 4, "target_stds": [1.0] * 4},
    "loss_cls": {"type": "CrossEntropyLoss", "use_sigmoid": True, "loss_weight": 1.0},
    "loss_bbox": {"type": "L1Loss", "loss_weight": 1.0},
}


def mm_cfg(cfg: Any) -> Any:
    """A (nested) mmengine ``ConfigDict`` copy of a plain dict."""
    from mmengine.config import ConfigDict

    return ConfigDict(cfg) if isinstance(cfg, Mapping) else cfg


def mm_build(cfg: Any) -> nn.Module:
    """Build an mmdet model component after registering mmdet's modules."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules()
    return MODELS.build(cfg)


def state_entries(module: nn.Module) -> Tensors:
    """``state.<key>`` copies of the module's state dict."""
    return {f"{STATE_PREFIX}{k}": v.detach().clone() for k, v in module.state_dict().items()}


def load_state(module: nn.Module, tensors: Mapping[str, torch.Tensor]) -> None:
    """Load the ``state.*`` entries strictly."""
    state = {k[len(STATE_PREFIX):]: v for k, v in tensors.items() if k.startswith(STATE_PREFIX)}
    module.load_state_dict(state, strict=True)


def module_grads(module: nn.Module) -> Tensors:
    """``grad.param.<name>`` of every parameter that requires grad (zeros when unused)."""
    out = {}
    for name, param in module.named_parameters():
        if param.requires_grad:
            grad = param.grad if param.grad is not None else torch.zeros_like(param)
            out[f"grad.param.{name}"] = grad.detach().clone()
    return out


def metas(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per-image metas from params: img_shape, ori_shape, scale_factor, pad_shape."""
    out = []
    for i, (h, w) in enumerate(params["img_shapes"]):
        sw, sh = params["scale_factors"][i] if "scale_factors" in params else (1.0, 1.0)
        meta = {"img_shape": (h, w), "ori_shape": (round(h / sh), round(w / sw)),
                "scale_factor": (sw, sh)}
        if "pad_shapes" in params:
            meta["pad_shape"] = tuple(params["pad_shapes"][i])
            meta["batch_input_shape"] = tuple(max(s[d] for s in params["pad_shapes"]) for d in (0, 1))
        out.append(meta)
    return out


def draw_boxes(num: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """``num`` boxes ``[num, 4]`` inside an ``height x width`` image, sizes 4 px to ~60%."""
    x1 = torch.rand(num, generator=generator) * width * 0.7
    y1 = torch.rand(num, generator=generator) * height * 0.7
    bw = 4 + torch.rand(num, generator=generator) * width * 0.6
    bh = 4 + torch.rand(num, generator=generator) * height * 0.6
    x2 = torch.minimum(x1 + bw, torch.tensor(float(width)))
    y2 = torch.minimum(y1 + bh, torch.tensor(float(height)))
    return torch.stack([x1, y1, x2, y2], dim=1)


def draw_gt(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    """``gt.<i>.bboxes`` / ``gt.<i>.labels`` per image (``num_gts[i]`` may be 0)."""
    out = {}
    for i, (h, w) in enumerate(params["img_shapes"]):
        n = params["num_gts"][i]
        out[f"gt.{i}.bboxes"] = draw_boxes(n, h, w, generator)
        out[f"gt.{i}.labels"] = torch.randint(0, params["num_classes"], (n,), generator=generator)
    return out


def gt_lists(params: Mapping[str, Any], tensors: Tensors, zero_labels: bool = False) -> list[tuple]:
    """``[(bboxes, labels)]`` per image from ``gt.*`` entries."""
    out = []
    for i in range(len(params["img_shapes"])):
        labels = tensors[f"gt.{i}.labels"]
        out.append((tensors[f"gt.{i}.bboxes"].clone(), torch.zeros_like(labels) if zero_labels else labels.clone()))
    return out


def mm_instances(pairs: Sequence[tuple]) -> list:
    """mmengine ``InstanceData`` with ``bboxes`` and ``labels`` per image."""
    from mmengine.structures import InstanceData

    return [InstanceData(bboxes=b, labels=lab) for b, lab in pairs]


def draw_proposals(counts: Sequence[int], img_shapes: Sequence[Sequence[int]], generator: torch.Generator,
                   with_batch_index: bool) -> torch.Tensor:
    """Random boxes per image, concatenated: ``[sum counts, 4]`` or RoIs ``[sum counts, 5]``."""
    parts = []
    for i, (n, (h, w)) in enumerate(zip(counts, img_shapes)):
        boxes = draw_boxes(n, h, w, generator)
        if with_batch_index:
            boxes = torch.cat([boxes.new_full((n, 1), float(i)), boxes], dim=1)
        parts.append(boxes)
    return torch.cat(parts, 0)
