"""The training loop: epoch- or iteration-based, resumable at any optimizer step.

Data order: each epoch's batches are the loader's batch sampler's index lists for that
epoch (``sampler.set_epoch(epoch)``, so mmengine's seeded shuffles). The runner builds a
fresh ``DataLoader`` over the remaining index lists of the epoch whenever it (re)starts
iterating: at each epoch start, on resume (skipping the batches already done, without
loading them), and when a hook sets ``runner.restart_loader`` (progressive resizing
changes the pipeline in the main process; the new loader's workers start from the
updated dataset, so no shared state between processes is needed). That loader gets
its own ``torch.Generator``, so creating it draws nothing from the global RNG and an
interrupted-then-resumed run sees exactly the batches of an uninterrupted one. The
cost: workers start once per epoch (``persistent_workers`` of the given loader has no
effect here).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader

from visdet.data.samplers import InfiniteSampler


def index_sampler(loader: DataLoader) -> Any:
    """The per-index sampler under ``loader`` (inside its batch sampler when there is one)."""
    return getattr(loader.batch_sampler, "sampler", None) or loader.sampler


def epoch_batches(loader: DataLoader, *, epoch: int, skip: int = 0) -> DataLoader:
    """A loader over the batches of ``epoch`` after the first ``skip`` (indices drawn, nothing loaded).

    Args:
        loader: The training loader (``DefaultSampler``; finite).
        epoch: Epoch number given to ``sampler.set_epoch``.
        skip: Batches of this epoch already done.
    """
    sampler = index_sampler(loader)
    if isinstance(sampler, InfiniteSampler):
        raise ValueError("the runner counts epochs itself: build the training loader with sampler='DefaultSampler'")
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)
    batches = [list(b) for b in loader.batch_sampler][skip:]
    return DataLoader(
        loader.dataset,
        batch_sampler=batches,
        collate_fn=loader.collate_fn,
        num_workers=loader.num_workers,
        worker_init_fn=loader.worker_init_fn,
        pin_memory=loader.pin_memory,
        generator=torch.Generator().manual_seed(epoch),
    )


class TrainLoop:
    """Run batches until ``max_epochs`` epochs or ``max_iters`` batches are done.

    Args:
        loader: The training loader.
        max_epochs: Epoch-based: number of epochs (exclusive with ``max_iters``).
        max_iters: Iteration-based: number of batches.
    """

    def __init__(self, *, loader: DataLoader, max_epochs: int | None = None, max_iters: int | None = None) -> None:
        if (max_epochs is None) == (max_iters is None):
            raise ValueError(f"give exactly one of max_epochs and max_iters, got {max_epochs=} and {max_iters=}")
        self.loader = loader
        self.epoch_len = len(loader)
        if self.epoch_len == 0:
            raise ValueError("the training loader yields no batches (empty dataset, or drop_last with too few images)")
        self.by_epoch = max_epochs is not None
        limit = max_epochs if max_epochs is not None else max_iters
        if limit is None or limit < 1:
            raise ValueError(f"max_epochs / max_iters must be >= 1, got {limit}")
        self.max_iters = limit * self.epoch_len if self.by_epoch else limit

    def batches_left_in_epoch(self, runner: Any) -> int:
        """Batches of the current epoch still to run (capped by the end of training)."""
        return min(self.epoch_len - runner.inner_iter, self.max_iters - runner.iter)

    def run(self, runner: Any) -> None:
        """Train until done or until a hook requests a stop."""
        while runner.iter < self.max_iters and runner.stop_reason is None:
            runner.restart_loader = False
            epoch_done = False
            runner.call_hook("before_train_epoch")
            for batch in epoch_batches(self.loader, epoch=runner.epoch, skip=runner.inner_iter):
                runner.run_iter(batch)
                if runner.inner_iter >= self.epoch_len:
                    epoch_done = True
                    break
                if runner.iter >= self.max_iters or runner.restart_loader:
                    break
                if runner.stop_reason is not None and runner.at_step_boundary:
                    break
            else:  # the epoch's batches ran out
                epoch_done = True
            if epoch_done:
                runner.epoch += 1
                runner.inner_iter = 0
                runner.call_hook("after_train_epoch")
            elif runner.stop_reason is not None and runner.at_step_boundary:
                break
