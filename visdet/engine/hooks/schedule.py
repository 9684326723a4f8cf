"""``SchedulerHook``: step the LR (and momentum) scheduler after every optimizer step."""

from __future__ import annotations

from typing import Any

from visdet.engine.hooks.base import Hook


class SchedulerHook(Hook):
    """Calls ``runner.scheduler.step()`` after each optimizer step (per-step schedules)."""

    def after_optimizer_step(self, runner: Any) -> None:
        """Advance the schedule."""
        if runner.scheduler is not None:
            runner.scheduler.step()
