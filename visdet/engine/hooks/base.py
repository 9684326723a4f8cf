"""``Hook``: callbacks the runner calls at fixed points of training.

Events, in order: ``before_train``; ``before_train_epoch`` whenever the loop (re)starts
iterating an epoch (at its start, on resume, after a loader restart); per batch
``before_train_iter``, (``after_optimizer_step`` when the optimizer stepped),
``after_train_iter``; ``after_train_epoch`` at each epoch end; ``before_val`` and
``after_val`` (with the metrics) around a validation; ``after_train`` at the end (also
after an error, with ``runner.error`` set). ``before_save_checkpoint(checkpoint)`` may
add to or change a checkpoint dict before it is written, ``after_load_checkpoint``
(checkpoint) may read or change one before the runner restores it (mmengine's events of
those names). Hooks run in list order. The runner's state: ``runner.epoch`` (completed epochs), ``runner.iter``
(batches done), ``runner.inner_iter`` (batches done this epoch), ``runner.log_vars``
(the last batch's loss terms as floats), ``runner.stop_reason`` (set it through
``runner.request_stop`` to end training after the current batch).
"""

from __future__ import annotations

from typing import Any


class Hook:
    """Base class: every event is a no-op."""

    def before_train(self, runner: Any) -> None:
        """Before the first batch."""

    def before_train_epoch(self, runner: Any) -> None:
        """Before the loop iterates (the rest of) an epoch."""

    def before_train_iter(self, runner: Any) -> None:
        """Before each batch."""

    def after_optimizer_step(self, runner: Any) -> None:
        """After each optimizer step (every ``accumulate_steps`` batches)."""

    def after_train_iter(self, runner: Any) -> None:
        """After each batch."""

    def after_train_epoch(self, runner: Any) -> None:
        """After each complete epoch."""

    def before_val(self, runner: Any) -> None:
        """Before each validation."""

    def after_val(self, runner: Any, metrics: dict[str, float]) -> None:
        """After each validation."""

    def after_train(self, runner: Any) -> None:
        """After training ends (normally, by a stop request, or by an error)."""

    def before_save_checkpoint(self, runner: Any, checkpoint: dict[str, Any]) -> None:
        """Before ``checkpoint`` is written (change it in place)."""

    def after_load_checkpoint(self, runner: Any, checkpoint: dict[str, Any]) -> None:
        """After ``checkpoint`` is read, before the runner restores it (change it in place)."""


def every(count: int, interval: int) -> bool:
    """Whether ``count`` (1-based) is a multiple of ``interval`` (``interval <= 0``: never)."""
    return interval > 0 and count > 0 and count % interval == 0
