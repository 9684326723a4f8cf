"""Parity cases for ``DiceLoss`` (RTMDet-Ins's mask loss) over its branches.

Inputs from the case's generator: mask logits ``[N, H, W]`` (spread 3) or their sigmoid
(``activate=False``), 0/1 targets (one mask empty, so the eps terms matter), per-mask
weights ``[N]``. Branches: V-Net and naive denominators, ``activate`` on/off, weight,
``avg_factor``, the three reductions and ``reduction_override``, eps, an empty batch.
Recorded: the loss and the gradient of ``sum(loss * ramp)`` w.r.t. the prediction
(float32: a few sums per mask).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from parity.cases.base import Case, Tensors, register
from parity.cases.losses_gfocal import _run

_ARGS = ("use_sigmoid", "activate", "reduction", "naive_dice", "loss_weight", "eps")


def _inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    n, h, w = p["n"], p["h"], p["w"]
    pred = torch.randn(n, h, w, generator=gen) * 3.0
    if p.get("activate") is False:
        pred = pred.sigmoid()
    target = (torch.rand(n, h, w, generator=gen) > 0.6).float()
    if n > 1:
        target[1] = 0.0  # an empty gt mask: only eps keeps the ratio finite
    return {"pred": pred, "target": target, "weight": torch.rand(n, generator=gen)}


def _ref(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.losses import DiceLoss

    return _run(DiceLoss(**{k: p[k] for k in _ARGS if k in p}), p, inputs["pred"], inputs["target"], inputs)


def _vis(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.models.losses import DiceLoss

    return _run(DiceLoss(**{k: p[k] for k in _ARGS if k in p}), p, inputs["pred"], inputs["target"], inputs)


_CASES = {
    "dice_mean": dict(n=6, h=9, w=7),
    "dice_naive_weight_avg_factor": dict(
        n=6, h=9, w=7, naive_dice=True, weight="weight", avg_factor=3.5, loss_weight=2.0, eps=5e-6
    ),  # fmt: skip
    "dice_rtmdet_ins": dict(n=5, h=8, w=8, loss_weight=2.0, eps=5e-6, avg_factor=5.0),
    "dice_not_activated_sum": dict(n=6, h=5, w=11, activate=False, reduction="sum", weight="weight"),
    "dice_naive_not_activated_none": dict(n=4, h=6, w=6, activate=False, naive_dice=True, reduction="none"),
    "dice_override_none_weight": dict(n=5, h=7, w=7, reduction_override="none", weight="weight", eps=1e-2),
    "dice_empty": dict(n=0, h=4, w=4, avg_factor=1.0),
}
for _name, _params in _CASES.items():
    register(Case(
        component="models/losses/dice_loss", name=_name, params=_params, seed=53,
        make_inputs=_inputs, reference=_ref, visdet=_vis,
        description="DiceLoss value and d(sum(loss * ramp))/d(pred)",
    ))  # fmt: skip
