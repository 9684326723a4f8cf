"""Learning-rate schedules stepped once per optimizer step, and a plot of them.

Names (``build_scheduler(name=...)``):

* ``"1cycle"``: ``torch.optim.lr_scheduler.OneCycleLR`` with each group's LR as its
  peak; it also cycles momentum (SGD) or beta1 (Adam/AdamW) inversely.
* ``"cosine"``: ``min_lr_ratio + (1 - min_lr_ratio) * (1 + cos(pi * t / T)) / 2`` times
  the base LR, ``T = total_steps``.
* ``"step"``: ``gamma ** (t // step_size)``.
* ``"multistep"``: ``gamma ** (number of milestones <= t)``.
* ``"constant"``: 1.

Every schedule but 1cycle can add a linear warmup: over the first ``warmup_steps`` steps
the factor above is multiplied by ``warmup_ratio + (1 - warmup_ratio) * t / warmup_steps``
(as mmdet's configs run ``LinearLR(start_factor=warmup_ratio, end=warmup_steps)``
alongside the main schedule from step 0). Factors multiply each group's initial LR, so
discriminative group LRs keep their ratios.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR

SCHEDULES = ("1cycle", "cosine", "step", "multistep", "constant")


@dataclass
class ScheduleFactor:
    """The LR factor at step ``t`` of a warmup + main schedule (picklable, for ``LambdaLR``)."""

    name: str
    total_steps: int
    warmup_steps: int = 0
    warmup_ratio: float = 0.001
    min_lr_ratio: float = 0.0
    step_size: int = 1
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1

    def main(self, t: int) -> float:
        """The main schedule's factor at step ``t``."""
        if self.name == "cosine":
            progress = min(t, self.total_steps) / self.total_steps
            return self.min_lr_ratio + (1 - self.min_lr_ratio) * (1 + math.cos(math.pi * progress)) / 2
        if self.name == "step":
            return self.gamma ** (t // self.step_size)
        if self.name == "multistep":
            return self.gamma ** bisect.bisect_right(self.milestones, t)
        return 1.0

    def __call__(self, t: int) -> float:
        """The factor at step ``t``: the main schedule's, times the warmup's while it lasts."""
        factor = self.main(t)
        if t < self.warmup_steps:
            factor *= self.warmup_ratio + (1 - self.warmup_ratio) * t / self.warmup_steps
        return factor


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    *,
    name: str,
    total_steps: int,
    warmup_steps: int = 0,
    warmup_ratio: float = 0.001,
    min_lr_ratio: float = 0.0,
    step_size: int | None = None,
    milestones: Sequence[int] = (),
    gamma: float = 0.1,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    cycle_momentum: bool = True,
) -> LRScheduler:
    """A per-step LR scheduler for ``optimizer``.

    Args:
        optimizer: Its groups' current LRs are the base (peak for 1cycle) LRs.
        name: One of :data:`SCHEDULES`.
        total_steps: Optimizer steps in the run.
        warmup_steps: Linear warmup length (not for 1cycle, which warms up itself).
        warmup_ratio: Warmup start factor.
        min_lr_ratio: Cosine floor, as a fraction of the base LR.
        step_size: Steps between decays for ``"step"``.
        milestones: Steps where ``"multistep"`` decays.
        gamma: Decay factor of step / multistep.
        pct_start: 1cycle: fraction of the steps spent increasing.
        div_factor: 1cycle: start LR = peak / div_factor.
        final_div_factor: 1cycle: final LR = start LR / final_div_factor.
        cycle_momentum: 1cycle: cycle momentum / beta1 too.

    Returns:
        A ``torch.optim.lr_scheduler`` object; call ``step()`` after each optimizer step.
    """
    if name not in SCHEDULES:
        raise ValueError(f"scheduler must be one of {SCHEDULES}, got {name!r}")
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0 <= warmup_steps <= total_steps:
        raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}], got {warmup_steps}")
    if name == "1cycle":
        if warmup_steps:
            raise ValueError("1cycle warms up by itself (pct_start); do not set warmup_steps")
        peaks = [group["lr"] for group in optimizer.param_groups]
        return OneCycleLR(
            optimizer,
            max_lr=peaks,
            total_steps=total_steps,
            pct_start=pct_start,
            div_factor=div_factor,
            final_div_factor=final_div_factor,
            cycle_momentum=cycle_momentum,
        )
    if name == "step" and (step_size is None or step_size < 1):
        raise ValueError(f"the step schedule needs step_size >= 1, got {step_size}")
    factor = ScheduleFactor(
        name=name,
        total_steps=total_steps,
        warmup_steps=warmup_steps,
        warmup_ratio=warmup_ratio,
        min_lr_ratio=min_lr_ratio,
        step_size=step_size or 1,
        milestones=sorted(int(m) for m in milestones),
        gamma=gamma,
    )
    return LambdaLR(optimizer, lr_lambda=factor)


def schedule_values(*, base_lr: float = 1.0, total_steps: int, **kwargs: object) -> list[float]:
    """The LR at every step ``0 .. total_steps - 1`` of a schedule (on a throwaway optimizer)."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=base_lr, momentum=0.9)
    scheduler = build_scheduler(optimizer, total_steps=total_steps, **kwargs)  # type: ignore[arg-type]
    values = []
    for _ in range(total_steps):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return values


def plot_schedule(path: str | Path, *, base_lr: float = 1.0, total_steps: int, **kwargs: object) -> Path:
    """Draw the schedule (LR against step) to a PNG at ``path``; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = schedule_values(base_lr=base_lr, total_steps=total_steps, **kwargs)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(range(total_steps), values)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    ax.set_title(str(kwargs.get("name", "schedule")))
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
