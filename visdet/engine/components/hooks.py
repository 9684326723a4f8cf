"""Hook schemas: the entries of ``default_hooks`` and ``custom_hooks`` (mmengine's names).

A hook's ``build(by_epoch=..., progress=...)`` gives the visdet hook, or ``None`` for the
hooks whose work visdet's runner does itself (``builtin``: iteration timing, stepping the
schedule, seeding the sampler per epoch). ``default_hooks`` starts from mmdet's
``default_runtime.py`` (:data:`DEFAULT_HOOKS`), as if every config inherited it: a
config's entries merge into those of the same name, and ``null`` removes one.
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from visdet.build.component import Component
from visdet.build.components.transforms import TransformConfig
from visdet.build.registry import registry
from visdet.engine.ema import AVERAGED_MODELS
from visdet.engine.hooks import CheckpointHook, EarlyStoppingHook, EMAHook, Hook, LoggerHook, PipelineSwitchHook
from visdet.engine.progressive_resize import ProgressiveResizeHook

BUILTIN = "built into visdet's runner: nothing to configure"
# mmdet 3.3's configs/_base_/default_runtime.py
DEFAULT_HOOKS: dict[str, dict[str, Any]] = {
    "timer": {"type": "IterTimerHook"},
    "logger": {"type": "LoggerHook", "interval": 50},
    "param_scheduler": {"type": "ParamSchedulerHook"},
    "checkpoint": {"type": "CheckpointHook", "interval": 1},
    "sampler_seed": {"type": "DistSamplerSeedHook"},
    "visualization": {"type": "DetVisualizationHook"},
}


# mmengine's named priorities (a smaller number runs earlier)
PRIORITIES = {"HIGHEST": 0, "VERY_HIGH": 10, "HIGH": 30, "ABOVE_NORMAL": 40, "NORMAL": 50, "BELOW_NORMAL": 60,
              "LOW": 70, "VERY_LOW": 90, "LOWEST": 100}  # fmt: skip


class _HookFields(Component):
    """What every hook config has."""

    builtin: ClassVar[bool] = False
    priority: Literal[tuple(PRIORITIES)] | int | None = Field(  # type: ignore[valid-type]
        None,
        description="mmengine's hook order (a name or 0-100); a custom hook that sets it runs before visdet's "
        "hooks of a larger one, one that does not runs after them all",
    )

    def priority_value(self) -> int | None:
        """The priority as a number (``None`` when unset)."""
        return PRIORITIES[self.priority] if isinstance(self.priority, str) else self.priority

    @abstractmethod
    def build(self, *, by_epoch: bool = True, progress: bool = True) -> Hook | None:
        """The hook (``None`` for a built-in one); ``by_epoch`` is the training loop's."""


class _BuiltinHook(_HookFields):
    """A hook of mmengine whose work visdet's runner does itself."""

    builtin: ClassVar[bool] = True

    def build(self, *, by_epoch: bool = True, progress: bool = True) -> None:
        """Nothing: the runner does it."""
        return None


@registry("hook").register
class IterTimerHookConfig(_BuiltinHook):
    """``IterTimerHook``: iteration times (the logger records them)."""

    type: Literal["IterTimerHook"] = Field(description=BUILTIN)
    example: ClassVar[dict[str, Any]] = {"type": "IterTimerHook"}


@registry("hook").register
class ParamSchedulerHookConfig(_BuiltinHook):
    """``ParamSchedulerHook``: the runner steps the schedule after each optimizer step."""

    type: Literal["ParamSchedulerHook"] = Field(description=BUILTIN)
    example: ClassVar[dict[str, Any]] = {"type": "ParamSchedulerHook"}


@registry("hook").register
class DistSamplerSeedHookConfig(_BuiltinHook):
    """``DistSamplerSeedHook``: the training loop sets the sampler's epoch."""

    type: Literal["DistSamplerSeedHook"] = Field(description=BUILTIN)
    example: ClassVar[dict[str, Any]] = {"type": "DistSamplerSeedHook"}


@registry("hook").register
class DetVisualizationHookConfig(_BuiltinHook):
    """``DetVisualizationHook``: with ``draw: false`` (mmdet's default) it does nothing."""

    type: Literal["DetVisualizationHook"]
    draw: Literal[False] = Field(False, description="drawing predictions during validation is not implemented")
    interval: int = 50
    score_thr: float = 0.3
    show: Literal[False] = False
    wait_time: float = 0.0
    test_out_dir: None = None
    backend_args: None = None
    example: ClassVar[dict[str, Any]] = {"type": "DetVisualizationHook"}


@registry("hook").register
class LoggerHookConfig(_HookFields):
    """``LoggerHook``: a JSON-lines log every ``interval`` iterations and a progress bar."""

    type: Literal["LoggerHook"]
    interval: int = Field(10, ge=1)
    ignore_last: Literal[True] = True
    log_metric_by_epoch: Literal[True] = True
    example: ClassVar[dict[str, Any]] = {"type": "LoggerHook", "interval": 5}

    def build(self, *, by_epoch: bool = True, progress: bool = True) -> LoggerHook:
        """The logger (``progress``: the ``visdet.progress`` option)."""
        return LoggerHook(interval=self.interval, progress=progress)


