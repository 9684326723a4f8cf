"""Parity cases for ``IoULoss`` (FCOS's box loss): the three modes, weights, ``avg_factor``, mmdet's shortcuts.

Inputs are drawn only from the case's generator: predicted boxes near their targets (some
disjoint, so the ``eps`` clamp matters). Recorded: the loss and the gradient of
``sum(loss * ramp)`` w.r.t. the predicted boxes (float32: a few operations per box).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import torch

from parity.cases.base import Case, Tensors, register


def _inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    n = p["n"]
    xy = torch.rand(n, 2, generator=gen) * 50
    wh = torch.rand(n, 2, generator=gen) * 30 + 2
    target = torch.cat([xy, xy + wh], dim=1)
    shift = (torch.rand(n, 4, generator=gen) - 0.5) * wh.repeat(1, 2) * p.get("spread", 0.6)
    pred = target + shift
    pred = torch.cat([torch.minimum(pred[:, :2], pred[:, 2:] - 0.5), pred[:, 2:]], dim=1)
    if n > 3:  # a disjoint box: IoU 0, clamped to eps
        pred[0] = target[0] + torch.tensor([100.0, 100.0, 100.0, 100.0])
    weight = torch.rand(n, generator=gen)
    if p.get("zero_weight"):
        weight = weight * 0
    return {"pred": pred, "target": target, "weight": weight,
            "weight4": torch.rand(n, 4, generator=gen)}  # fmt: skip


def _run(loss_module: Any, p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    dtype = torch.float16 if p.get("half") else inputs["pred"].dtype  # fp16 boxes: IoU in fp32, cast back
    pred = inputs["pred"].to(dtype).clone().requires_grad_(True)
    target = inputs["target"].to(dtype)
    kwargs: dict[str, Any] = {}
    if p.get("weight"):
        kwargs["weight"] = inputs[p["weight"]]
    for key in ("avg_factor", "reduction_override"):
        if key in p:
            kwargs[key] = p[key]
    loss = loss_module(pred, target, **kwargs)
    ramp = torch.linspace(0.5, 1.5, max(loss.numel(), 1))[: loss.numel()].view_as(loss).to(loss.dtype)
    if loss.requires_grad:  # an empty input gives a loss without a graph (mmdet's empty bbox_overlaps)
        (loss * ramp).sum().backward()
    grad = pred.grad if pred.grad is not None else torch.zeros_like(pred)
    return {"loss": loss.detach(), "grad.pred": grad}


_ARGS = ("linear", "eps", "reduction", "loss_weight", "mode")


def _ref(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.losses import IoULoss

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _run(IoULoss(**{k: p[k] for k in _ARGS if k in p}), p, inputs)


def _vis(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.models.losses import IoULoss

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _run(IoULoss(**{k: p[k] for k in _ARGS if k in p}), p, inputs)


_CASES = {
    "log_mean": dict(n=20),
    "log_weight_avg_factor": dict(n=20, weight="weight", avg_factor=6.5, loss_weight=2.0),
    "linear_sum": dict(n=15, mode="linear", reduction="sum", weight="weight"),
    "square_weight4_mean": dict(n=15, mode="square", weight="weight4"),
    "deprecated_linear_eps": dict(n=12, linear=True, eps=0.05, weight="weight"),
    "none_override": dict(n=10, reduction_override="none", weight="weight", spread=1.5),
    "zero_weight": dict(n=10, weight="weight", zero_weight=True),
    "zero_weight_none": dict(n=10, weight="weight", zero_weight=True, reduction="none"),
    "empty": dict(n=0, avg_factor=1.0),
    "fp16_linear_none": dict(n=12, half=True, mode="linear", reduction="none", weight="weight"),
}
for _name, _params in _CASES.items():
    register(Case(
        component="models/losses/iou_loss", name=_name, params=_params, seed=33,
        make_inputs=_inputs, reference=_ref, visdet=_vis,
        description="IoULoss value and d(sum(loss * ramp))/d(pred)",
    ))  # fmt: skip
