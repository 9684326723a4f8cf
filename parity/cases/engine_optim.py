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


# ---------------------------------------------------------------- the DETR recipe's optimizer
# The optim_wrapper sections of mmdet 3.3's deformable-detr_r50_16xb2-50e_coco.py and
# dino-4scale_r50_8xb2-12e_coco.py, as written there.
DEFORMABLE_DETR_OPTIM = {
    "type": "OptimWrapper",
    "optimizer": {"type": "AdamW", "lr": 0.0002, "weight_decay": 0.0001},
    "clip_grad": {"max_norm": 0.1, "norm_type": 2},
    "paramwise_cfg": {"custom_keys": {"backbone": {"lr_mult": 0.1}, "sampling_offsets": {"lr_mult": 0.1},
                                      "reference_points": {"lr_mult": 0.1}}},
}  # fmt: skip
DINO_OPTIM = {
    "type": "OptimWrapper",
    "optimizer": {"type": "AdamW", "lr": 0.0001, "weight_decay": 0.0001},
    "clip_grad": {"max_norm": 0.1, "norm_type": 2},
    "paramwise_cfg": {"custom_keys": {"backbone": {"lr_mult": 0.1}}},
}


class _Attention(nn.Module):
    """mmcv's ``MultiScaleDeformableAttention`` parameter names (2 heads, 1 level, 2 points, width 8)."""

    def __init__(self) -> None:
        super().__init__()
        self.sampling_offsets = nn.Linear(8, 2 * 1 * 2 * 2)
        self.attention_weights = nn.Linear(8, 2 * 1 * 2)
        self.value_proj = nn.Linear(8, 8)
        self.output_proj = nn.Linear(8, 8)


class _Layer(nn.Module):
    """A deformable encoder layer's names (decoder: ``self_attn`` is mmcv's ``MultiheadAttention``)."""

    def __init__(self, decoder: bool) -> None:
        super().__init__()
        if decoder:
            self.self_attn = nn.Module()
            self.self_attn.attn = nn.MultiheadAttention(8, 2, batch_first=True)
            self.cross_attn = _Attention()
        else:
            self.self_attn = _Attention()
        self.ffn = nn.Module()
        self.ffn.layers = nn.Sequential(nn.Sequential(nn.Linear(8, 16), nn.ReLU()), nn.Dropout(), nn.Linear(16, 8))
        self.norms = nn.ModuleList([nn.LayerNorm(8) for _ in range(3 if decoder else 2)])


class DetrNamed(nn.Module):
    """A small stand-in with Deformable DETR's / DINO's parameter names (mmdet 3.3).

    A ResNet-like backbone whose stem is frozen (``frozen_stages=1``, BN ``requires_grad=False``),
    the ``ChannelMapper`` neck, one encoder and one decoder layer, ``level_embed``,
    ``query_embedding``, ``reference_points_fc`` (single-stage) or ``memory_trans_fc``/``_norm``
    (two-stage and DINO), the head's ``cls_branches``/``reg_branches`` and DINO's
    ``dn_query_generator.label_embedding``.
    """

    def __init__(self, dino: bool = False) -> None:
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.conv1 = nn.Conv2d(3, 8, 3, bias=False).requires_grad_(False)
        self.backbone.bn1 = nn.BatchNorm2d(8).requires_grad_(False)
        self.backbone.layer1 = nn.Sequential(nn.Conv2d(8, 8, 1, bias=False), nn.BatchNorm2d(8))
        self.neck = nn.Module()
        self.neck.convs = nn.ModuleList([nn.Module()])
        self.neck.convs[0].conv = nn.Conv2d(8, 8, 1)
        self.neck.convs[0].gn = nn.GroupNorm(2, 8)
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList([_Layer(decoder=False)])
        self.decoder = nn.Module()
        self.decoder.layers = nn.ModuleList([_Layer(decoder=True)])
        self.level_embed = nn.Parameter(torch.zeros(2, 8))
        self.query_embedding = nn.Embedding(5, 8 if dino else 16)
        if dino:
            self.memory_trans_fc = nn.Linear(8, 8)
            self.memory_trans_norm = nn.LayerNorm(8)
            self.dn_query_generator = nn.Module()
            self.dn_query_generator.label_embedding = nn.Embedding(3, 8)
        else:
            self.reference_points_fc = nn.Linear(8, 2)
        self.bbox_head = nn.Module()
        self.bbox_head.cls_branches = nn.ModuleList([nn.Linear(8, 3) for _ in range(2)])
        self.bbox_head.reg_branches = nn.ModuleList(
            [nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4)) for _ in range(2)]
        )


