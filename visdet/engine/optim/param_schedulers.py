"""mmengine's parameter schedulers: a list of schedules, each active in ``[begin, end)``, chained.

Semantics (mmengine 0.10's ``_ParamScheduler`` and ``ParamSchedulerHook``):

* Each scheduler counts its own steps: ``by_epoch`` ones step after every epoch, the
  others after every iteration (every batch, also inside a gradient-accumulation window).
  It changes the groups' learning rates only while ``begin <= step < end``.
* Values are *chained*: a scheduler multiplies (or moves) the group's *current* lr, so
  schedulers active at the same time compose multiplicatively, and one that starts later
  continues from the lr the earlier ones left (RTMDet: ``LinearLR`` warm-up over the first
  iterations, then ``CosineAnnealingLR`` from the middle epoch). The arithmetic is
  mmengine's recursive form, operation for operation, so the values agree to the last bit.
* Construction counts as step 0 (mmengine calls ``step()`` in ``__init__``): a warm-up
  starting at 0 multiplies the lr by its ``start_factor`` immediately.
* ``convert_to_iter_based`` turns an epoch-based one into an iteration-based one
  (``begin``, ``end``, ``T_max``, milestones, ``step_size`` times the epoch length), so
  it moves every iteration.
* The base value of each group is its lr when the first scheduler was built
  (``group["initial_lr"]``).

:class:`ParamSchedulers` holds the list and is what the runner steps and checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch

INF = 10**9  # mmengine's default ``end``


class ParamScheduler:
    """One schedule of one optimizer value (``lr``); mmengine's ``_ParamScheduler``.

    Args:
        optimizer: The optimizer whose groups it changes.
        begin: First step (epoch or iteration) at which it acts.
        end: Step at which it stops (exclusive).
        by_epoch: Step once per epoch rather than per iteration.
        param_name: The group key it schedules.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        begin: int = 0,
        end: int = INF,
        by_epoch: bool = True,
        param_name: str = "lr",
    ) -> None:
        if end <= begin:
            raise ValueError(f"end should be larger than begin, got begin={begin}, end={end}")
        self.optimizer = optimizer
        self.param_name = param_name
        self.begin, self.end, self.by_epoch = begin, end, by_epoch
        for group in optimizer.param_groups:
            group.setdefault(f"initial_{param_name}", group[param_name])
        self.base_values = [group[f"initial_{param_name}"] for group in optimizer.param_groups]
        self.last_step = -1
        self.global_step = -1
        self.step()

    def values(self) -> list[float]:
        """The groups' new values at ``last_step`` (mmengine's ``_get_value``)."""
        raise NotImplementedError

    def current(self) -> list[float]:
        """The groups' current values."""
        return [group[self.param_name] for group in self.optimizer.param_groups]

    def step(self) -> None:
        """Advance one epoch (``by_epoch``) or iteration; act when inside ``[begin, end)``."""
        self.global_step += 1
        if self.begin <= self.global_step < self.end:
            self.last_step += 1
            for group, value in zip(self.optimizer.param_groups, self.values()):
                group[self.param_name] = value

    def state_dict(self) -> dict[str, Any]:
        """The step counters (everything else comes from the config)."""
        return {"type": type(self).__name__, "global_step": self.global_step, "last_step": self.last_step,
                "base_values": list(self.base_values)}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (the lrs themselves are in the optimizer's state)."""
        if state.get("type") != type(self).__name__:
            raise ValueError(f"a {state.get('type')} state cannot be loaded into {type(self).__name__}")
        self.global_step, self.last_step = int(state["global_step"]), int(state["last_step"])
        self.base_values = list(state["base_values"])


def _scaled(value: int, epoch_length: int) -> int:
    return value if value == INF else int(value * epoch_length)


class LinearLR(ParamScheduler):
    """The lr times a factor moving linearly from ``start_factor`` to ``end_factor`` over ``[begin, end)``.

    The factor reaches ``end_factor`` at step ``end - 1`` (mmengine's ``total_iters = end - begin - 1``).
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, *, start_factor: float = 1.0 / 3, end_factor: float = 1.0, **kw: Any
    ) -> None:
        for label, factor in (("start_factor", start_factor), ("end_factor", end_factor)):
            if not 0 <= factor <= 1:
                raise ValueError(f"{label} must be in [0, 1], got {factor}")
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = kw.get("end", INF) - kw.get("begin", 0) - 1
        super().__init__(optimizer, **kw)

    def values(self) -> list[float]:
        """The factor, in mmengine's recursive form."""
        if self.last_step == 0:
            return [value * self.start_factor for value in self.current()]
        change = self.end_factor - self.start_factor
        return [value * (1.0 + change / (self.total_iters * self.start_factor + (self.last_step - 1) * change))
                for value in self.current()]  # fmt: skip


class ConstantLR(ParamScheduler):
    """The lr times ``factor`` over ``[begin, end)``, restored at step ``end - 1``."""

    def __init__(self, optimizer: torch.optim.Optimizer, *, factor: float = 1.0 / 3, **kw: Any) -> None:
        if not 0 <= factor <= 1:
            raise ValueError(f"factor must be in [0, 1], got {factor}")
        self.factor = factor
        self.total_iters = kw.get("end", INF) - kw.get("begin", 0) - 1
        super().__init__(optimizer, **kw)

    def values(self) -> list[float]:
        """``factor`` at the first step, ``1 / factor`` at the last, unchanged between."""
        if self.last_step == 0:
            return [value * self.factor for value in self.current()]
        if self.last_step == self.total_iters:
            return [value * (1.0 / self.factor) for value in self.current()]
        return self.current()


class CosineAnnealingLR(ParamScheduler):
    """Cosine annealing from the current lr to ``eta_min`` (or ``eta_min_ratio`` times the base) over ``T_max``.

    ``T_max`` defaults to ``end - begin``.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        T_max: int | None = None,  # noqa: N803 (mmengine's keyword)
        eta_min: float | None = None,
        eta_min_ratio: float | None = None,
        **kw: Any,
    ) -> None:
        if eta_min is None and eta_min_ratio is None:
            eta_min = 0.0
        if eta_min is not None and eta_min_ratio is not None:
            raise ValueError("give eta_min or eta_min_ratio, not both")
        self.T_max = T_max or (kw.get("end", INF) - kw.get("begin", 0))
        self.eta_min, self.eta_min_ratio = eta_min, eta_min_ratio
        super().__init__(optimizer, **kw)

    def _floor(self, base: float) -> float:
        return self.eta_min if self.eta_min_ratio is None else base * self.eta_min_ratio  # type: ignore[return-value]

    def values(self) -> list[float]:
        """The cosine in mmengine's recursive form (SGDR form, restarting every ``2 * T_max``)."""
        t, period = self.last_step, self.T_max
        if t == 0:
            return self.current()
        if (t - 1 - period) % (2 * period) == 0:
            return [value + (base - self._floor(base)) * (1 - math.cos(math.pi / period)) / 2
                    for base, value in zip(self.base_values, self.current())]  # fmt: skip
        ratio = (1 + math.cos(math.pi * t / period)) / (1 + math.cos(math.pi * (t - 1) / period))
        return [ratio * (value - self._floor(base)) + self._floor(base)
                for base, value in zip(self.base_values, self.current())]  # fmt: skip


class MultiStepLR(ParamScheduler):
    """The lr times ``gamma`` at each milestone (a milestone listed twice applies twice)."""

    def __init__(self, optimizer: torch.optim.Optimizer, *, milestones: Sequence[int], gamma: float = 0.1,
                 **kw: Any) -> None:  # fmt: skip
        self.milestones: dict[int, int] = {}
        for milestone in milestones:
            self.milestones[int(milestone)] = self.milestones.get(int(milestone), 0) + 1
        self.gamma = gamma
        super().__init__(optimizer, **kw)

    def values(self) -> list[float]:
        """Unchanged except at a milestone."""
        if self.last_step not in self.milestones:
            return self.current()
        return [value * self.gamma ** self.milestones[self.last_step] for value in self.current()]


class StepLR(ParamScheduler):
    """The lr times ``gamma`` every ``step_size`` steps."""

    def __init__(self, optimizer: torch.optim.Optimizer, *, step_size: int, gamma: float = 0.1, **kw: Any) -> None:
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, **kw)

    def values(self) -> list[float]:
        """Unchanged except every ``step_size`` steps."""
        if self.last_step == 0 or self.last_step % self.step_size != 0:
            return self.current()
        return [value * self.gamma for value in self.current()]


