"""Parity cases for ``QualityFocalLoss`` (RTMDet's classification loss) and ``GIoULoss`` (its box loss).

Inputs are drawn only from the case's generator. QFL: logits ``[N, C]`` (spread 3) or
their sigmoid (``activated``), labels in ``[0, C]`` (C: background) with soft scores in
``[0, 1)``, or a dense soft target ``[N, C]`` (one non-zero per positive row, as RTMDet-Ins
and the tensor-target form use). GIoU: predicted boxes near their targets, one disjoint
(GIoU below 0) and one degenerate pair (the ``eps`` bound). Recorded: the loss and the
gradient of ``sum(loss * ramp)`` w.r.t. the prediction (float32: a few correctly rounded
operations per element).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from parity.cases.base import Case, Tensors, register


def _ramp(t: torch.Tensor) -> torch.Tensor:
    return torch.linspace(0.5, 1.5, max(t.numel(), 1))[: t.numel()].view_as(t)


def _run(loss_module: Any, p: Mapping[str, Any], pred: torch.Tensor, target: Any, inputs: Tensors) -> Tensors:
    pred = pred.clone().requires_grad_(True)
    kwargs: dict[str, Any] = {}
    if p.get("weight"):
        kwargs["weight"] = inputs[p["weight"]]
    for key in ("avg_factor", "reduction_override"):
        if key in p:
            kwargs[key] = p[key]
    loss = loss_module(pred, target, **kwargs)
    if loss.requires_grad:
        (loss * _ramp(loss)).sum().backward()
    grad = pred.grad if pred.grad is not None else torch.zeros_like(pred)
    return {"loss": loss.detach(), "grad.pred": grad}


# ------------------------------------------------------------------------------ QFL
_QFL_ARGS = ("use_sigmoid", "beta", "reduction", "loss_weight", "activated")


def _qfl_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    n, c = p["n"], p["c"]
    pred = torch.randn(n, c, generator=gen) * 3.0
    if p.get("activated"):
        pred = pred.sigmoid()
    labels = torch.randint(0, c + 1, (n,), generator=gen)
    scores = torch.rand(n, generator=gen)
    dense = torch.zeros(n, c)
    pos = labels < c
    dense[pos.nonzero().squeeze(1), labels[pos]] = scores[pos]
    return {"pred": pred, "labels": labels, "scores": scores, "dense": dense, "weight": torch.rand(n, generator=gen)}


def _qfl_target(p: Mapping[str, Any], inputs: Tensors) -> Any:
    return inputs["dense"] if p.get("dense") else (inputs["labels"], inputs["scores"])


def _qfl_ref(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.losses import QualityFocalLoss

    module = QualityFocalLoss(**{k: p[k] for k in _QFL_ARGS if k in p})
    return _run(module, p, inputs["pred"], _qfl_target(p, inputs), inputs)


def _qfl_vis(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.models.losses import QualityFocalLoss

    module = QualityFocalLoss(**{k: p[k] for k in _QFL_ARGS if k in p})
    return _run(module, p, inputs["pred"], _qfl_target(p, inputs), inputs)


_QFL_CASES = {
    "labels_scores_mean": dict(n=40, c=5),
    "weight_avg_factor_beta": dict(n=40, c=5, weight="weight", avg_factor=6.5, beta=1.5, loss_weight=2.0),
    "sum_weight": dict(n=30, c=4, reduction="sum", weight="weight"),
    "none_override": dict(n=25, c=3, reduction_override="none", weight="weight"),
    "activated": dict(n=30, c=4, activated=True, weight="weight", avg_factor=4.0),
    "dense_target": dict(n=30, c=5, dense=True, weight="weight", avg_factor=5.0),
    "dense_target_activated": dict(n=30, c=5, dense=True, activated=True, reduction="sum"),
    "empty": dict(n=0, c=4, avg_factor=1.0),
}
for _name, _params in _QFL_CASES.items():
    register(Case(
        component="models/losses/gfocal_loss", name=_name, params=_params, seed=51,
        make_inputs=_qfl_inputs, reference=_qfl_ref, visdet=_qfl_vis,
        description="QualityFocalLoss value and d(sum(loss * ramp))/d(pred)",
    ))  # fmt: skip


def _qfl_fn_run(fn: Any, p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    """The functional form, called as mmdet's ``weighted_loss`` wrapper is: weight, reduction, avg_factor."""
    pred = inputs["pred"].clone().requires_grad_(True)
    loss = fn(pred, (inputs["labels"], inputs["scores"]), inputs["weight"], reduction="sum")
    (loss * _ramp(loss)).sum().backward()
    return {"loss": loss.detach(), "grad.pred": pred.grad}