def _detr_step_inputs(params: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    """Initial values and per-step targets of every parameter (float64)."""
    model = DetrNamed(dino=params["dino"])
    out = {f"init.{k}": torch.randn(p.shape, generator=gen, dtype=torch.float64) for k, p in model.named_parameters()}
    for step in range(params["steps"]):
        out.update({f"target{step}.{k}": torch.randn(p.shape, generator=gen, dtype=torch.float64)
                    for k, p in model.named_parameters()})  # fmt: skip
    return out


def _detr_model(params: Mapping[str, Any], inputs: Tensors) -> nn.Module:
    model = DetrNamed(dino=params["dino"]).double()
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.copy_(inputs[f"init.{name}"])
    return model


def _detr_loss(model: nn.Module, inputs: Tensors, step: int, scale: float) -> torch.Tensor:
    """A loss that gives every trainable parameter a gradient: ``scale * sum((p - target)^2)``."""
    terms = [((p - inputs[f"target{step}.{k}"]) ** 2).sum() for k, p in model.named_parameters() if p.requires_grad]
    return scale * torch.stack(terms).sum()


def _detr_steps(model: nn.Module, optimizer: torch.optim.Optimizer, inputs: Tensors, params: Mapping[str, Any],
                update: Any) -> Tensors:  # fmt: skip
    """``steps`` updates (``update(loss)`` returns the gradient norm before clipping); then every parameter."""
    out = _per_name(model, optimizer)
    norms = [float(update(_detr_loss(model, inputs, step, params["loss_scale"]))) for step in range(params["steps"])]
    out["grad_norm"] = torch.tensor(norms, dtype=torch.float64)
    out.update({f"param.{k}": p.detach().clone() for k, p in model.named_parameters()})
    return out


def _detr_step_ref(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    import copy

    from mmengine.logging import MessageHub
    from mmengine.optim import build_optim_wrapper

    model = _detr_model(params, inputs)
    wrapper = build_optim_wrapper(model, copy.deepcopy(dict(params["optim_wrapper"])))
    hub = MessageHub.get_current_instance()

    def update(loss: torch.Tensor) -> float:
        wrapper.update_params(loss)
        return hub.get_scalar("train/grad_norm").current()

    return _detr_steps(model, wrapper.optimizer, inputs, params, update)


def _detr_step_vis(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.engine.components import validate_config
    from visdet.engine.optim import clip_gradients

    model = _detr_model(params, inputs)
    wrapper = validate_config({"optim_wrapper": dict(params["optim_wrapper"])}).optim_wrapper
    optimizer = wrapper.build(model=model)

    def update(loss: torch.Tensor) -> float:  # the runner's step: backward, clip, step, zero_grad
        loss.backward()
        norm = clip_gradients(optimizer, wrapper.clip_grad.max_norm, wrapper.clip_grad.norm_type)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(norm)

    return _detr_steps(model, optimizer, inputs, params, update)


for _name, _params in {
    "deformable_detr": {"optim_wrapper": DEFORMABLE_DETR_OPTIM, "dino": False, "loss_scale": 1.0},
    "dino": {"optim_wrapper": DINO_OPTIM, "dino": True, "loss_scale": 1.0},
    # gradients far below max_norm: clipping must leave them alone
    "dino_below_max_norm": {"optim_wrapper": DINO_OPTIM, "dino": True, "loss_scale": 1e-5},
}.items():
    register(Case(
        component="engine/optim_step", name=_name, params={**_params, "steps": 3}, make_inputs=_detr_step_inputs,
        reference=_detr_step_ref, visdet=_detr_step_vis, dtype="float64",
        description="DETR-named stand-in: lr/weight decay per parameter, then 3 AdamW steps with clip_grad "
                    "(gradient norms and every parameter after)",
    ))  # fmt: skip
