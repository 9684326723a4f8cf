"""Loop schemas: ``train_cfg`` (epoch- or iteration-based) and ``val_cfg``/``test_cfg``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field

from visdet.build.component import Component
from visdet.build.registry import registry
from visdet.engine.val_loop import ValLoop


@dataclass(frozen=True)
class TrainLoopPlan:
    """How long to train and when to validate (what the runner and the eval hook take)."""

    by_epoch: bool
    length: int
    val_interval: int
    val_begin: int
    dynamic_intervals: tuple[tuple[int, int], ...] = ()

    @property
    def max_epochs(self) -> int | None:
        """The runner's ``max_epochs`` (``None`` for iteration-based training)."""
        return self.length if self.by_epoch else None

    @property
    def max_iters(self) -> int | None:
        """The runner's ``max_iters`` (``None`` for epoch-based training)."""
        return None if self.by_epoch else self.length


class _TrainLoopFields(Component):
    """What both training loops take besides their length."""

    by_epoch: ClassVar[bool]
    val_begin: int = Field(1, ge=1)
    dynamic_intervals: list[tuple[int, int]] | None = Field(
        None, description="[[milestone, interval], ...]: validate every interval from milestone on (mmengine's rule)"
    )

    def build(self) -> TrainLoopPlan:
        """The plan."""
        length = self.max_epochs if self.by_epoch else self.max_iters  # type: ignore[attr-defined]
        return TrainLoopPlan(self.by_epoch, length, self.val_interval, self.val_begin,  # type: ignore[attr-defined]
                             tuple(tuple(pair) for pair in self.dynamic_intervals or ()))  # fmt: skip


@registry("train_loop").register
class EpochBasedTrainLoopConfig(_TrainLoopFields):
    """``EpochBasedTrainLoop``: ``max_epochs`` epochs, validating every ``val_interval``."""

    type: Literal["EpochBasedTrainLoop"]
    by_epoch: ClassVar[bool] = True
    max_epochs: int = Field(ge=1)
    val_interval: int = Field(1, ge=1)
    example: ClassVar[dict[str, Any]] = {"type": "EpochBasedTrainLoop", "max_epochs": 2}


@registry("train_loop").register
class IterBasedTrainLoopConfig(_TrainLoopFields):
    """``IterBasedTrainLoop``: ``max_iters`` iterations, validating every ``val_interval``."""

    type: Literal["IterBasedTrainLoop"]
    by_epoch: ClassVar[bool] = False
    max_iters: int = Field(ge=1)
    val_interval: int = Field(1000, ge=1)
    example: ClassVar[dict[str, Any]] = {"type": "IterBasedTrainLoop", "max_iters": 10}


@registry("eval_loop").register
class EvalLoopConfig(Component):
    """``ValLoop`` / ``TestLoop``: predict on a loader and evaluate with a metric."""

    type: Literal["ValLoop", "TestLoop"]
    fp16: Literal[False] = Field(False, description="fp16 validation is not implemented")
    example: ClassVar[dict[str, Any]] = {"type": "ValLoop"}

    def build(self, *, loader: Any, metric: Any) -> ValLoop:
        """The loop over ``loader`` with ``metric``."""
        return ValLoop(loader=loader, metric=metric)
