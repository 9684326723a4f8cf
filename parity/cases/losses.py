"""Parity cases for the losses (cross-entropy, L1, smooth L1) and accuracy.

Inputs are drawn only from the case's generator. Loss cases return the loss and the
gradient w.r.t. the prediction of ``sum(loss * ramp)`` with a fixed ramp (so
``reduction="none"`` gradients are not trivial).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from parity.cases.base import Case, Tensors, register


def _ramp(t: torch.Tensor) -> torch.Tensor:
    return torch.linspace(0.5, 1.5, max(t.numel(), 1))[: t.numel()].view_as(t)


def _to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


# --------------------------------------------------------------------------- losses
def _loss_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    n, c = p["n"], p["c"]
    out = {"pred": torch.randn(n, c, generator=gen) * 2}
    kind = p["kind"]
    if kind in ("ce", "bce"):
        label = torch.randint(0, c + (1 if kind == "bce" else 0), (n,), generator=gen)
        if p.get("ignore_index") is not None:
            label[torch.rand(n, generator=gen) < 0.3] = p["ignore_index"]
        out["label"] = label
        out["weight"] = torch.rand(n, generator=gen)
    elif kind == "bce_same_shape":
        out["label"] = (torch.rand(n, c, generator=gen) > 0.5).long()
        out["weight"] = torch.rand(n, c, generator=gen)
        if p.get("ignore_index") is not None:  # drawn last: the cases without it keep their inputs
            out["label"][torch.rand(n, c, generator=gen) < 0.3] = p["ignore_index"]
    elif kind == "mask":
        out["pred"] = torch.randn(n, c, 6, 6, generator=gen)
        out["label"] = (torch.rand(n, 6, 6, generator=gen) > 0.5).float()
        out["weight"] = torch.randint(0, c, (n,), generator=gen)
    else:  # regression
        out["label"] = out["pred"] + torch.randn(n, c, generator=gen) * p.get("spread", 1.0)
        weight = (torch.rand(n, c, generator=gen) > 0.3).float()
        out["weight"] = weight * 0 if p.get("zero_weight") else weight
        if p.get("weight_per_row"):  # Tensor[N] against a Tensor[N, C] pred: mmdet's unsqueeze branch
            out["weight"] = out["weight"][:, 0].contiguous()
    return out


def _loss_run(loss_module: Any, p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    pred = inputs["pred"].clone().requires_grad_(True)
    kwargs: dict[str, Any] = {}
    if p.get("use_weight"):
        kwargs["weight"] = inputs["weight"]
    for key in ("avg_factor", "reduction_override"):
        if key in p:
            kwargs[key] = p[key]
    loss = loss_module(pred, inputs["label"], **kwargs)
    (loss * _ramp(loss)).sum().backward()
    grad = pred.grad if pred.grad is not None else torch.zeros_like(pred)
    return {"loss": loss.detach(), "grad.pred": grad}


_LOSS_ARGS = {
    "ce": (
        "use_sigmoid",
        "use_mask",
        "reduction",
        "class_weight",
        "ignore_index",
        "loss_weight",
        "avg_non_ignore",
    ),
    "smooth_l1": ("beta", "reduction", "loss_weight"),
    "l1": ("reduction", "loss_weight"),
}


def _build_loss(module: Any, p: Mapping[str, Any]) -> Any:
    family = {"smooth_l1": "smooth_l1", "l1": "l1"}.get(p["kind"], "ce")
    return module(**{k: p[k] for k in _LOSS_ARGS[family] if k in p})


def _loss_ref(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    import warnings

    from mmdet.models.losses import CrossEntropyLoss, L1Loss, SmoothL1Loss

    cls = {"smooth_l1": SmoothL1Loss, "l1": L1Loss}.get(p["kind"], CrossEntropyLoss)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _loss_run(_build_loss(cls, p), p, inputs)


def _loss_vis(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    import warnings

    from visdet.models.losses import CrossEntropyLoss, L1Loss, SmoothL1Loss

    cls = {"smooth_l1": SmoothL1Loss, "l1": L1Loss}.get(p["kind"], CrossEntropyLoss)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _loss_run(_build_loss(cls, p), p, inputs)


_CW = [0.5, 1.0, 2.0, 1.5, 0.8]
_LOSS_CASES = {
    "cross_entropy_loss": {
        "softmax_mean": dict(kind="ce", n=20, c=5),
        "softmax_class_weight_avg_factor": dict(
            kind="ce", n=20, c=5, class_weight=_CW, use_weight=True, avg_factor=7.5, loss_weight=2.0
        ),
        "softmax_ignore_avg_non_ignore": dict(kind="ce", n=30, c=4, ignore_index=255, avg_non_ignore=True),
        "softmax_ignore_mean_all": dict(kind="ce", n=30, c=4, ignore_index=2),
        "softmax_none": dict(kind="ce", n=12, c=3, reduction_override="none", use_weight=True),
        "sigmoid_onehot_background": dict(kind="bce", n=20, c=5, use_sigmoid=True, use_weight=True),
        "sigmoid_pos_weight_sum": dict(kind="bce", n=20, c=5, use_sigmoid=True, class_weight=_CW, reduction="sum"),
        "sigmoid_ignore_avg_non_ignore": dict(
            kind="bce", n=25, c=4, use_sigmoid=True, ignore_index=1, avg_non_ignore=True
        ),
        "sigmoid_ignore_weight": dict(kind="bce", n=25, c=4, use_sigmoid=True, ignore_index=2, use_weight=True),
        "sigmoid_same_shape_avg_factor": dict(
            kind="bce_same_shape", n=10, c=3, use_sigmoid=True, use_weight=True, avg_factor=4.0
        ),
        # labels of pred's shape with ignored entries and a weight: the weight is masked, not replaced
        "sigmoid_same_shape_ignore_weight": dict(
            kind="bce_same_shape", n=10, c=3, use_sigmoid=True, use_weight=True, ignore_index=2
        ),
        "mask": dict(kind="mask", n=6, c=3, use_mask=True, use_weight=True),
    },
    "smooth_l1_loss": {
        "mean": dict(kind="smooth_l1", n=20, c=4),
        "beta_weight_avg_factor": dict(
            kind="smooth_l1", n=20, c=4, beta=0.11, use_weight=True, avg_factor=9.0, spread=0.3
        ),
        "sum_loss_weight": dict(
            kind="smooth_l1", n=15, c=4, beta=0.5, reduction="sum", loss_weight=3.0, use_weight=True
        ),
        "none": dict(kind="smooth_l1", n=10, c=4, reduction_override="none", use_weight=True),
        "zero_weight": dict(kind="smooth_l1", n=10, c=4, use_weight=True, zero_weight=True),
        "zero_weight_per_row": dict(kind="smooth_l1", n=10, c=4, use_weight=True, zero_weight=True,
                                    weight_per_row=True),
        "empty": dict(kind="smooth_l1", n=0, c=4, beta=0.5),
    },
    "l1_loss": {
        "mean": dict(kind="l1", n=20, c=4),
        "weight_avg_factor": dict(kind="l1", n=20, c=4, use_weight=True, avg_factor=11.0, loss_weight=2.0),
        "sum": dict(kind="l1", n=8, c=4, reduction="sum", use_weight=True),
        "zero_weight": dict(kind="l1", n=10, c=4, use_weight=True, zero_weight=True),
        "zero_weight_per_row": dict(kind="l1", n=10, c=4, use_weight=True, zero_weight=True, weight_per_row=True),
        "empty": dict(kind="l1", n=0, c=4),
    },
}
for _component, _cases in _LOSS_CASES.items():
    for _name, _params in _cases.items():
        register(
            Case(
                component=f"models/losses/{_component}",
                name=_name,
                params=_params,
                seed=15,
                make_inputs=_loss_inputs,
                reference=_loss_ref,
                visdet=_loss_vis,
                description="loss value and d(sum(loss * ramp))/d(pred)",
            )
        )


# ------------------------------------------------------------------------- accuracy
def _acc_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    n, c = p["n"], p["c"]
    return {
        "pred": torch.rand(n, c, generator=gen),
        "target": torch.randint(0, c, (n,), generator=gen),
    }


def _acc_run(fn: Any, p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    topk = _to_tuple(p["topk"])
    acc = fn(inputs["pred"], inputs["target"], topk=topk, thresh=p.get("thresh"))
    accs = [acc] if isinstance(topk, int) else acc
    return {f"acc.{i}": a for i, a in enumerate(accs)}


def _acc_ref(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.losses import accuracy

    return _acc_run(accuracy, p, inputs)


def _acc_vis(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.models.losses import accuracy

    return _acc_run(accuracy, p, inputs)


_ACC_CASES = {
    "top1": dict(n=50, c=6, topk=1),
    "top1_3_thresh": dict(n=50, c=6, topk=[1, 3], thresh=0.4),
    "empty": dict(n=0, c=6, topk=[1, 2]),
}
for _name, _params in _ACC_CASES.items():
    register(
        Case(
            component="models/losses/accuracy",
            name=_name,
            params=_params,
            seed=16,
            make_inputs=_acc_inputs,
            reference=_acc_ref,
            visdet=_acc_vis,
            description="top-k accuracy in percent",
        )
    )


# --------------------------------------------------------------- the loss functions
def _fn_run(fn: Any, p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    pred = inputs["pred"].clone().requires_grad_(True)
    kwargs = {k: p[k] for k in ("reduction", "avg_factor", "beta") if k in p}
    weight = inputs["weight"] if p.get("use_weight") else None
    loss = fn(pred, inputs["label"], weight, **kwargs)
    (loss * _ramp(loss)).sum().backward()
    return {"loss": loss.detach(), "grad.pred": pred.grad}


def _fn_ref(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.losses import l1_loss, smooth_l1_loss

    return _fn_run({"smooth_l1": smooth_l1_loss, "l1": l1_loss}[p["kind"]], p, inputs)


def _fn_vis(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.models.losses.smooth_l1_loss import l1_loss, smooth_l1_loss

    return _fn_run({"smooth_l1": smooth_l1_loss, "l1": l1_loss}[p["kind"]], p, inputs)


_FN_CASES = {
    "smooth_l1_default_beta": dict(kind="smooth_l1", n=12, c=4, spread=0.8),
    "smooth_l1_weight_sum_beta": dict(kind="smooth_l1", n=12, c=4, use_weight=True, reduction="sum", beta=0.3),
    "smooth_l1_avg_factor": dict(kind="smooth_l1", n=12, c=4, use_weight=True, avg_factor=5.0, spread=0.4),
    "l1_mean": dict(kind="l1", n=12, c=4),
    "l1_weight_none": dict(kind="l1", n=9, c=4, use_weight=True, reduction="none"),
}
for _name, _params in _FN_CASES.items():
    register(
        Case(
            component="models/losses/functions",
            name=_name,
            params=_params,
            seed=17,
            make_inputs=_loss_inputs,
            reference=_fn_ref,
            visdet=_fn_vis,
            description="the functional smooth_l1_loss / l1_loss (mmdet's weighted_loss wrapper) and their grads",
        )
    )


def _acc_module_kwargs(p: Mapping[str, Any]) -> dict[str, Any]:
    """Only the keywords a case sets: the others take each module's defaults."""
    return {k: _to_tuple(p[k]) for k in ("topk", "thresh") if k in p}


def _acc_module_ref(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.losses import Accuracy

    module = Accuracy(**_acc_module_kwargs(p))
    acc = module(inputs["pred"], inputs["target"])
    return {f"acc.{i}": a for i, a in enumerate(acc if isinstance(acc, (list, tuple)) else [acc])}


def _acc_module_vis(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.models.losses import Accuracy

    module = Accuracy(**_acc_module_kwargs(p))
    acc = module(inputs["pred"], inputs["target"])
    return {f"acc.{i}": a for i, a in enumerate(acc if isinstance(acc, (list, tuple)) else [acc])}


_ACC_MODULE_CASES = {"module_defaults": dict(n=40, c=5), "module_top2_thresh": dict(n=40, c=5, topk=[1, 2], thresh=0.3)}
for _name, _params in _ACC_MODULE_CASES.items():
    register(
        Case(
            component="models/losses/accuracy",
            name=_name,
            params=_params,
            seed=18,
            make_inputs=_acc_inputs,
            reference=_acc_module_ref,
            visdet=_acc_module_vis,
            description="the Accuracy module (its default topk and thresh)",
        )
    )
