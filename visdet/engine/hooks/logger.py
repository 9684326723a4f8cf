"""``LoggerHook``: JSON-lines logs and a progress bar with ETA and running losses (rank 0 only).

Every ``interval`` batches one line goes to ``<work_dir>/log.jsonl``:
``{"mode": "train", "epoch", "iter", "lr", "time", "eta_s", <loss terms averaged over the
interval>}``; each validation adds ``{"mode": "val", "epoch", "iter", <metrics>}``. The
progress bar (tqdm) shows the running average of each loss term.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from visdet.engine.dist import is_main_process
from visdet.engine.hooks.base import Hook, every


class LoggerHook(Hook):
    """Log training.

    Args:
        interval: Batches between log lines.
        progress: Show a tqdm progress bar.
        filename: Log file name inside ``runner.work_dir``.
    """

    def __init__(self, *, interval: int = 10, progress: bool = True, filename: str = "log.jsonl") -> None:
        self.interval = interval
        self.progress = progress
        self.filename = filename
        self._sums: dict[str, float] = defaultdict(float)
        self._count = 0
        self._bar: Any = None
        self._start = 0.0
        self._start_iter = 0
        self.path: Path | None = None

    def _write(self, record: dict[str, Any]) -> None:
        if self.path is not None:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    def before_train(self, runner: Any) -> None:
        """Open the log file and the progress bar."""
        if not is_main_process():
            return
        self.path = Path(runner.work_dir) / self.filename
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()
        self._start, self._start_iter = time.perf_counter(), runner.iter
        if self.progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=runner.max_iters, initial=runner.iter, desc="train", dynamic_ncols=True)

    def after_train_iter(self, runner: Any) -> None:
        """Accumulate the loss terms; write a line every ``interval`` batches."""
        if not is_main_process():
            return
        for key, value in runner.log_vars.items():
            self._sums[key] += value
        self._count += 1
        means = {k: v / self._count for k, v in self._sums.items()}
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix({k: f"{v:.3f}" for k, v in means.items() if "loss" in k}, refresh=False)
        if every(runner.iter, self.interval):
            self._flush(runner)

    def _flush(self, runner: Any) -> None:
        """Write the averages since the last line."""
        means = {k: v / self._count for k, v in self._sums.items()}
        per_iter = (time.perf_counter() - self._start) / max(runner.iter - self._start_iter, 1)
        record = {"mode": "train", "epoch": runner.epoch, "iter": runner.iter, "lr": runner.current_lr(),
                  "time": per_iter, "eta_s": per_iter * (runner.max_iters - runner.iter), **means}  # fmt: skip
        self._write(record)
        self._sums.clear()
        self._count = 0

    def after_val(self, runner: Any, metrics: dict[str, float]) -> None:
        """Write the validation metrics."""
        if is_main_process():
            self._write({"mode": "val", "epoch": runner.epoch, "iter": runner.iter, **metrics})

    def after_train(self, runner: Any) -> None:
        """Write the last partial interval and close the progress bar."""
        if is_main_process() and self._count:
            self._flush(runner)
        if self._bar is not None:
            self._bar.close()
            self._bar = None
