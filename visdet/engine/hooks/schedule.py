"""``SchedulerHook``: step the learning-rate schedule.

``runner.scheduler`` is either a :class:`~visdet.engine.optim.param_schedulers.ParamSchedulers`
(configs: iteration-based schedulers after every batch, epoch-based ones after every
epoch, as mmengine's ``ParamSchedulerHook``; torch's one-cycle after every optimizer
step) or a plain torch scheduler, stepped after every optimizer step.
"""

from __future__ import annotations

from typing import Any

from visdet.engine.hooks.base import Hook
from visdet.engine.optim.param_schedulers import ParamSchedulers


class SchedulerHook(Hook):
    """Steps ``runner.scheduler`` (see the module docstring)."""

    def after_optimizer_step(self, runner: Any) -> None:
        """Advance a per-step schedule."""
        if isinstance(runner.scheduler, ParamSchedulers):
            runner.scheduler.after_optimizer_step()
        elif runner.scheduler is not None:
            runner.scheduler.step()

    def after_train_iter(self, runner: Any) -> None:
        """Advance the iteration-based schedulers."""
        if isinstance(runner.scheduler, ParamSchedulers):
            runner.scheduler.after_iter()

    def after_train_epoch(self, runner: Any) -> None:
        """Advance the epoch-based schedulers."""
        if isinstance(runner.scheduler, ParamSchedulers):
            runner.scheduler.after_epoch()
