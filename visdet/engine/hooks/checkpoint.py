"""``CheckpointHook``: save training checkpoints periodically, at the end and for the best metric.

Files in ``runner.work_dir``: ``latest.pth`` (always the newest; ``resume=True`` reads
it), ``epoch_<n>.pth`` / ``iter_<n>.pth`` (the last ``keep_last`` kept) and
``best.pth`` when ``save_best`` names a metric. Checkpoints are only taken between
optimizer steps (never halfway through gradient accumulation), only on rank 0, and
never after a failed run (so a NaN loss leaves the last good checkpoint in place).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from visdet.engine.hooks.base import Hook, every


class CheckpointHook(Hook):
    """Save checkpoints.

    Args:
        interval: Save every ``interval`` epochs (``by_epoch``) or iterations; 0 saves
            only at the end.
        by_epoch: Count epochs rather than iterations.
        keep_last: Numbered checkpoints to keep (older ones are deleted); 0 keeps all.
        save_best: Metric key whose best value triggers ``best.pth``, or ``None``.
        rule: ``"greater"`` or ``"less"`` for ``save_best``.
    """

    def __init__(
        self,
        *,
        interval: int = 1,
        by_epoch: bool = True,
        keep_last: int = 2,
        save_best: str | None = None,
        rule: str = "greater",
    ) -> None:
        if rule not in ("greater", "less"):
            raise ValueError(f"rule must be 'greater' or 'less', got {rule!r}")
        self.interval = interval
        self.by_epoch = by_epoch
        self.keep_last = keep_last
        self.save_best = save_best
        self.rule = rule
        self.best = -math.inf if rule == "greater" else math.inf
        self.saved: list[Path] = []

    def _save(self, runner: Any, name: str) -> None:
        path = runner.save_checkpoint(Path(runner.work_dir) / name)
        runner.save_checkpoint(Path(runner.work_dir) / "latest.pth")
        if path is None:  # not rank 0
            return
        self.saved.append(path)
        while self.keep_last > 0 and len(self.saved) > self.keep_last:
            self.saved.pop(0).unlink(missing_ok=True)

    def after_train_iter(self, runner: Any) -> None:
        """Save on iteration multiples (iteration-based)."""
        if not self.by_epoch and runner.at_step_boundary and every(runner.iter, self.interval):
            self._save(runner, f"iter_{runner.iter}.pth")

    def after_train_epoch(self, runner: Any) -> None:
        """Save on epoch multiples (epoch-based)."""
        if self.by_epoch and every(runner.epoch, self.interval):
            self._save(runner, f"epoch_{runner.epoch}.pth")

    def after_val(self, runner: Any, metrics: dict[str, float]) -> None:
        """Save ``best.pth`` when the monitored metric improved."""
        if self.save_best is None:
            return
        if self.save_best not in metrics:
            raise KeyError(f"CheckpointHook.save_best={self.save_best!r} is not among the metrics {sorted(metrics)}")
        value = float(metrics[self.save_best])
        if (value > self.best) if self.rule == "greater" else (value < self.best):
            self.best = value
            runner.save_checkpoint(Path(runner.work_dir) / "best.pth")

    def after_train(self, runner: Any) -> None:
        """Save ``latest.pth`` at the end of a successful run."""
        if runner.error is None and runner.at_step_boundary:
            runner.save_checkpoint(Path(runner.work_dir) / "latest.pth")