@registry("hook").register
class CheckpointHookConfig(_HookFields):
    """``CheckpointHook``: ``latest.pth`` always, numbered ones every ``interval``, ``best.pth`` for ``save_best``."""

    type: Literal["CheckpointHook"]
    interval: int = Field(-1, description="epochs (iterations) between numbered checkpoints; <= 0: only the last")
    by_epoch: bool | None = Field(None, description="count epochs; default: as the training loop")
    max_keep_ckpts: int = Field(
        2, ge=-1, description="numbered checkpoints kept; -1 or 0: all (mmengine's default is -1, visdet keeps 2)"
    )
    save_best: str | None = Field(None, description="metric key whose best value is saved as best.pth")
    rule: Literal["greater", "less"] | None = Field(None, description="for save_best; default: greater")
    save_last: Literal[True] = True
    save_optimizer: Literal[True] = True
    save_param_scheduler: Literal[True] = True
    out_dir: None = Field(None, description="checkpoints go to work_dir")
    example: ClassVar[dict[str, Any]] = {"type": "CheckpointHook", "interval": 1}

    def build(self, *, by_epoch: bool = True, progress: bool = True) -> CheckpointHook:
        """The checkpoint hook."""
        return CheckpointHook(
            interval=max(self.interval, 0),
            by_epoch=by_epoch if self.by_epoch is None else self.by_epoch,
            keep_last=max(self.max_keep_ckpts, 0),
            save_best=self.save_best,
            rule=self.rule or "greater",
        )


@registry("hook").register
class EarlyStoppingHookConfig(_HookFields):
    """``EarlyStoppingHook``: stop after ``patience`` validations without improvement of ``monitor``.

    visdet's defaults (``patience: 3``, ``min_delta: 0``, ``rule: greater``) differ from
    mmengine's (5, 0.1, inferred from the key); write them out to get mmengine's.
    """

    type: Literal["EarlyStoppingHook"] = "EarlyStoppingHook"
    monitor: str
    rule: Literal["greater", "less"] = "greater"
    patience: int = Field(3, ge=1)
    min_delta: float = Field(0.0, ge=0)
    example: ClassVar[dict[str, Any]] = {"type": "EarlyStoppingHook", "monitor": "coco/bbox_mAP"}

    def build(self, *, by_epoch: bool = True, progress: bool = True) -> EarlyStoppingHook:
        """The hook."""
        return EarlyStoppingHook(**self.arguments("priority"))


@registry("hook").register
class ProgressiveResizeHookConfig(_HookFields):
    """``ProgressiveResizeHook``: train at growing image sizes, ``[[start, [w, h]], ...]``."""

    type: Literal["ProgressiveResizeHook"]
    stages: list[tuple[int, int | list[int]]] = Field(min_length=1)
    by_epoch: bool = False
    example: ClassVar[dict[str, Any]] = {"type": "ProgressiveResizeHook", "stages": [[0, 32], [4, [48, 40]]]}

    def build(self, *, by_epoch: bool = True, progress: bool = True) -> ProgressiveResizeHook:
        """The hook (``by_epoch`` is its own: stage starts count iterations by default)."""
        return ProgressiveResizeHook(stages=self.stages, by_epoch=self.by_epoch)


@registry("hook").register
class EMAHookConfig(_HookFields):
    """``EMAHook``: an exponential moving average of the weights, used for validation and saved as the weights."""

    type: Literal["EMAHook"]
    ema_type: Literal[tuple(AVERAGED_MODELS)] = "ExponentialMovingAverage"  # type: ignore[valid-type]
    momentum: float = Field(0.0002, gt=0, lt=1)
    gamma: int | None = Field(None, gt=0, description="ExpMomentumEMA only (default 2000)")
    interval: int = Field(1, ge=1)
    update_buffers: bool = False
    device: str | None = None
    strict_load: bool = False
    begin_iter: int = Field(0, ge=0)
    begin_epoch: int = Field(0, ge=0)
    example: ClassVar[dict[str, Any]] = {"type": "EMAHook", "ema_type": "ExpMomentumEMA", "update_buffers": True}

    @model_validator(mode="after")
    def _consistent(self) -> EMAHookConfig:
        if self.begin_iter and self.begin_epoch:
            raise ValueError("give begin_iter or begin_epoch, not both")
        if self.gamma is not None and self.ema_type != "ExpMomentumEMA":
            raise ValueError(f"gamma: only ExpMomentumEMA takes a gamma, not {self.ema_type}")
        return self

    def build(self, *, by_epoch: bool = True, progress: bool = True) -> EMAHook:
        """The hook."""
        options = {"momentum": self.momentum, "interval": self.interval, "update_buffers": self.update_buffers,
                   "device": self.device}  # fmt: skip
        if self.gamma is not None:
            options["gamma"] = self.gamma
        averaged = functools.partial(AVERAGED_MODELS[self.ema_type], **options)
        return EMAHook(averaged_model=averaged, strict_load=self.strict_load, begin_iter=self.begin_iter,
                       begin_epoch=self.begin_epoch)  # fmt: skip


@registry("hook").register
class PipelineSwitchHookConfig(_HookFields):
    """``PipelineSwitchHook``: train with ``switch_pipeline`` from epoch ``switch_epoch`` (0-based) on."""

    type: Literal["PipelineSwitchHook"]
    switch_epoch: int = Field(ge=0)
    switch_pipeline: list[TransformConfig]
    example: ClassVar[dict[str, Any]] = {
        "type": "PipelineSwitchHook", "switch_epoch": 1,
        "switch_pipeline": [{"type": "RandomFlip", "prob": 0.5}, {"type": "PackDetInputs"}],
    }  # fmt: skip

    def build(self, *, by_epoch: bool = True, progress: bool = True) -> PipelineSwitchHook:
        """The hook, its pipeline built."""
        return PipelineSwitchHook(switch_epoch=self.switch_epoch,
                                  switch_pipeline=[step.build() for step in self.switch_pipeline])  # fmt: skip
