"""Learning-rate schedule schemas (mmengine's ``param_scheduler`` entries) and the list the runner steps.

Every entry but ``OneCycleLR`` becomes an mmengine-semantics scheduler
(:mod:`visdet.engine.optim.param_schedulers`): active in ``[begin, end)``, ``by_epoch``
ones stepped per epoch and the others per iteration, chained in list order, with
``convert_to_iter_based``. An unset ``end`` is the length of the run in the entry's unit
(mmengine's runner default). ``OneCycleLR`` stays torch's one-cycle policy stepped per
optimizer step over the whole run, and must be the only entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, model_validator

from visdet.build.api import validate_component
from visdet.build.component import Component
from visdet.build.registry import registry
from visdet.config.errors import ConfigError
from visdet.engine.optim import build_scheduler
from visdet.engine.optim.param_schedulers import INF, ParamScheduler, ParamSchedulers, build_param_scheduler


@dataclass(frozen=True, kw_only=True)
class RunLength:
    """The run's lengths a scheduler needs: batches per epoch, epochs, iterations (batches), accumulation."""

    epoch_length: int
    max_epochs: int
    max_iters: int
    accumulate: int = 1


class _SchedulerFields(Component):
    """Fields every learning-rate schedule has (mmengine's names)."""

    begin: int = Field(0, ge=0)
    end: int | None = Field(None, gt=0, description="default: the run's length (epochs or iterations)")
    by_epoch: bool = True
    convert_to_iter_based: bool = False
    last_step: Literal[-1] = Field(-1, description="resuming restores the schedule from the checkpoint")
    verbose: bool = False

    @model_validator(mode="after")
    def _order(self) -> _SchedulerFields:
        if self.end is not None and self.end <= self.begin:
            raise ValueError(f"end ({self.end}) must be larger than begin ({self.begin})")
        if self.convert_to_iter_based and not self.by_epoch:
            raise ValueError("convert_to_iter_based needs by_epoch: true")
        return self

    def options(self) -> dict[str, Any]:
        """This schedule's own keywords (beyond begin/end/by_epoch)."""
        return {}

    def build(self, *, optimizer: torch.optim.Optimizer, run: RunLength) -> ParamScheduler:
        """The scheduler acting on ``optimizer``."""
        end = self.end if self.end is not None else (run.max_epochs if self.by_epoch else run.max_iters)
        return build_param_scheduler(optimizer, self.type, begin=self.begin, end=end or INF, by_epoch=self.by_epoch,
                                     convert_to_iter_based=self.convert_to_iter_based,
                                     epoch_length=run.epoch_length, **self.options())  # fmt: skip


@registry("scheduler").register
class LinearLRConfig(_SchedulerFields):
    """``LinearLR``: the lr times a factor going linearly from ``start_factor`` to ``end_factor``."""

    type: Literal["LinearLR"]
    start_factor: float = Field(1.0 / 3, ge=0, le=1)
    end_factor: float = Field(1.0, ge=0, le=1)
    example: ClassVar[dict[str, Any]] = {"type": "LinearLR", "start_factor": 0.001, "by_epoch": False, "end": 5}

    def options(self) -> dict[str, Any]:
        """The factors."""
        return {"start_factor": self.start_factor, "end_factor": self.end_factor}


@registry("scheduler").register
class ConstantLRConfig(_SchedulerFields):
    """``ConstantLR``: the lr times ``factor`` until ``end``."""

    type: Literal["ConstantLR"]
    factor: float = Field(1.0 / 3, ge=0, le=1)
    example: ClassVar[dict[str, Any]] = {"type": "ConstantLR", "factor": 0.5, "by_epoch": False, "end": 5}

    def options(self) -> dict[str, Any]:
        """The factor."""
        return {"factor": self.factor}


