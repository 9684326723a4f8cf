"""Progressive resizing: train at small image scales first, then at larger ones.

``ProgressiveResizeHook(stages=[(0, (320, 320)), (1000, (640, 640))])`` sets the
``scale`` of every ``Resize`` in the training dataset's pipeline to the scale of the
stage the run is in (stage starts in iterations, or epochs with ``by_epoch=True``).

How the change reaches the workers: the hook edits the pipeline in the main process
and sets ``runner.restart_loader``; the train loop then builds a fresh ``DataLoader``
over the rest of the epoch's batches (see :mod:`visdet.engine.train_loop`), whose
workers start from the updated dataset. Nothing is shared between processes, so it
works the same with any ``num_workers``; the cost is one worker restart per stage.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from visdet.data.transforms import Resize
from visdet.engine.hooks.base import Hook


def _scale(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    if len(value) != 2:
        raise ValueError(f"a resize stage scale must be an int or (w, h), got {value!r}")
    return (int(value[0]), int(value[1]))


def pipeline_resizes(dataset: Any) -> list[Resize]:
    """The ``Resize`` transforms of ``dataset.pipeline`` (raises when there are none)."""
    pipeline = getattr(dataset, "pipeline", None)
    transforms = getattr(pipeline, "transforms", None)
    if transforms is None:
        raise TypeError(f"progressive resizing needs a dataset with a Compose pipeline, got {type(dataset).__name__}")
    resizes = [t for t in transforms if isinstance(t, Resize)]
    if not resizes:
        raise ValueError("progressive resizing found no Resize transform in the training pipeline")
    return resizes


class ProgressiveResizeHook(Hook):
    """Change the training pipeline's ``Resize`` scale at stage boundaries.

    Args:
        stages: ``(start, scale)`` pairs; ``scale`` is ``(w, h)`` (or an int); the first
            stage must start at 0.
        by_epoch: Stage starts count epochs instead of iterations.
    """

    def __init__(self, *, stages: Sequence[tuple[int, int | Sequence[int]]], by_epoch: bool = False) -> None:
        if not stages:
            raise ValueError("give at least one stage")
        starts = [int(start) for start, _ in stages]
        if starts[0] != 0 or starts != sorted(set(starts)):
            raise ValueError(f"stage starts must begin at 0 and increase strictly, got {starts}")
        self.starts = starts
        self.scales = [_scale(scale) for _, scale in stages]
        self.by_epoch = by_epoch
        self.current: int | None = None

    def stage_at(self, iteration: int, epoch_len: int) -> int:
        """Index of the stage that iteration ``iteration`` (0-based) belongs to."""
        starts = [s * epoch_len for s in self.starts] if self.by_epoch else self.starts
        return bisect.bisect_right(starts, iteration) - 1

    def _apply(self, runner: Any) -> bool:
        stage = self.stage_at(runner.iter, runner.loop.epoch_len)
        if stage == self.current:
            return False
        self.current = stage
        for resize in pipeline_resizes(runner.loop.loader.dataset):
            resize.scale = self.scales[stage]
        return True

    def before_train(self, runner: Any) -> None:
        """Set the scale of the stage the run starts (or resumes) in."""
        self.current = None
        self._apply(runner)

    def after_train_iter(self, runner: Any) -> None:
        """At a stage boundary, switch the scale and restart the loader."""
        if self._apply(runner):
            runner.restart_loader = True
