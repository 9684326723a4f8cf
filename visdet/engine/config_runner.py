"""Build a :class:`Runner` from a whole config in mmdet 3.x's shape.

Sections read (mmengine's names): ``model`` (``visdet.build_detector``),
``train_dataloader`` / ``val_dataloader`` (``CocoDataset`` + ``build_dataloader``),
``val_evaluator`` (``CocoMetric``), ``optim_wrapper`` (optimizer, ``clip_grad``,
``accumulative_counts``, ``paramwise_cfg``; ``AmpOptimWrapper`` means fp16, or bf16 with
``dtype: bfloat16``), ``param_scheduler`` (see :func:`scheduler_settings`),
``train_cfg`` (``EpochBasedTrainLoop`` / ``IterBasedTrainLoop``), ``default_hooks``
(``checkpoint.interval``, ``logger.interval``), ``randomness`` (``seed``,
``deterministic``), ``work_dir``, ``resume``, ``load_from``.

visdet's own options live in a ``visdet`` section: ``device``, ``precision``,
``layer_decay`` (discriminative LRs), ``grad_checkpointing``, ``progressive_resize``
(``[[start_iter, [w, h]], ...]``), ``early_stopping`` (``monitor``, ``patience``,
``rule``), ``progress`` (progress bar), ``find_unused_parameters`` (DDP),
``loggers`` (``["tensorboard", "mlflow"]``, which need the extras of those names).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from visdet.engine.hooks import (
    CheckpointHook,
    EarlyStoppingHook,
    EvalHook,
    Hook,
    LoggerHook,
    MLflowHook,
    TensorBoardHook,
)
from visdet.engine.optim import build_optimizer, build_scheduler, layerwise_lr_mults
from visdet.engine.progressive_resize import ProgressiveResizeHook
from visdet.engine.runner import Runner
from visdet.engine.val_loop import ValLoop

WARMUP = "LinearLR"
EXTERNAL_LOGGERS = {"tensorboard": TensorBoardHook, "mlflow": MLflowHook}
MAIN_SCHEDULES = {"MultiStepLR": "multistep", "CosineAnnealingLR": "cosine", "OneCycleLR": "1cycle", "StepLR": "step"}


def build_dataset(cfg: Mapping[str, Any], where: str) -> Any:
    """A ``CocoDataset`` from a ``dataset`` config dict."""
    from visdet.data import CocoDataset

    kwargs = dict(cfg)
    kind = kwargs.pop("type", "CocoDataset")
    if kind != "CocoDataset":
        raise ValueError(f"{where}.type: only CocoDataset is supported, got {kind!r}")
    return CocoDataset(**kwargs)


def build_loader(cfg: Mapping[str, Any], *, seed: int | None, where: str) -> Any:
    """A loader from a ``*_dataloader`` config dict."""
    from visdet.data import build_dataloader

    sampler = dict(cfg.get("sampler") or {"type": "DefaultSampler", "shuffle": True})
    batch_sampler = cfg.get("batch_sampler") or {}
    return build_dataloader(
        build_dataset(cfg["dataset"], f"{where}.dataset"),
        batch_size=int(cfg.get("batch_size", 1)),
        num_workers=int(cfg.get("num_workers", 0)),
        sampler=sampler.get("type", "DefaultSampler"),
        shuffle=bool(sampler.get("shuffle", True)),
        seed=seed,
        aspect_ratio_batches=batch_sampler.get("type") == "AspectRatioBatchSampler",
        drop_last=bool(cfg.get("drop_last", False)),
        persistent_workers=bool(cfg.get("persistent_workers", False)),
        pin_memory=bool(cfg.get("pin_memory", False)),
    )


def scheduler_settings(schedulers: list[Mapping[str, Any]], *, epoch_len: int, total: int, accumulate: int) -> dict:
    """``build_scheduler`` keywords for mmengine's ``param_scheduler`` list.

    Supported: an optional ``LinearLR`` warmup starting at 0, plus at most one of
    ``MultiStepLR``, ``StepLR``, ``CosineAnnealingLR``, ``OneCycleLR``. Epoch positions
    (``by_epoch=True``) become batch positions (``* epoch_len``); batch positions become
    optimizer steps (``// accumulate``).
    """

    def steps(value: int, by_epoch: bool) -> int:
        return (value * epoch_len if by_epoch else value) // accumulate

    settings: dict[str, Any] = {"name": "constant", "total_steps": max(total // accumulate, 1)}
    for i, sched in enumerate(schedulers):
        kind, by_epoch = sched.get("type"), bool(sched.get("by_epoch", True))
        if sched.get("begin", 0) != 0:
            raise ValueError(f"param_scheduler[{i}]: only schedulers that begin at 0 are supported")
        if kind == WARMUP:
            settings["warmup_steps"] = min(steps(int(sched.get("end", 0)), by_epoch), settings["total_steps"])
            settings["warmup_ratio"] = float(sched.get("start_factor", 1.0 / 3))
            continue
        if kind not in MAIN_SCHEDULES:
            raise ValueError(
                f"param_scheduler[{i}].type {kind!r} is not supported (use {WARMUP}, {sorted(MAIN_SCHEDULES)})"
            )
        if settings["name"] != "constant":
            raise ValueError(f"param_scheduler[{i}]: only one main schedule is supported, got a second ({kind})")
        settings["name"] = MAIN_SCHEDULES[kind]
        if kind == "MultiStepLR":
            settings["milestones"] = [steps(int(m), by_epoch) for m in sched["milestones"]]
            settings["gamma"] = float(sched.get("gamma", 0.1))
        elif kind == "StepLR":
            settings["step_size"] = max(steps(int(sched["step_size"]), by_epoch), 1)
            settings["gamma"] = float(sched.get("gamma", 0.1))
        elif kind == "CosineAnnealingLR":
            settings["min_lr_ratio"] = float(sched.get("eta_min_ratio") or 0.0)
            settings["eta_min"] = sched.get("eta_min")
        else:
            if sched.get("anneal_strategy", "cos") != "cos" or sched.get("three_phase", False):
                raise ValueError(f"param_scheduler[{i}]: OneCycleLR supports anneal_strategy='cos', three_phase=False")
            settings.update(
                eta_max=sched.get("eta_max"),
                pct_start=float(sched.get("pct_start", 0.3)),
                div_factor=float(sched.get("div_factor", 25.0)),
                final_div_factor=float(sched.get("final_div_factor", 1e4)),
            )
    return settings


def _optimizer(model: Any, wrapper: Mapping[str, Any], layer_decay: float | None) -> Any:
    opt_cfg = dict(wrapper.get("optimizer") or {})
    name = str(opt_cfg.pop("type", "SGD"))
    paramwise = dict(wrapper.get("paramwise_cfg") or {})
    unknown = set(paramwise) - {"norm_decay_mult", "bias_decay_mult", "custom_keys"}
    if unknown:
        raise KeyError(f"optim_wrapper.paramwise_cfg: unsupported keys {sorted(unknown)}")
    kwargs: dict[str, Any] = {"name": name, "lr": float(opt_cfg.pop("lr"))}
    for key in ("weight_decay", "momentum"):
        if key in opt_cfg:
            kwargs[key] = float(opt_cfg.pop(key))
    if "betas" in opt_cfg:
        kwargs["betas"] = tuple(opt_cfg.pop("betas"))
    opt_cfg.pop("eps", None)
    if opt_cfg:
        raise KeyError(f"optim_wrapper.optimizer: unsupported keys {sorted(opt_cfg)}")
    lr_mults = layerwise_lr_mults(model, decay=layer_decay) if layer_decay else None
    return build_optimizer(model, lr_mults=lr_mults, **kwargs, **paramwise)


def _precision(wrapper: Mapping[str, Any], visdet: Mapping[str, Any]) -> str:
    if "precision" in visdet:
        return str(visdet["precision"])
    if wrapper.get("type") == "AmpOptimWrapper":
        return "bf16" if str(wrapper.get("dtype", "float16")) in ("bfloat16", "bf16") else "fp16"
    return "fp32"


def build_runner(cfg: Mapping[str, Any], *, model: Any = None) -> Runner:
    """A :class:`Runner` for the whole config ``cfg`` (see the module docstring).

    Args:
        cfg: The resolved config dict.
        model: A built model to use instead of building ``cfg["model"]``.
    """
    from visdet.apis import build_detector
    from visdet.evaluation import CocoMetric

    visdet = dict(cfg.get("visdet") or {})
    randomness = dict(cfg.get("randomness") or {})
    seed = randomness.get("seed")
    if seed is not None:
        from visdet.engine.seeding import seed_everything

        seed_everything(int(seed), deterministic=bool(randomness.get("deterministic", False)))
    if model is None:
        model = build_detector(cfg)
    if cfg.get("load_from"):
        from visdet.checkpoint import load_checkpoint

        load_checkpoint(model, cfg["load_from"], map_location="cpu")
    if "train_dataloader" not in cfg:
        raise KeyError("the config has no train_dataloader section")
    train_loader = build_loader(cfg["train_dataloader"], seed=seed, where="train_dataloader")
    loop_cfg = dict(cfg.get("train_cfg") or {"type": "EpochBasedTrainLoop", "max_epochs": 12})
    by_epoch = loop_cfg.get("type", "EpochBasedTrainLoop") == "EpochBasedTrainLoop"
    max_epochs = int(loop_cfg["max_epochs"]) if by_epoch else None
    max_iters = None if by_epoch else int(loop_cfg["max_iters"])
    total = max_epochs * len(train_loader) if max_epochs is not None else max_iters
    wrapper = dict(cfg.get("optim_wrapper") or {})
    accumulate = int(wrapper.get("accumulative_counts", 1))
    optimizer = _optimizer(model, wrapper, visdet.get("layer_decay"))
    settings = scheduler_settings(
        list(cfg.get("param_scheduler") or []), epoch_len=len(train_loader), total=total, accumulate=accumulate
    )
    eta_min, eta_max = settings.pop("eta_min", None), settings.pop("eta_max", None)
    base_lr = optimizer.defaults["lr"]
    if eta_min is not None:
        settings["min_lr_ratio"] = float(eta_min) / base_lr
    if eta_max is not None:  # mmengine's OneCycleLR peaks at eta_max
        for group in optimizer.param_groups:
            group["lr"] = float(eta_max) * group.get("lr_mult", 1.0)
    scheduler = build_scheduler(optimizer, **settings)
    hooks_cfg = dict(cfg.get("default_hooks") or {})
    log_interval = int((hooks_cfg.get("logger") or {}).get("interval", 50))
    ckpt_interval = int((hooks_cfg.get("checkpoint") or {}).get("interval", 1))
    val_interval = int(loop_cfg.get("val_interval", 1))
    hooks: list[Hook] = [LoggerHook(interval=log_interval, progress=bool(visdet.get("progress", True)))]
    for name in visdet.get("loggers") or []:
        if name not in EXTERNAL_LOGGERS:
            raise ValueError(f"visdet.loggers: unknown logger {name!r} (known: {sorted(EXTERNAL_LOGGERS)})")
        hooks.append(EXTERNAL_LOGGERS[name](interval=log_interval))
    if visdet.get("progressive_resize"):
        hooks.append(ProgressiveResizeHook(stages=[tuple(stage) for stage in visdet["progressive_resize"]]))
    val_loop = None
    if cfg.get("val_dataloader") and cfg.get("val_evaluator"):
        metric_cfg = {k: v for k, v in dict(cfg["val_evaluator"]).items() if k not in ("type", "backend_args")}
        val_loader = build_loader(cfg["val_dataloader"], seed=seed, where="val_dataloader")
        val_loop = ValLoop(loader=val_loader, metric=CocoMetric(**metric_cfg))
        hooks.append(EvalHook(interval=val_interval, by_epoch=by_epoch))
    hooks.append(CheckpointHook(interval=ckpt_interval, by_epoch=by_epoch))
    if visdet.get("early_stopping"):
        hooks.append(EarlyStoppingHook(**dict(visdet["early_stopping"])))
    return Runner(
        model=model,
        train_loader=train_loader,
        optimizer=optimizer,
        scheduler=scheduler,
        work_dir=cfg.get("work_dir") or "work_dirs/visdet",
        max_epochs=max_epochs,
        max_iters=max_iters,
        val_loop=val_loop,
        hooks=hooks,
        device=visdet.get("device", "cpu"),
        precision=_precision(wrapper, visdet),
        grad_clip=(wrapper.get("clip_grad") or {}).get("max_norm"),
        accumulate_steps=accumulate,
        seed=None,  # seeded above, before the model and loaders were built
        resume=cfg.get("resume", False),
        grad_checkpointing=bool(visdet.get("grad_checkpointing", False)),
        find_unused_parameters=bool(visdet.get("find_unused_parameters", False)),
    )
