"""Build a :class:`Runner` from a whole config in mmdet 3.x's shape, through its schemas.

The config is validated first (:func:`visdet.engine.components.validate_config`), so a
mistake is reported with its path before anything is built; then every section is read
from its typed schema. Sections read (mmengine's names): ``model``,
``train_dataloader`` / ``val_dataloader`` (dataset, sampler, batch sampler),
``val_evaluator``, ``optim_wrapper`` (optimizer, ``clip_grad``, ``accumulative_counts``,
``paramwise_cfg``; ``AmpOptimWrapper`` means fp16, or bf16 with ``dtype: bfloat16``),
``param_scheduler`` (see :mod:`visdet.engine.components.schedulers`), ``auto_scale_lr``,
``train_cfg`` (``EpochBasedTrainLoop`` / ``IterBasedTrainLoop``), ``default_hooks`` and
``custom_hooks``, ``randomness`` (``seed``, ``deterministic``), ``work_dir``,
``resume``, ``load_from``, ``finetune`` (see
:mod:`visdet.engine.finetune`), and visdet's own ``visdet`` section (see
:class:`~visdet.engine.components.runtime.VisdetSettings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from visdet.config.errors import ConfigError
from visdet.engine.components import VisdetConfig, validate_config
from visdet.engine.components.loops import EvalLoopConfig, TrainLoopPlan
from visdet.engine.components.schedulers import RunLength, build_param_schedulers
from visdet.engine.dist import get_world_size
from visdet.engine.hooks import EvalHook, Hook
from visdet.engine.progressive_resize import ProgressiveResizeHook
from visdet.engine.runner import Runner

DEFAULT_WORK_DIR = "work_dirs/visdet"
REQUIRED = ("model", "train_dataloader", "train_cfg", "optim_wrapper")


# mmengine's priorities of the hooks visdet builds itself (validation runs where mmengine's loop runs it,
# between the training hooks and the checkpoint's; early stopping after everything else)
BUILTIN_PRIORITY = {"logger": 60, "external": 60, "progressive_resize": 50, "eval": 85, "checkpoint": 90,
                    "early_stopping": 100}  # fmt: skip


def _hooks(config: VisdetConfig, *, by_epoch: bool, validation: bool, plan: TrainLoopPlan) -> list[Hook]:
    """The hooks in the order they run.

    ``default_hooks`` (logger first), the ``visdet`` section's loggers and progressive
    resizing, validation, the checkpoint hook (after validation, so ``save_best`` sees
    the metrics), early stopping, then ``custom_hooks``. A custom hook with a
    ``priority`` runs before the first of those whose mmengine priority is larger
    (RTMDet's ``EMAHook`` at 49: before the logger, validation and checkpoints), as
    mmengine orders hooks; one without runs last, in list order.
    """
    progress = config.visdet.progress
    built = {name: hook.build(by_epoch=by_epoch, progress=progress) for name, hook in config.default_hooks.items()
             if hook is not None}  # fmt: skip
    logger, checkpoint = built.pop("logger", None), built.pop("checkpoint", None)
    placed: list[tuple[int, Hook | None]] = [(BUILTIN_PRIORITY["logger"], logger)]
    placed += [(BUILTIN_PRIORITY["external"], hook)
               for hook in config.visdet.logger_hooks(interval=getattr(logger, "interval", 50))]  # fmt: skip
    if config.visdet.progressive_resize:
        placed.append((BUILTIN_PRIORITY["progressive_resize"],
                       ProgressiveResizeHook(stages=config.visdet.progressive_resize)))  # fmt: skip
    placed += [(BUILTIN_PRIORITY["logger"], hook) for hook in built.values()]
    if validation:
        placed.append((BUILTIN_PRIORITY["eval"],
                       EvalHook(interval=plan.val_interval, by_epoch=by_epoch, begin=plan.val_begin,
                                dynamic_intervals=plan.dynamic_intervals)))  # fmt: skip
    placed.append((BUILTIN_PRIORITY["checkpoint"], checkpoint))
    if config.visdet.early_stopping is not None:
        placed.append((BUILTIN_PRIORITY["early_stopping"], config.visdet.early_stopping.build()))
    placed = [(priority, hook) for priority, hook in placed if hook is not None]
    last: list[Hook] = []
    for custom in config.custom_hooks:
        hook, priority = custom.build(by_epoch=by_epoch, progress=progress), custom.priority_value()
        if priority is None:
            last.append(hook)
            continue
        position = next((i for i, (p, _) in enumerate(placed) if p > priority), len(placed))
        placed.insert(position, (priority, hook))
    if config.finetune is not None:
        last += config.finetune.hooks()
    return [hook for _, hook in placed] + [hook for hook in last if hook is not None]


def build_runner(cfg: Mapping[str, Any] | VisdetConfig, *, model: Any = None, source: str = "") -> Runner:
    """A :class:`Runner` for the whole config ``cfg`` (see the module docstring).

    Args:
        cfg: The resolved config dict (or its validated schema).
        model: A built model to use instead of building ``cfg["model"]``.
        source: The file the config came from, named in error messages.

    Raises:
        ConfigError: The config is invalid (before anything is built), naming the path.
    """
    config = cfg if isinstance(cfg, VisdetConfig) else validate_config(cfg, source=source)
    given = {"model"} if model is not None else set()
    missing = [name for name in REQUIRED if getattr(config, name) is None and name not in given]
    if missing:
        raise ConfigError(f"{source or 'the config'}: training needs the section(s) {', '.join(missing)}")
    seed = config.randomness.seed
    if seed is not None:
        from visdet.engine.seeding import seed_everything

        seed_everything(seed, deterministic=config.randomness.deterministic)
    if model is None:
        model = config.model.build()
    if config.load_from and config.finetune is not None:  # the class-dependent layers may change shape
        from visdet.engine.finetune import load_pretrained

        load_pretrained(model, config.load_from, reinit=config.finetune.trainable)
    elif config.load_from:
        from visdet.checkpoint import load_checkpoint

        load_checkpoint(model, config.load_from, map_location="cpu")
    if config.finetune is not None:
        config.finetune.apply(model)
    train_loader = config.train_dataloader.build(seed=seed)
    loop = config.train_cfg.build()
    total = loop.length * len(train_loader) if loop.by_epoch else loop.length
    wrapper = config.optim_wrapper
    accumulate = wrapper.accumulative_counts
    optimizer = wrapper.build(model=model, layer_decay=config.visdet.layer_decay)
    if config.auto_scale_lr is not None and config.auto_scale_lr.enable:  # mmengine's linear scaling rule
        ratio = config.train_dataloader.batch_size * get_world_size() / config.auto_scale_lr.base_batch_size
        for group in optimizer.param_groups:
            group["lr"] *= ratio
        optimizer.defaults["lr"] *= ratio
    run = RunLength(epoch_length=len(train_loader), max_epochs=loop.length if loop.by_epoch else 1, max_iters=total,
                    accumulate=accumulate)  # fmt: skip
    scheduler = build_param_schedulers(config.param_scheduler or [], optimizer=optimizer, run=run)
    val_loop = None
    if config.val_dataloader is not None and config.val_evaluator is not None:
        val_cfg = config.val_cfg or EvalLoopConfig(type="ValLoop")
        val_loader = config.val_dataloader.build(seed=seed)
        val_loop = val_cfg.build(loader=val_loader, metric=config.val_evaluator.build())
    hooks = _hooks(config, by_epoch=loop.by_epoch, validation=val_loop is not None, plan=loop)
    return Runner(
        model=model,
        train_loader=train_loader,
        optimizer=optimizer,
        scheduler=scheduler,
        work_dir=config.work_dir or DEFAULT_WORK_DIR,
        max_epochs=loop.max_epochs,
        max_iters=loop.max_iters,
        val_loop=val_loop,
        hooks=hooks,
        device=config.visdet.device,
        precision=config.visdet.precision or wrapper.precision(),
        grad_clip=wrapper.clip_grad.max_norm if wrapper.clip_grad is not None else None,
        accumulate_steps=accumulate,
        seed=None,  # seeded above, before the model and loaders were built
        resume=config.resume,
        grad_checkpointing=config.visdet.grad_checkpointing,
        find_unused_parameters=config.visdet.find_unused_parameters,
    )
