"""Optional TensorBoard and MLflow loggers (extras ``visdet[tensorboard]`` / ``visdet[mlflow]``).

The packages are imported when the hook is created; a missing package raises an
``ImportError`` that names the extra to install.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from visdet.engine.dist import is_main_process
from visdet.engine.hooks.base import Hook, every


class TensorBoardHook(Hook):
    """Write loss terms, LR and validation metrics to TensorBoard event files.

    Args:
        interval: Batches between scalar writes.
        log_dir: Folder for event files (default ``<work_dir>/tensorboard``).
    """

    def __init__(self, *, interval: int = 10, log_dir: str | None = None) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise ImportError("TensorBoardHook needs tensorboard: pip install 'visdet[tensorboard]'") from err
        self._writer_cls = SummaryWriter
        self.interval = interval
        self.log_dir = log_dir
        self.writer: Any = None

    def before_train(self, runner: Any) -> None:
        """Open the writer (rank 0)."""
        if is_main_process():
            self.writer = self._writer_cls(self.log_dir or str(Path(runner.work_dir) / "tensorboard"))

    def after_train_iter(self, runner: Any) -> None:
        """Write scalars."""
        if self.writer is not None and every(runner.iter, self.interval):
            for key, value in runner.log_vars.items():
                self.writer.add_scalar(f"train/{key}", value, runner.iter)
            self.writer.add_scalar("train/lr", runner.current_lr(), runner.iter)

    def after_val(self, runner: Any, metrics: dict[str, float]) -> None:
        """Write metrics."""
        if self.writer is not None:
            for key, value in metrics.items():
                self.writer.add_scalar(f"val/{key}", value, runner.iter)

    def after_train(self, runner: Any) -> None:
        """Close the writer."""
        if self.writer is not None:
            self.writer.close()


class MLflowHook(Hook):
    """Log loss terms, LR and validation metrics to the active MLflow run.

    Args:
        interval: Batches between metric logs.
        experiment: Experiment name (MLflow's default when ``None``).
    """

    def __init__(self, *, interval: int = 10, experiment: str | None = None) -> None:
        try:
            import mlflow
        except ImportError as err:
            raise ImportError("MLflowHook needs mlflow: pip install 'visdet[mlflow]'") from err
        self.mlflow = mlflow
        self.interval = interval
        self.experiment = experiment

    def before_train(self, runner: Any) -> None:
        """Start a run (rank 0)."""
        if is_main_process():
            if self.experiment:
                self.mlflow.set_experiment(self.experiment)
            self.mlflow.start_run()

    def after_train_iter(self, runner: Any) -> None:
        """Log metrics."""
        if is_main_process() and every(runner.iter, self.interval):
            self.mlflow.log_metrics({**runner.log_vars, "lr": runner.current_lr()}, step=runner.iter)

    def after_val(self, runner: Any, metrics: dict[str, float]) -> None:
        """Log validation metrics."""
        if is_main_process():
            self.mlflow.log_metrics({k.replace("/", "_"): v for k, v in metrics.items()}, step=runner.iter)

    def after_train(self, runner: Any) -> None:
        """End the run."""
        if is_main_process():
            self.mlflow.end_run()
