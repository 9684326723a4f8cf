"""Parity cases for the training recipe's engine parts: schedules, parameter groups, EMA.

* ``engine/param_scheduler``: the learning rate of two parameter groups at every
  iteration of a short run (5 epochs x 7 iterations) under RTMDet's chain (``LinearLR``
  warm-up then ``CosineAnnealingLR`` from epoch 2, ``convert_to_iter_based``) and FCOS's
  (``ConstantLR`` then ``MultiStepLR``), stepped as mmengine's ``ParamSchedulerHook``:
  iteration-based schedulers after every iteration, epoch-based ones after every epoch.
* ``engine/paramwise``: the lr and weight decay of every parameter of a small model with
  BatchNorm, GroupNorm, LayerNorm, conv/linear biases, a depth-wise conv, a frozen layer and a
  module shared twice, under RTMDet's and FCOS's ``paramwise_cfg``
  (mmengine's ``DefaultOptimWrapperConstructor``).
* ``engine/ema``: the averaged model's ``state_dict`` after N updates from a model whose
  weights and buffers move each step (float64), for ``ExpMomentumEMA`` (mmdet) and
  ``ExponentialMovingAverage`` (mmengine), with and without ``update_buffers``, interval 1 and 2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from parity.cases.base import Case, Tensors, register


def _base_lrs(params: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    """Nothing is drawn: the inputs are the config; the base lrs are stored as the golden's record of it."""
    lrs = params["lrs"] if "lrs" in params else [params["optimizer"]["lr"]]
    return {"base_lrs": torch.tensor(lrs, dtype=torch.float64)}


def _schedule_optimizer(params: Mapping[str, Any]) -> torch.optim.Optimizer:
    groups = [{"params": [nn.Parameter(torch.zeros(1))], "lr": lr} for lr in params["lrs"]]
    if params["optimizer"] == "AdamW":
        return torch.optim.AdamW(groups, lr=params["lrs"][0], weight_decay=0.05)
    return torch.optim.SGD(groups, lr=params["lrs"][0], momentum=0.9, weight_decay=1e-4)


def _curve(optimizer: torch.optim.Optimizer, params: Mapping[str, Any], step_iter: Any, step_epoch: Any) -> Tensors:
    lrs = []
    for _ in range(params["epochs"]):
        for _ in range(params["epoch_length"]):
            lrs.append([group["lr"] for group in optimizer.param_groups])  # the lr this iteration's step uses
            optimizer.step()
            step_iter()
        step_epoch()
    return {"lr": torch.tensor(lrs, dtype=torch.float64)}


