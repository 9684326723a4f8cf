"""``EvalHook``: run the validation loop every ``interval`` epochs (or iterations)."""

from __future__ import annotations

from typing import Any

from visdet.engine.hooks.base import Hook, every


class EvalHook(Hook):
    """Validate periodically, never in the middle of a gradient-accumulation window.

    Args:
        interval: Validate every ``interval`` epochs (``by_epoch``) or iterations.
        by_epoch: Count epochs rather than iterations.
        begin: The first epoch (iteration) after which validation may run (mmengine's
            ``val_begin``).
    """

    def __init__(self, *, interval: int = 1, by_epoch: bool = True, begin: int = 1) -> None:
        self.interval = interval
        self.by_epoch = by_epoch
        self.begin = begin
        self._last_validated = -1
        self._due = False

    def _validate(self, runner: Any) -> None:
        position = runner.epoch if self.by_epoch else runner.iter
        if position != self._last_validated:
            self._last_validated = position
            runner.val()

    def after_train_iter(self, runner: Any) -> None:
        """Validate on iteration multiples (at the next optimizer step when accumulating)."""
        if not self.by_epoch and every(runner.iter, self.interval) and runner.iter >= self.begin:
            self._due = True
        if self._due and runner.at_step_boundary:
            self._due = False
            self._validate(runner)

    def after_train_epoch(self, runner: Any) -> None:
        """Validate on epoch multiples."""
        if self.by_epoch and every(runner.epoch, self.interval) and runner.epoch >= self.begin:
            self._validate(runner)