SCHEDULERS: dict[str, type[ParamScheduler]] = {
    cls.__name__: cls for cls in (LinearLR, ConstantLR, CosineAnnealingLR, MultiStepLR, StepLR)
}


def build_param_scheduler(
    optimizer: torch.optim.Optimizer,
    name: str,
    *,
    by_epoch: bool = True,
    convert_to_iter_based: bool = False,
    epoch_length: int | None = None,
    **kwargs: Any,
) -> ParamScheduler:
    """The scheduler ``name`` (a key of :data:`SCHEDULERS`) with mmengine's keywords.

    ``convert_to_iter_based`` (with ``by_epoch=True`` and ``epoch_length``) scales the
    epoch positions to iterations as mmengine's ``build_iter_from_epoch``.
    """
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r} (known: {', '.join(SCHEDULERS)})")
    if convert_to_iter_based:
        if not by_epoch:
            raise ValueError("convert_to_iter_based needs an epoch-based scheduler (by_epoch=True)")
        if not epoch_length or epoch_length < 1:
            raise ValueError(f"convert_to_iter_based needs a positive epoch_length, got {epoch_length}")
        by_epoch = False
        kwargs["begin"] = int(kwargs.get("begin", 0) * epoch_length)
        kwargs["end"] = _scaled(kwargs.get("end", INF), epoch_length)
        if kwargs.get("T_max") is not None:
            kwargs["T_max"] = kwargs["T_max"] * epoch_length
        if "step_size" in kwargs:
            kwargs["step_size"] = kwargs["step_size"] * epoch_length
        if "milestones" in kwargs:
            kwargs["milestones"] = [m * epoch_length for m in kwargs["milestones"]]
    return SCHEDULERS[name](optimizer, by_epoch=by_epoch, **kwargs)