def _qfl_fn_ref(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.losses.gfocal_loss import quality_focal_loss

    return _qfl_fn_run(quality_focal_loss, p, inputs)


def _qfl_fn_vis(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.models.losses import quality_focal_loss

    return _qfl_fn_run(quality_focal_loss, p, inputs)


register(Case(
    component="models/losses/functions", name="quality_focal_loss_defaults", params=dict(n=30, c=4), seed=52,
    make_inputs=_qfl_inputs, reference=_qfl_fn_ref, visdet=_qfl_fn_vis,
    description="the functional quality_focal_loss with its defaults (logits, beta 2) and a weight, summed",
))  # fmt: skip


# ----------------------------------------------------------------------------- GIoU
_GIOU_ARGS = ("eps", "reduction", "loss_weight")


def _giou_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    n = p["n"]
    xy = torch.rand(n, 2, generator=gen) * 50
    wh = torch.rand(n, 2, generator=gen) * 30 + 2
    target = torch.cat([xy, xy + wh], dim=1)
    pred = target + (torch.rand(n, 4, generator=gen) - 0.5) * wh.repeat(1, 2) * 0.8
    pred = torch.cat([torch.minimum(pred[:, :2], pred[:, 2:] - 0.5), pred[:, 2:]], dim=1)
    if n > 3:
        pred[0] = target[0] + 80.0  # disjoint: GIoU < 0
        pred[1] = torch.tensor([5.0, 5.0, 5.0, 5.0])  # a point box
        target[1] = torch.tensor([5.0, 5.0, 5.0, 5.0])  # and its target: union and enclosure at eps
    weight = torch.rand(n, generator=gen)
    if p.get("zero_weight"):
        weight = weight * 0
    weight4 = torch.rand(n, 4, generator=gen)
    if p.get("zero_weight4"):
        weight4 = weight4 * 0
    return {"pred": pred, "target": target, "weight": weight, "weight4": weight4}


def _giou_boxes(p: Mapping[str, Any], inputs: Tensors) -> tuple[torch.Tensor, torch.Tensor]:
    """The boxes, in float16 when the case asks (``half``: the overlaps are computed in float32, cast back)."""
    if p.get("half"):
        return inputs["pred"].half(), inputs["target"].half()
    return inputs["pred"], inputs["target"]


def _giou_ref(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.losses import GIoULoss

    pred, target = _giou_boxes(p, inputs)
    return _run(GIoULoss(**{k: p[k] for k in _GIOU_ARGS if k in p}), p, pred, target, inputs)


def _giou_vis(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.models.losses import GIoULoss

    pred, target = _giou_boxes(p, inputs)
    return _run(GIoULoss(**{k: p[k] for k in _GIOU_ARGS if k in p}), p, pred, target, inputs)


_GIOU_CASES = {
    "giou_mean": dict(n=20),
    "giou_weight_avg_factor": dict(n=20, weight="weight", avg_factor=3.5, loss_weight=2.0),
    "giou_weight4_sum": dict(n=15, weight="weight4", reduction="sum"),
    "giou_eps_none": dict(n=12, eps=1e-2, reduction="none", weight="weight"),
    "giou_zero_weight": dict(n=10, weight="weight", zero_weight=True),
    "giou_zero_weight_none": dict(n=10, weight="weight", zero_weight=True, reduction_override="none"),
    "giou_zero_weight4_none": dict(n=10, weight="weight4", zero_weight4=True, reduction="none"),
    "giou_fp16_none": dict(n=12, half=True, reduction="none"),
    "giou_fp16_weight_mean": dict(n=12, half=True, weight="weight", loss_weight=2.0),
}
for _name, _params in _GIOU_CASES.items():
    register(Case(
        component="models/losses/iou_loss", name=_name, params=_params, seed=52,
        make_inputs=_giou_inputs, reference=_giou_ref, visdet=_giou_vis,
        description="GIoULoss value and d(sum(loss * ramp))/d(pred)",
    ))  # fmt: skip