def _schedule_ref(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    import copy

    import mmengine.optim  # noqa: F401 (registers the schedulers)
    from mmengine.registry import PARAM_SCHEDULERS

    optimizer = _schedule_optimizer(params)
    schedulers = []
    for cfg in copy.deepcopy(params["param_scheduler"]):
        cfg.setdefault(
            "end", params["epochs"] if cfg.get("by_epoch", True) else params["epochs"] * params["epoch_length"]
        )
        defaults = {"optimizer": optimizer, "epoch_length": params["epoch_length"]}
        schedulers.append(PARAM_SCHEDULERS.build(cfg, default_args=defaults))

    def step(by_epoch: bool) -> None:
        for scheduler in schedulers:
            if scheduler.by_epoch == by_epoch:
                scheduler.step()

    return _curve(optimizer, params, lambda: step(False), lambda: step(True))


def _schedule_vis(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.engine.components.schedulers import RunLength, build_param_schedulers

    optimizer = _schedule_optimizer(params)
    run = RunLength(epoch_length=params["epoch_length"], max_epochs=params["epochs"],
                    max_iters=params["epochs"] * params["epoch_length"])  # fmt: skip
    schedulers = build_param_schedulers(params["param_scheduler"], optimizer=optimizer, run=run)
    return _curve(optimizer, params, schedulers.after_iter, schedulers.after_epoch)


RTMDET_CHAIN = [
    {"type": "LinearLR", "start_factor": 1.0e-5, "by_epoch": False, "begin": 0, "end": 10},
    {"type": "CosineAnnealingLR", "eta_min": 0.004 * 0.05, "begin": 2, "end": 5, "T_max": 3, "by_epoch": True,
     "convert_to_iter_based": True},
]  # fmt: skip
FCOS_CHAIN = [
    {"type": "ConstantLR", "factor": 1.0 / 3, "by_epoch": False, "begin": 0, "end": 10},
    {"type": "MultiStepLR", "begin": 0, "end": 5, "by_epoch": True, "milestones": [3, 4], "gamma": 0.1},
]
for _name, _params in {
    "rtmdet_chain": {"optimizer": "AdamW", "lrs": [0.004, 0.008], "param_scheduler": RTMDET_CHAIN},
    "fcos_chain": {"optimizer": "SGD", "lrs": [0.01, 0.02], "param_scheduler": FCOS_CHAIN},
    # epoch-based cosine with the default end and T_max (the run), after an epoch-based warm-up
    "epoch_cosine_default_end": {
        "optimizer": "SGD",
        "lrs": [0.02, 0.01],
        "param_scheduler": [
            {"type": "LinearLR", "start_factor": 0.1, "by_epoch": True, "end": 2},
            {"type": "CosineAnnealingLR", "eta_min_ratio": 0.1, "by_epoch": True},
        ],
    },
}.items():
    register(Case(
        component="engine/param_scheduler", name=_name, params={**_params, "epochs": 5, "epoch_length": 7},
        make_inputs=_base_lrs, reference=_schedule_ref, visdet=_schedule_vis, dtype="float64",
        description="lr of two groups at each of 35 iterations under a param_scheduler chain",
    ))  # fmt: skip


class _Small(nn.Module):
    """BN, GN, LN, biases, a depth-wise conv, a frozen conv and a shared module (reached twice)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.dw = nn.Conv2d(8, 8, 3, groups=8)
        self.gn = nn.GroupNorm(2, 8)
        self.shared = nn.Conv2d(8, 8, 1)
        self.branches = nn.ModuleList([nn.Sequential(self.shared, nn.BatchNorm2d(8)) for _ in range(2)])
        self.frozen = nn.Conv2d(8, 8, 1).requires_grad_(False)
        self.ln = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 4)
        self.scale = nn.Parameter(torch.ones(1))


def _paramwise_ref(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmengine.optim import DefaultOptimWrapperConstructor

    model = _Small()
    constructor = DefaultOptimWrapperConstructor(
        {"type": "OptimWrapper", "optimizer": dict(params["optimizer"])}, dict(params["paramwise_cfg"])
    )
    optimizer = constructor(model).optimizer
    return _per_name(model, optimizer)


def _paramwise_vis(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.engine.components import validate_config

    model = _Small()
    config = validate_config({"optim_wrapper": {"type": "OptimWrapper", "optimizer": dict(params["optimizer"]),
                                                "paramwise_cfg": dict(params["paramwise_cfg"])}})  # fmt: skip
    return _per_name(model, config.optim_wrapper.build(model=model))


def _per_name(model: nn.Module, optimizer: torch.optim.Optimizer) -> Tensors:
    """lr and weight decay per parameter, in ``named_parameters`` order (-1: not optimised)."""
    where = {id(p): (g["lr"], g["weight_decay"]) for g in optimizer.param_groups for p in g["params"]}
    rows = [where.get(id(p), (-1.0, -1.0)) for _, p in model.named_parameters()]
    return {"lr": torch.tensor([r[0] for r in rows], dtype=torch.float64),
            "weight_decay": torch.tensor([r[1] for r in rows], dtype=torch.float64)}  # fmt: skip


for _name, _params in {
    "rtmdet": {"optimizer": {"type": "AdamW", "lr": 0.004, "weight_decay": 0.05},
               "paramwise_cfg": {"norm_decay_mult": 0, "bias_decay_mult": 0, "bypass_duplicate": True}},
    "fcos": {"optimizer": {"type": "SGD", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0001},
             "paramwise_cfg": {"bias_lr_mult": 2.0, "bias_decay_mult": 0.0, "bypass_duplicate": True}},
    "custom_keys_dwconv_flat": {"optimizer": {"type": "SGD", "lr": 0.01, "weight_decay": 0.0001},
                                "paramwise_cfg": {"custom_keys": {"fc": {"lr_mult": 0.1, "decay_mult": 2.0},
                                                                  "branches.1": {"lr_mult": 0.5}},
                                                  "dwconv_decay_mult": 0.3, "flat_decay_mult": 0.7,
                                                  "bias_lr_mult": 3.0, "bypass_duplicate": True}},
}.items():  # fmt: skip
    register(Case(
        component="engine/paramwise", name=_name, params=_params, make_inputs=_base_lrs,
        reference=_paramwise_ref, visdet=_paramwise_vis, dtype="float64",
        description="lr and weight_decay of every parameter (named_parameters order; -1 when left out)",
    ))  # fmt: skip


def _ema_inputs(params: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    shapes = {k: v.shape for k, v in _EmaModel().state_dict().items() if v.is_floating_point()}
    drawn = {f"init.{k}": torch.randn(shape, generator=gen) for k, shape in shapes.items()}
    for step in range(params["updates"]):
        drawn.update({f"delta{step}.{k}": torch.randn(shape, generator=gen) for k, shape in shapes.items()})
    return drawn


class _EmaModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.bn = nn.BatchNorm2d(3)
        self.fc = nn.Linear(3, 2)


def _ema_run(params: Mapping[str, Any], inputs: Tensors, averaged_cls: Any) -> Tensors:
    model = _EmaModel().double()
    model.load_state_dict({k[5:]: v for k, v in inputs.items() if k.startswith("init.")}, strict=False)
    kwargs = {
        "momentum": params["momentum"],
        "interval": params["interval"],
        "update_buffers": params["update_buffers"],
    }
    if "gamma" in params:
        kwargs["gamma"] = params["gamma"]
    ema = averaged_cls(model, **kwargs)
    out: Tensors = {}
    for step in range(params["updates"]):
        with torch.no_grad():
            for name, value in model.state_dict().items():
                if value.is_floating_point():
                    value.add_(inputs[f"delta{step}.{name}"] * 0.1)
            model.bn.num_batches_tracked += 1
        ema.update_parameters(model)
        if step in (0, params["updates"] - 1):
            out.update({f"step{step}.{k}": v.detach().clone() for k, v in ema.state_dict().items()})
    return out


def _ema_ref(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    if params["ema_type"] == "ExpMomentumEMA":
        from mmdet.models.layers.ema import ExpMomentumEMA as Averaged
    else:
        from mmengine.model import ExponentialMovingAverage as Averaged
    return _ema_run(params, inputs, lambda model, **kw: Averaged(model, **kw))


def _ema_vis(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.engine.ema import AVERAGED_MODELS

    return _ema_run(params, inputs, lambda model, **kw: AVERAGED_MODELS[params["ema_type"]](model, **kw))


EMA_EXACT = tuple(f"step{s}.{k}" for s in (0, 5) for k in ("steps", "module.bn.num_batches_tracked"))
for _name, _params in {
    "exp_momentum_buffers": {"ema_type": "ExpMomentumEMA", "momentum": 0.0002, "gamma": 4, "interval": 1,
                             "update_buffers": True},
    "exp_momentum_interval2": {"ema_type": "ExpMomentumEMA", "momentum": 0.05, "gamma": 3, "interval": 2,
                               "update_buffers": False},
    "exponential": {"ema_type": "ExponentialMovingAverage", "momentum": 0.1, "interval": 1, "update_buffers": False},
}.items():  # fmt: skip
    register(Case(
        component="engine/ema", name=_name, params={**_params, "updates": 6}, make_inputs=_ema_inputs,
        reference=_ema_ref, visdet=_ema_vis, dtype="float64", exact=EMA_EXACT,
        description="the averaged model's state_dict after the first and the sixth update",
    ))  # fmt: skip
