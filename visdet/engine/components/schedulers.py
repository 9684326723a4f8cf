"""Learning-rate schedule schemas (mmengine's ``param_scheduler`` entries) and how they combine.

visdet steps one schedule per optimizer step: an optional ``LinearLR`` warm-up times at
most one main schedule (``MultiStepLR``, ``StepLR``, ``CosineAnnealingLR``,
``OneCycleLR``), both starting at step 0 (``begin: 0``). Epoch positions
(``by_epoch: true``) become batch positions (``* epoch_len``), batch positions optimizer
steps (``// accumulative_counts``). Each schema's ``build`` gives its part of the
keywords of :func:`visdet.engine.optim.build_scheduler`; :func:`scheduler_settings`
puts them together.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from visdet.build.api import validate_component
from visdet.build.component import Component
from visdet.build.registry import registry
from visdet.config.errors import ConfigError

Steps = Callable[[int, bool], int]
FOREVER = 10**9  # mmengine's default ``end``: the whole run


class _SchedulerFields(Component):
    """Fields every learning-rate schedule has (mmengine's names)."""

    role: ClassVar[Literal["warmup", "main"]] = "main"
    begin: Literal[0] = Field(0, description="visdet runs every schedule from the start of training")
    end: int = Field(FOREVER, gt=0)
    by_epoch: bool = True
    convert_to_iter_based: bool = Field(False, description="visdet always steps per optimizer step")
    last_step: Literal[-1] = Field(-1, description="resuming restores the schedule from the checkpoint")
    verbose: bool = False

    @abstractmethod
    def build(self, *, steps: Steps, total: int) -> dict[str, Any]:
        """This schedule's keywords of ``build_scheduler`` (``steps(position, by_epoch)``: to optimizer steps)."""


@registry("scheduler").register
class LinearLRConfig(_SchedulerFields):
    """``LinearLR``: linear warm-up from ``start_factor`` times the lr to the lr, over ``end``."""

    type: Literal["LinearLR"]
    role: ClassVar[Literal["warmup", "main"]] = "warmup"
    start_factor: float = Field(1.0 / 3, gt=0, le=1)
    end_factor: Literal[1.0] = Field(1.0, description="the warm-up ends at the lr")
    example: ClassVar[dict[str, Any]] = {"type": "LinearLR", "start_factor": 0.001, "by_epoch": False, "end": 5}

    def build(self, *, steps: Steps, total: int) -> dict[str, Any]:
        """Warm-up length and start factor."""
        return {"warmup_steps": min(steps(self.end, self.by_epoch), total), "warmup_ratio": self.start_factor}


@registry("scheduler").register
class MultiStepLRConfig(_SchedulerFields):
    """``MultiStepLR``: lr times ``gamma`` at each milestone."""

    type: Literal["MultiStepLR"]
    milestones: list[int]
    gamma: float = Field(0.1, gt=0)
    example: ClassVar[dict[str, Any]] = {"type": "MultiStepLR", "milestones": [2, 3]}

    def build(self, *, steps: Steps, total: int) -> dict[str, Any]:
        """Milestones in optimizer steps."""
        return {"name": "multistep", "milestones": [steps(m, self.by_epoch) for m in self.milestones],
                "gamma": self.gamma}  # fmt: skip


@registry("scheduler").register
class StepLRConfig(_SchedulerFields):
    """``StepLR``: lr times ``gamma`` every ``step_size``."""

    type: Literal["StepLR"]
    step_size: int = Field(ge=1)
    gamma: float = Field(0.1, gt=0)
    example: ClassVar[dict[str, Any]] = {"type": "StepLR", "step_size": 2}

    def build(self, *, steps: Steps, total: int) -> dict[str, Any]:
        """Step size in optimizer steps."""
        return {"name": "step", "step_size": max(steps(self.step_size, self.by_epoch), 1), "gamma": self.gamma}


@registry("scheduler").register
class CosineAnnealingLRConfig(_SchedulerFields):
    """``CosineAnnealingLR``: cosine decay to ``eta_min`` (or ``eta_min_ratio`` times the lr) over the run."""

    type: Literal["CosineAnnealingLR"]
    T_max: int | None = Field(None, gt=0, description="the whole run (the default); another length is not supported")
    eta_min: float | None = None
    eta_min_ratio: float | None = None
    example: ClassVar[dict[str, Any]] = {"type": "CosineAnnealingLR", "eta_min_ratio": 0.01}

    def build(self, *, steps: Steps, total: int) -> dict[str, Any]:
        """Floor of the cosine (``eta_min`` is turned into a ratio by the runner)."""
        if self.T_max is not None and steps(self.T_max, self.by_epoch) != total:
            raise ValueError(f"T_max={self.T_max} is not the length of the run; visdet anneals over the whole run")
        return {"name": "cosine", "min_lr_ratio": float(self.eta_min_ratio or 0.0), "eta_min": self.eta_min}


@registry("scheduler").register
class OneCycleLRConfig(_SchedulerFields):
    """``OneCycleLR``: rise to ``eta_max`` then anneal (Smith's one-cycle policy), over the run."""

    type: Literal["OneCycleLR"]
    eta_max: float | list[float] = Field(gt=0)
    total_steps: int | None = Field(None, description="the whole run (the default); another length is not supported")
    pct_start: float = Field(0.3, gt=0, lt=1)
    anneal_strategy: Literal["cos"] = Field("cos", description="only cosine annealing is implemented")
    div_factor: float = Field(25.0, gt=0)
    final_div_factor: float = Field(1e4, gt=0)
    three_phase: Literal[False] = Field(False, description="the three-phase variant is not implemented")
    example: ClassVar[dict[str, Any]] = {"type": "OneCycleLR", "eta_max": 0.01}

    def build(self, *, steps: Steps, total: int) -> dict[str, Any]:
        """Peak and shape of the cycle."""
        if self.total_steps is not None and self.total_steps != total:
            raise ValueError(f"total_steps={self.total_steps} is not the run's {total} optimizer steps")
        return {"name": "1cycle", "eta_max": self.eta_max, "pct_start": self.pct_start,
                "div_factor": self.div_factor, "final_div_factor": self.final_div_factor}  # fmt: skip


def check_combination(schedulers: Sequence[Component]) -> None:
    """Raise ``ValueError`` unless there is at most one warm-up and at most one main schedule."""
    seen: dict[str, int] = {}
    for i, scheduler in enumerate(schedulers):
        role = type(scheduler).role
        if role in seen:
            raise ValueError(
                f"[{i}] ({scheduler.type}): only one {role} schedule is supported, "
                f"[{seen[role]}] ({schedulers[seen[role]].type}) is one already"
            )
        seen[role] = i


def scheduler_settings(
    schedulers: Sequence[Mapping[str, Any] | Component], *, epoch_len: int, total: int, accumulate: int
) -> dict[str, Any]:
    """``build_scheduler`` keywords for a ``param_scheduler`` list (see the module docstring).

    Args:
        schedulers: The entries, as configs or validated schemas.
        epoch_len: Batches per epoch.
        total: Batches in the run.
        accumulate: Batches per optimizer step.

    Raises:
        ConfigError: An entry is invalid or the combination is not supported (naming it).
    """

    def steps(value: int, by_epoch: bool) -> int:
        return (value * epoch_len if by_epoch else value) // accumulate

    parsed = [validate_component("scheduler", s, where=f"param_scheduler[{i}]") for i, s in enumerate(schedulers)]
    try:
        check_combination(parsed)
    except ValueError as err:
        raise ConfigError(f"invalid config: param_scheduler{err}") from None
    settings: dict[str, Any] = {"name": "constant", "total_steps": max(total // accumulate, 1)}
    for i, scheduler in enumerate(parsed):
        try:
            settings.update(scheduler.build(steps=steps, total=settings["total_steps"]))
        except ValueError as err:
            raise ConfigError(f"invalid config: param_scheduler[{i}]: {err}") from None
    return settings
