"""Parity cases for ``FocalLoss`` (mmdet's CPU path, ``py_sigmoid_focal_loss``, and ``activated``).

Inputs are drawn only from the case's generator: logits ``[N, C]`` (spread 3, so both
confident and unsure predictions occur), targets as class indices in ``[0, C]`` (C is
background) or one-hot, and weights per sample, per element or per element flattened.
Recorded: the loss and the gradient w.r.t. ``pred`` of ``sum(loss * ramp)`` with a fixed
ramp (so ``reduction="none"`` gradients are not trivial). float32: a few correctly
rounded operations per element.

mmdet runs mmcv's CUDA kernel for index targets on a GPU; that path has no CPU kernel to
write a golden from. visdet's CPU imitation of the kernel's forward and backward formulas
(``sigmoid_focal_loss_kernel``) is compared with the reference's CPU formula instead (the
``kernel_formulas_*`` cases: the same loss and gradient up to float32 rounding).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from parity.cases.base import Case, Tensors, register

COMPONENT = "models/losses/focal_loss"
_ARGS = ("gamma", "alpha", "reduction", "loss_weight", "activated")


def _ramp(t: torch.Tensor) -> torch.Tensor:
    return torch.linspace(0.5, 1.5, max(t.numel(), 1))[: t.numel()].view_as(t)


def _inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    n, c = p["n"], p["c"]
    pred = torch.randn(n, c, generator=gen) * p.get("spread", 3.0)
    if p.get("activated"):
        pred = pred.sigmoid()
    label = torch.randint(0, c + 1, (n,), generator=gen)  # c: background
    out = {"pred": pred, "label": label}
    if p.get("one_hot"):
        out["label"] = torch.nn.functional.one_hot(label, c + 1)[:, :c].contiguous()
    weight_kind = p.get("weight")
    if weight_kind == "per_sample":
        out["weight"] = torch.rand(n, generator=gen)
    elif weight_kind == "per_element":
        out["weight"] = torch.rand(n, c, generator=gen)
    elif weight_kind == "flat":
        out["weight"] = torch.rand(n * c, generator=gen)
    return out


def _run(loss_module: Any, p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    pred = inputs["pred"].clone().requires_grad_(True)
    kwargs: dict[str, Any] = {}
    if "weight" in inputs:
        kwargs["weight"] = inputs["weight"]
    for key in ("avg_factor", "reduction_override"):
        if key in p:
            kwargs[key] = p[key]
    loss = loss_module(pred, inputs["label"], **kwargs)
    (loss * _ramp(loss)).sum().backward()
    return {"loss": loss.detach(), "grad.pred": pred.grad.detach()}


def _reference(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.losses import FocalLoss

    return _run(FocalLoss(**{k: p[k] for k in _ARGS if k in p}), p, inputs)


def _visdet(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.models.losses import FocalLoss

    if p.get("kernel"):
        return _run(_KernelLoss(p), p, inputs)
    return _run(FocalLoss(**{k: p[k] for k in _ARGS if k in p}), p, inputs)


class _KernelLoss:
    """visdet's imitation of mmcv's CUDA kernel, called as mmdet's ``FocalLoss`` calls the kernel."""

    def __init__(self, p: Mapping[str, Any]) -> None:
        self.p = p

    def __call__(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                 avg_factor: float | None = None) -> torch.Tensor:
        from visdet.models.losses.focal_loss import sigmoid_focal_loss_kernel

        p = self.p
        return p.get("loss_weight", 1.0) * sigmoid_focal_loss_kernel(
            pred, target, weight, gamma=p.get("gamma", 2.0), alpha=p.get("alpha", 0.25),
            reduction=p.get("reduction", "mean"), avg_factor=avg_factor)


_CASES = {
    "index_target_mean": dict(n=40, c=5),
    "index_target_weight_avg_factor": dict(n=40, c=5, weight="per_sample", avg_factor=6.0),
    "alpha_gamma_loss_weight_sum": dict(
        n=30, c=4, gamma=1.5, alpha=0.4, loss_weight=2.5, reduction="sum", weight="per_sample"
    ),
    "none_per_element_weight": dict(n=20, c=3, reduction_override="none", weight="per_element"),
    "flat_weight": dict(n=24, c=4, weight="flat", avg_factor=3.0),
    "one_hot_target": dict(n=30, c=5, one_hot=True, weight="per_element", gamma=0.0),
    "activated_probabilities": dict(n=30, c=4, activated=True, weight="per_sample", avg_factor=5.0),
    "empty": dict(n=0, c=4, avg_factor=1.0),
    "activated_one_hot": dict(n=24, c=4, activated=True, one_hot=True, weight="per_element", gamma=1.0),
    # visdet's CPU imitation of mmcv's CUDA kernel (what mmdet runs on a GPU) against the reference's CPU
    # formula: logits of spread 1, where the kernel's 1 - p loses no more than float32 rounding
    "kernel_formulas_mean": dict(n=40, c=5, kernel=True, spread=1.0),
    "kernel_formulas_weight_sum": dict(n=30, c=4, kernel=True, spread=1.0, gamma=1.5, alpha=0.4,
                                       loss_weight=2.5, reduction="sum", weight="per_sample"),
    "kernel_formulas_none_avg_factor": dict(n=20, c=3, kernel=True, spread=1.0, reduction="none",
                                            weight="per_element", avg_factor=4.0),
}
for _name, _params in _CASES.items():
    register(
        Case(
            component=COMPONENT,
            name=_name,
            params=_params,
            seed=31,
            make_inputs=_inputs,
            reference=_reference,
            visdet=_visdet,
            description="FocalLoss value and d(sum(loss * ramp))/d(pred)",
        )
    )