@registry("scheduler").register
class MultiStepLRConfig(_SchedulerFields):
    """``MultiStepLR``: lr times ``gamma`` at each milestone."""

    type: Literal["MultiStepLR"]
    milestones: list[int]
    gamma: float = Field(0.1, gt=0)
    example: ClassVar[dict[str, Any]] = {"type": "MultiStepLR", "milestones": [2, 3]}

    def options(self) -> dict[str, Any]:
        """Milestones and factor."""
        return {"milestones": list(self.milestones), "gamma": self.gamma}


@registry("scheduler").register
class StepLRConfig(_SchedulerFields):
    """``StepLR``: lr times ``gamma`` every ``step_size``."""

    type: Literal["StepLR"]
    step_size: int = Field(ge=1)
    gamma: float = Field(0.1, gt=0)
    example: ClassVar[dict[str, Any]] = {"type": "StepLR", "step_size": 2}

    def options(self) -> dict[str, Any]:
        """Step size and factor."""
        return {"step_size": self.step_size, "gamma": self.gamma}


@registry("scheduler").register
class CosineAnnealingLRConfig(_SchedulerFields):
    """``CosineAnnealingLR``: cosine decay to ``eta_min`` (or ``eta_min_ratio`` times the base lr) over ``T_max``."""

    type: Literal["CosineAnnealingLR"]
    T_max: int | None = Field(None, gt=0, description="default: end - begin")
    eta_min: float | None = None
    eta_min_ratio: float | None = None
    example: ClassVar[dict[str, Any]] = {"type": "CosineAnnealingLR", "eta_min_ratio": 0.01}

    @model_validator(mode="after")
    def _one_floor(self) -> CosineAnnealingLRConfig:
        if self.eta_min is not None and self.eta_min_ratio is not None:
            raise ValueError("give eta_min or eta_min_ratio, not both")
        return self

    def options(self) -> dict[str, Any]:
        """Period and floor."""
        return {"T_max": self.T_max, "eta_min": self.eta_min, "eta_min_ratio": self.eta_min_ratio}


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

    begin: Literal[0] = Field(0, description="the cycle spans the whole run")
    per_optimizer_step: ClassVar[bool] = True

    def build(self, *, optimizer: torch.optim.Optimizer, run: RunLength) -> Any:
        """Torch's ``OneCycleLR`` peaking at ``eta_max`` (times each group's ``lr_mult``), per optimizer step."""
        total = max(run.max_iters // run.accumulate, 1)
        if self.total_steps is not None and self.total_steps != total:
            raise ValueError(f"total_steps={self.total_steps} is not the run's {total} optimizer steps")
        for group in optimizer.param_groups:  # mmengine's OneCycleLR peaks at eta_max
            group["lr"] = float(self.eta_max) * group.get("lr_mult", 1.0)  # type: ignore[arg-type]
        return build_scheduler(optimizer, name="1cycle", total_steps=total, pct_start=self.pct_start,
                               div_factor=self.div_factor, final_div_factor=self.final_div_factor)  # fmt: skip


def build_param_schedulers(
    schedulers: Sequence[Mapping[str, Any] | Component], *, optimizer: torch.optim.Optimizer, run: RunLength
) -> ParamSchedulers:
    """The runner's schedulers for a ``param_scheduler`` list (see the module docstring).

    Raises:
        ConfigError: An entry is invalid, cannot be built, or ``OneCycleLR`` is not alone (naming it).
    """
    parsed = [validate_component("scheduler", s, where=f"param_scheduler[{i}]") for i, s in enumerate(schedulers)]
    cycles = [i for i, s in enumerate(parsed) if getattr(type(s), "per_optimizer_step", False)]
    if cycles and len(parsed) > 1:
        raise ConfigError(f"invalid config: param_scheduler[{cycles[0]}]: OneCycleLR warms up and anneals by "
                          "itself and must be the only schedule")  # fmt: skip
    built, per_step = [], []
    for i, scheduler in enumerate(parsed):
        try:
            made = scheduler.build(optimizer=optimizer, run=run)
        except ValueError as err:
            raise ConfigError(f"invalid config: param_scheduler[{i}] ({scheduler.type}): {err}") from None
        (per_step if i in cycles else built).append(made)
    return ParamSchedulers(built, per_optimizer_step=per_step)
