"""Learning-rate range test (Smith, 2015; fastai's ``lr_find``).

The LR grows exponentially from ``start_lr`` to ``end_lr`` over ``num_iters`` optimizer
steps while the loss is recorded and smoothed (bias-corrected exponential moving
average). The sweep stops early when the smoothed loss exceeds ``diverge_factor`` times
its best value (checked from step ``min_steps`` on, so noisy first batches do not end
it) or becomes non-finite. Afterwards the model's weights and buffers, the
optimizer's state (and LRs) and every RNG are restored exactly, so the test leaves no
trace. The suggestion is the LR where the smoothed loss falls fastest (steepest negative
slope against ``log10(lr)``) before its minimum.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from visdet.engine.detection_step import detection_losses, parse_losses
from visdet.engine.precision import resolve_device
from visdet.engine.rng_state import capture_rng_state, restore_rng_state


@dataclass
class LRFinderResult:
    """What the sweep saw.

    Attributes:
        lrs: LR of each recorded step.
        losses: Smoothed loss of each step.
        raw_losses: Unsmoothed loss of each step.
        suggested_lr: The steepest-descent LR, or ``None`` with fewer than 3 points.
        diverged: Whether the sweep stopped because the loss diverged.
    """

    lrs: list[float]
    losses: list[float]
    raw_losses: list[float]
    suggested_lr: float | None
    diverged: bool

    def plot(self, path: str | Path) -> Path:
        """Draw smoothed loss against LR (log axis) with the suggestion marked, as a PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(self.lrs, self.losses)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("smoothed loss")
        if self.suggested_lr is not None:
            ax.axvline(self.suggested_lr, color="red", linestyle="--", label=f"suggested {self.suggested_lr:.2e}")
            ax.legend()
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


def _cycle(loader: DataLoader) -> Iterator[Any]:
    while True:
        yield from loader


def suggest_lr(lrs: list[float], losses: list[float], *, skip_start: int = 0) -> float | None:
    """The LR of steepest descent of ``losses`` against ``log10(lrs)``, before the minimum.

    The first ``skip_start`` points (where the smoothed average is still settling) are
    not candidates; ``None`` when fewer than 3 points remain.
    """
    lrs, losses = lrs[skip_start:], losses[skip_start:]
    if len(lrs) < 3:
        return None
    slopes = np.gradient(np.asarray(losses), np.log10(np.asarray(lrs)))
    end = int(np.argmin(losses)) + 1
    return float(lrs[int(np.argmin(slopes[: max(end, 2)]))])


def find_lr(
    *,
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[nn.Module, Any, torch.device], dict[str, torch.Tensor]] = detection_losses,
    device: str | torch.device = "cpu",
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iters: int = 100,
    smoothing: float = 0.98,
    diverge_factor: float = 4.0,
    min_steps: int = 5,
) -> LRFinderResult:
    """Sweep the LR and restore everything afterwards.

    Args:
        model: The model (already on ``device``).
        loader: Batches to train on (cycled if shorter than ``num_iters``).
        optimizer: Its groups keep their LR ratios (the largest group follows the sweep).
        loss_fn: ``(model, batch, device) -> losses``.
        device: Where the batches go.
        start_lr: First LR.
        end_lr: Last LR.
        num_iters: Steps of the sweep.
        smoothing: EMA factor of the loss (0 = no smoothing).
        diverge_factor: Stop when the smoothed loss exceeds this times its best.
        min_steps: Steps before the divergence check starts.

    Returns:
        An :class:`LRFinderResult`.
    """
    if not 0 < start_lr < end_lr:
        raise ValueError(f"need 0 < start_lr < end_lr, got {start_lr} and {end_lr}")
    if num_iters < 2:
        raise ValueError(f"num_iters must be >= 2, got {num_iters}")
    dev = resolve_device(device)
    saved_model = copy.deepcopy(model.state_dict())
    saved_optimizer = copy.deepcopy(optimizer.state_dict())
    saved_rng = capture_rng_state()
    was_training = model.training
    top = max(group["lr"] for group in optimizer.param_groups)
    ratios = [group["lr"] / top for group in optimizer.param_groups]
    lrs: list[float] = []
    smoothed: list[float] = []
    raw: list[float] = []
    diverged, average, best = False, 0.0, math.inf
    model.train()
    try:
        batches = _cycle(loader)
        for step in range(num_iters):
            lr = start_lr * (end_lr / start_lr) ** (step / (num_iters - 1))
            for group, ratio in zip(optimizer.param_groups, ratios):
                group["lr"] = lr * ratio
            optimizer.zero_grad(set_to_none=True)
            total, _ = parse_losses(loss_fn(model, next(batches), dev))
            value = float(total.detach())
            if not math.isfinite(value):
                diverged = True
                break
            total.backward()
            optimizer.step()
            average = smoothing * average + (1 - smoothing) * value
            current = average / (1 - smoothing ** (step + 1))
            lrs.append(lr)
            raw.append(value)
            smoothed.append(current)
            best = min(best, current)
            if step >= min_steps and current > diverge_factor * best:
                diverged = True
                break
    finally:
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_optimizer)
        optimizer.zero_grad(set_to_none=True)
        restore_rng_state(saved_rng)
        model.train(was_training)
    return LRFinderResult(
        lrs=lrs,
        losses=smoothed,
        raw_losses=raw,
        suggested_lr=suggest_lr(lrs, smoothed, skip_start=min_steps),
        diverged=diverged,
    )