class ParamSchedulers:
    """The ``param_scheduler`` list as the runner steps it (mmengine's ``ParamSchedulerHook``).

    Args:
        schedulers: Built schedulers, in config order (the order they act in).
        per_optimizer_step: Schedulers with a plain ``step()`` (torch's ``OneCycleLR``)
            stepped after each optimizer step instead.
    """

    def __init__(self, schedulers: Iterable[ParamScheduler], per_optimizer_step: Iterable[Any] = ()) -> None:
        self.schedulers = list(schedulers)
        self.per_optimizer_step = list(per_optimizer_step)

    def after_iter(self) -> None:
        """Step the iteration-based schedulers."""
        for scheduler in self.schedulers:
            if not scheduler.by_epoch:
                scheduler.step()

    def after_epoch(self) -> None:
        """Step the epoch-based schedulers."""
        for scheduler in self.schedulers:
            if scheduler.by_epoch:
                scheduler.step()

    def after_optimizer_step(self) -> None:
        """Step the per-optimizer-step schedulers."""
        for scheduler in self.per_optimizer_step:
            scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        """Every scheduler's state, in order."""
        return {"schedulers": [s.state_dict() for s in self.schedulers],
                "per_optimizer_step": [s.state_dict() for s in self.per_optimizer_step]}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (the same schedulers, in the same order)."""
        for key in ("schedulers", "per_optimizer_step"):
            own, saved = getattr(self, key), state[key]
            if len(own) != len(saved):
                raise ValueError(f"the checkpoint has {len(saved)} {key}, this run {len(own)}")
            for scheduler, scheduler_state in zip(own, saved):
                scheduler.load_state_dict(scheduler_state)
