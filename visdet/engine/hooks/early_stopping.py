"""``EarlyStoppingHook``: stop when a validation metric has not improved for a while."""

from __future__ import annotations

import math
from typing import Any

from visdet.engine.hooks.base import Hook


class EarlyStoppingHook(Hook):
    """Stop training after ``patience`` validations without improvement of ``monitor``.

    Args:
        monitor: Metric key (e.g. ``"coco/bbox_mAP"``).
        rule: ``"greater"`` (higher is better) or ``"less"``.
        patience: Validations without improvement tolerated.
        min_delta: Smallest change that counts as an improvement.
    """

    def __init__(self, *, monitor: str, rule: str = "greater", patience: int = 3, min_delta: float = 0.0) -> None:
        if rule not in ("greater", "less"):
            raise ValueError(f"rule must be 'greater' or 'less', got {rule!r}")
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.monitor = monitor
        self.rule = rule
        self.patience = patience
        self.min_delta = min_delta
        self.best = -math.inf if rule == "greater" else math.inf
        self.bad_rounds = 0

    def after_val(self, runner: Any, metrics: dict[str, float]) -> None:
        """Track the monitored metric; request a stop when patience runs out."""
        if self.monitor not in metrics:
            raise KeyError(f"EarlyStoppingHook monitors {self.monitor!r}, but validation gave {sorted(metrics)}")
        value = float(metrics[self.monitor])
        improved = value > self.best + self.min_delta if self.rule == "greater" else value < self.best - self.min_delta
        if improved:
            self.best, self.bad_rounds = value, 0
            return
        self.bad_rounds += 1
        if self.bad_rounds >= self.patience:
            runner.request_stop(
                f"early stopping: {self.monitor} did not improve on {self.best:.4f} for {self.patience} validations"
            )
