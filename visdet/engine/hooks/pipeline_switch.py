"""``PipelineSwitchHook``: from epoch ``switch_epoch`` on, train with another pipeline (mmdet's).

RTMDet trains with mosaic and mixup, then switches to a lighter stage-2 pipeline for the
last epochs. The hook sets ``dataset.pipeline = Compose(switch_pipeline)`` on the training
loader's dataset before epoch ``switch_epoch`` (0-based, so after ``switch_epoch``
complete epochs).

Workers: mmdet forces a loader with ``persistent_workers`` to restart its workers, which
hold a copy of the dataset. visdet's training loop starts a fresh loader (and workers) for
every epoch from the dataset as it is then (see :mod:`visdet.engine.train_loop`), so the
new pipeline reaches the workers with nothing more to do.

Resuming: as mmdet 3.3's, the hook switches at the first epoch at or after
``switch_epoch`` it sees, once, so a run resumed after the switch trains with stage 2.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from visdet.data.transforms.compose import Compose
from visdet.engine.hooks.base import Hook


class PipelineSwitchHook(Hook):
    """Switch the training dataset's pipeline at ``switch_epoch``.

    Args:
        switch_epoch: The first epoch (0-based) trained with ``switch_pipeline``.
        switch_pipeline: Built transforms (``visdet.build.build_pipeline(configs)``).
    """

    def __init__(self, *, switch_epoch: int, switch_pipeline: Sequence[Callable[[dict[str, Any]], Any]]) -> None:
        if switch_epoch < 0:
            raise ValueError(f"switch_epoch must be >= 0, got {switch_epoch}")
        self.switch_epoch = switch_epoch
        self.switch_pipeline = Compose(switch_pipeline)
        self.switched = False

    def before_train_epoch(self, runner: Any) -> None:
        """Install the stage-2 pipeline once the run reaches ``switch_epoch``."""
        if self.switched or runner.epoch < self.switch_epoch:
            return
        dataset = runner.loop.loader.dataset
        if not hasattr(dataset, "pipeline"):
            raise TypeError(f"PipelineSwitchHook needs a dataset with a pipeline, got {type(dataset).__name__}")
        dataset.pipeline = self.switch_pipeline
        self.switched = True
