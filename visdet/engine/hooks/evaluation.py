"""``EvalHook``: run the validation loop every ``interval`` epochs (or iterations)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from visdet.engine.hooks.base import Hook, every


class EvalHook(Hook):
    """Validate periodically, never in the middle of a gradient-accumulation window.

    Args:
        interval: Validate every ``interval`` epochs (``by_epoch``) or iterations.
        by_epoch: Count epochs rather than iterations.
        begin: The first epoch (iteration) after which validation may run (mmengine's
            ``val_begin``).
        dynamic_intervals: ``[(milestone, interval), ...]``: from ``milestone`` on,
            validate every ``interval`` (mmengine's rule: the interval after ``n``
            complete epochs is that of the last milestone ``<= n + 1``).
    """

    def __init__(
        self,
        *,
        interval: int = 1,
        by_epoch: bool = True,
        begin: int = 1,
        dynamic_intervals: Sequence[tuple[int, int]] = (),
    ) -> None:
        self.milestones = [0] + [int(m) for m, _ in dynamic_intervals]
        if self.milestones != sorted(self.milestones):
            raise ValueError(f"dynamic_intervals milestones must increase, got {self.milestones[1:]}")
        self.intervals = [interval] + [int(i) for _, i in dynamic_intervals]
        self.interval = interval
        self.by_epoch = by_epoch
        self.begin = begin
        self._last_validated = -1
        self._due = False

    def interval_at(self, count: int) -> int:
        """The interval in force after ``count`` complete epochs (iterations)."""
        return self.intervals[bisect.bisect(self.milestones, count + 1) - 1]

    def _validate(self, runner: Any) -> None:
        position = runner.epoch if self.by_epoch else runner.iter
        if position != self._last_validated:
            self._last_validated = position
            runner.val()

    def after_train_iter(self, runner: Any) -> None:
        """Validate on iteration multiples (at the next optimizer step when accumulating)."""
        if not self.by_epoch and every(runner.iter, self.interval_at(runner.iter)) and runner.iter >= self.begin:
            self._due = True
        if self._due and runner.at_step_boundary:
            self._due = False
            self._validate(runner)

    def after_train_epoch(self, runner: Any) -> None:
        """Validate on epoch multiples."""
        if self.by_epoch and every(runner.epoch, self.interval_at(runner.epoch)) and runner.epoch >= self.begin:
            self._validate(runner)
