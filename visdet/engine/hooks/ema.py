"""``EMAHook``: keep an exponential moving average of the weights, validate and save with it (mmengine's).

* After every training iteration (every batch), the averaged model is updated from the
  model (:mod:`visdet.engine.ema`); before ``begin_iter`` / ``begin_epoch`` it is a plain
  copy instead.
* Validation runs with the averaged weights: they are swapped into the model before it
  and swapped back after it (parameters; and buffers with ``update_buffers``).
* A checkpoint stores the averaged weights as its ``state_dict`` (so ``load_checkpoint``
  of a trained model gives the EMA model, as mmdet's released RTMDet checkpoints) and the
  training weights under ``ema_state_dict`` (keys ``module.<name>`` and ``steps``), as
  mmengine does; resuming swaps them back. A checkpoint without ``ema_state_dict``
  starts the average from its ``state_dict``.
"""

from __future__ import annotations

import copy
import itertools
import warnings
from collections.abc import Callable
from typing import Any

from torch import nn

from visdet.engine.checkpoint_io import unwrap_model
from visdet.engine.ema import ExponentialMovingAverage
from visdet.engine.hooks.base import Hook

PREFIX = "module."


class EMAHook(Hook):
    """Exponential moving average of the weights (see the module docstring).

    Args:
        averaged_model: Builds the averaged model from the model, e.g.
            ``functools.partial(ExpMomentumEMA, momentum=0.0002, update_buffers=True)``.
        strict_load: Load ``ema_state_dict`` strictly when resuming.
        begin_iter: Average from this iteration on (copy before); exclusive with ``begin_epoch``.
        begin_epoch: Average from this epoch on (copy before).
    """

    def __init__(
        self,
        *,
        averaged_model: Callable[[nn.Module], ExponentialMovingAverage],
        strict_load: bool = False,
        begin_iter: int = 0,
        begin_epoch: int = 0,
    ) -> None:
        if begin_iter and begin_epoch:
            raise ValueError("give begin_iter or begin_epoch, not both")
        if begin_iter < 0 or begin_epoch < 0:
            raise ValueError(f"begin_iter and begin_epoch must be >= 0, got {begin_iter} and {begin_epoch}")
        self.averaged_model = averaged_model
        self.strict_load = strict_load
        self.begin_iter, self.begin_epoch = begin_iter, begin_epoch
        self.ema_model: ExponentialMovingAverage | None = None
        self.src_model: nn.Module | None = None
        self.swapped = False

    def _ensure(self, runner: Any) -> ExponentialMovingAverage:
        if self.ema_model is None:
            self.src_model = unwrap_model(runner.model)
            self.ema_model = self.averaged_model(self.src_model)
        return self.ema_model

    def before_train(self, runner: Any) -> None:
        """Build the averaged model; check that averaging begins within the run."""
        self._ensure(runner)
        if self.begin_epoch:
            max_epochs = runner.loop.max_iters // runner.loop.epoch_len if runner.loop.by_epoch else 1
            if self.begin_epoch > max_epochs:
                raise ValueError(f"EMAHook begin_epoch={self.begin_epoch} is after the last epoch ({max_epochs})")
        elif self.begin_iter > runner.max_iters:
            raise ValueError(f"EMAHook begin_iter={self.begin_iter} is after the last iteration ({runner.max_iters})")

    def _started(self, runner: Any) -> bool:
        # runner.iter counts this batch already (mmengine's does not yet: its `iter + 1`)
        if self.begin_epoch:
            return runner.epoch + 1 >= self.begin_epoch
        return runner.iter >= self.begin_iter

    def after_train_iter(self, runner: Any) -> None:
        """Average the weights in (or copy them before the start)."""
        ema = self._ensure(runner)
        if self._started(runner):
            ema.update_parameters(self.src_model)
            return
        source = self.src_model.state_dict()
        for name, value in ema.module.state_dict().items():
            value.data.copy_(source[name].data)

    def _pairs(self) -> Any:
        ema, src = self.ema_model, self.src_model
        if ema.update_buffers:
            return zip(itertools.chain(ema.module.parameters(), ema.module.buffers()),
                       itertools.chain(src.parameters(), src.buffers()))  # fmt: skip
        return zip(ema.module.parameters(), src.parameters())

    def swap(self) -> None:
        """Exchange the model's and the averaged model's values (parameters, and buffers with ``update_buffers``)."""
        for averaged, source in self._pairs():
            kept = averaged.data.clone()
            averaged.data.copy_(source.data)
            source.data.copy_(kept)
        self.swapped = not self.swapped

    def before_val(self, runner: Any) -> None:
        """Validate with the averaged weights."""
        self._ensure(runner)
        self.swap()

    def after_val(self, runner: Any, metrics: dict[str, float]) -> None:
        """Back to the training weights."""
        if self.swapped:
            self.swap()

    @staticmethod
    def _swap_entries(checkpoint: dict[str, Any]) -> None:
        state, ema_state = checkpoint["state_dict"], checkpoint["ema_state_dict"]
        for key in ema_state:
            if key.startswith(PREFIX) and key[len(PREFIX) :] in state:
                name = key[len(PREFIX) :]
                ema_state[key], state[name] = state[name], ema_state[key]

    def before_save_checkpoint(self, runner: Any, checkpoint: dict[str, Any]) -> None:
        """``state_dict``: the averaged weights; ``ema_state_dict``: the training ones (mmengine's layout)."""
        ema = self._ensure(runner)
        checkpoint["ema_state_dict"] = ema.state_dict()
        if not self.swapped:  # while swapped (during validation) the entries are in place already
            self._swap_entries(checkpoint)

    def after_load_checkpoint(self, runner: Any, checkpoint: dict[str, Any]) -> None:
        """Resume the average from ``ema_state_dict`` (training weights back to ``state_dict``)."""
        ema = self._ensure(runner)
        if "ema_state_dict" in checkpoint:
            self._swap_entries(checkpoint)
            ema.load_state_dict(checkpoint["ema_state_dict"], strict=self.strict_load)
            return
        warnings.warn("the checkpoint has no ema_state_dict; EMAHook starts the average from its state_dict",
                      stacklevel=2)  # fmt: skip
        ema.module.load_state_dict(copy.deepcopy(checkpoint["state_dict"]), strict=self.strict_load)
