"""``build_dataloader``: a ``torch.utils.data.DataLoader`` set up as mmengine's runner does."""

from __future__ import annotations

import random
from functools import partial
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from visdet.data.collate import pseudo_collate
from visdet.data.samplers import AspectRatioBatchSampler, DefaultSampler, dist_info


def seed_worker(worker_id: int, *, num_workers: int, rank: int, seed: int) -> None:
    """Seed numpy, ``random`` and torch in a worker with ``num_workers * rank + worker_id + seed``."""
    worker_seed = num_workers * rank + worker_id + seed
    np.random.seed(worker_seed)
    random.seed(worker_seed)
    torch.manual_seed(worker_seed)


def build_dataloader(
    dataset: Any,
    *,
    batch_size: int,
    num_workers: int = 0,
    sampler: Sampler | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    aspect_ratio_batches: bool = False,
    drop_last: bool = False,
    persistent_workers: bool = False,
    pin_memory: bool = False,
) -> DataLoader:
    """Build a loader yielding ``{"inputs": [...], "data_samples": [...]}`` batches.

    Args:
        dataset: a dataset (e.g. :class:`visdet.data.datasets.CocoDataset`).
        batch_size: samples per batch (per rank).
        num_workers: loader worker processes.
        sampler: the index sampler (e.g. ``InfiniteSampler(dataset, seed=0)``); default a
            ``DefaultSampler(dataset, shuffle=shuffle, seed=seed)``.
        shuffle: shuffle the indices (default sampler only).
        seed: sampler seed (default sampler only) and worker seed base (drawn when ``None``).
        aspect_ratio_batches: group portrait and landscape images (``AspectRatioBatchSampler``).
        drop_last: drop the last incomplete batch.
        persistent_workers: keep workers alive between epochs (needs ``num_workers > 0``).
        pin_memory: pin batches in page-locked memory.
    """
    index_sampler = DefaultSampler(dataset, shuffle=shuffle, seed=seed) if sampler is None else sampler
    rank, _ = dist_info()
    init_fn = (
        partial(seed_worker, num_workers=num_workers, rank=rank, seed=seed) if seed is not None else None
    )
    common = dict(
        num_workers=num_workers,
        collate_fn=pseudo_collate,
        worker_init_fn=init_fn,
        persistent_workers=persistent_workers and num_workers > 0,
        pin_memory=pin_memory,
    )
    if aspect_ratio_batches:
        batches = AspectRatioBatchSampler(index_sampler, batch_size=batch_size, drop_last=drop_last)
        return DataLoader(dataset, batch_sampler=batches, **common)
    return DataLoader(dataset, batch_size=batch_size, sampler=index_sampler, drop_last=drop_last, **common)
