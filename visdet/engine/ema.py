"""Weight averaging: ``ExponentialMovingAverage`` (mmengine) and ``ExpMomentumEMA`` (mmdet, YOLOX/RTMDet).

The averaged model is a module holding a deep copy of the source model as ``module``
and the update count as the buffer ``steps``, so its ``state_dict`` keys are
``module.<source key>`` and ``steps``, as mmengine writes ``ema_state_dict`` in a
checkpoint. Per :meth:`update_parameters` call (mmengine 0.10's order):

* the first call copies the source values;
* later calls, every ``interval``-th one (counted from 0), move each floating-point
  averaged value towards the source: ``avg = avg * (1 - m) + src * m`` (``ExpMomentumEMA``,
  ``m = (1 - momentum) * exp(-(1 + steps) / gamma) + momentum``, mmdet 3.3's in-place
  multiply-add) or ``avg.lerp(src, momentum)`` (mmengine's ``ExponentialMovingAverage``);
  the two round differently in the last bit, so each keeps its own operations;
* with ``update_buffers=False`` only parameters are averaged and the buffers (BN running
  statistics) are copied from the source every call; with ``True`` every floating
  ``state_dict`` entry is averaged (integer ones, ``num_batches_tracked``, copied once).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn


class ExponentialMovingAverage(nn.Module):
    """A running average of a model's weights (mmengine's ``ExponentialMovingAverage``).

    Args:
        model: The model to average (deep-copied; the copy takes no gradients).
        momentum: Weight of the new value: ``avg = (1 - momentum) * avg + momentum * src``.
        interval: Average every ``interval``-th update.
        device: Where the copy lives (default: where the model is).
        update_buffers: Average the buffers too (else copy them).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        momentum: float = 0.0002,
        interval: int = 1,
        device: torch.device | str | None = None,
        update_buffers: bool = False,
    ) -> None:
        super().__init__()
        if not 0.0 < momentum < 1.0:
            raise ValueError(f"momentum must be in (0, 1), got {momentum}")
        if interval < 1:
            raise ValueError(f"interval must be >= 1, got {interval}")
        self.module = copy.deepcopy(model).requires_grad_(False)
        if device is not None:
            self.module = self.module.to(device)
        self.momentum = momentum
        self.interval = interval
        self.update_buffers = update_buffers
        self.register_buffer("steps", torch.tensor(0, dtype=torch.long, device=device))
        self.avg_parameters: dict[str, Tensor] = (
            self.module.state_dict() if update_buffers else dict(self.module.named_parameters())
        )

    def forward(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201 (the wrapped model's signature)
        """The averaged model's forward."""
        return self.module(*args, **kwargs)

    def avg_func(self, averaged: Tensor, source: Tensor, steps: int) -> None:
        """Move ``averaged`` towards ``source`` in place."""
        averaged.lerp_(source, self.momentum)

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        """Average ``model``'s current weights in (see the module docstring)."""
        source = model.state_dict() if self.update_buffers else dict(model.named_parameters())
        if self.steps == 0:
            for name, averaged in self.avg_parameters.items():
                averaged.data.copy_(source[name].data)
        elif self.steps % self.interval == 0:
            for name, averaged in self.avg_parameters.items():
                if averaged.dtype.is_floating_point:
                    self.avg_func(averaged.data, source[name].data.to(averaged.device), self.steps)
        if not self.update_buffers:
            for own, theirs in zip(self.module.buffers(), model.buffers()):
                own.data.copy_(theirs.data.to(own.device))
        self.steps += 1


class ExpMomentumEMA(ExponentialMovingAverage):
    """EMA whose momentum decays from 1 to ``momentum`` (mmdet's ``ExpMomentumEMA``, YOLOX's schedule).

    ``m(steps) = (1 - momentum) * exp(-(1 + steps) / gamma) + momentum``, ``steps`` being
    the number of earlier updates.

    Args:
        model: The model to average.
        momentum: The final momentum.
        gamma: How many updates the momentum takes to decay (by ``e``).
        interval: Average every ``interval``-th update.
        device: Where the copy lives.
        update_buffers: Average the buffers too (RTMDet: ``True``).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        momentum: float = 0.0002,
        gamma: int = 2000,
        interval: int = 1,
        device: torch.device | str | None = None,
        update_buffers: bool = False,
    ) -> None:
        super().__init__(model, momentum=momentum, interval=interval, device=device, update_buffers=update_buffers)
        if gamma <= 0:
            raise ValueError(f"gamma must be greater than 0, got {gamma}")
        self.gamma = gamma

    def avg_func(self, averaged: Tensor, source: Tensor, steps: int) -> None:
        """``averaged * (1 - m) + source * m`` in place, ``m = m(steps)`` (mmdet's operations, not ``lerp``)."""
        momentum = (1 - self.momentum) * math.exp(-float(1 + steps) / self.gamma) + self.momentum
        averaged.mul_(1 - momentum).add_(source, alpha=momentum)


AVERAGED_MODELS: dict[str, type[ExponentialMovingAverage]] = {
    "ExponentialMovingAverage": ExponentialMovingAverage,
    "ExpMomentumEMA": ExpMomentumEMA,
}
