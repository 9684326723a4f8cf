"""Index samplers with mmengine's orders, seeded and aware of ``torch.distributed``.

* :class:`DefaultSampler`: one epoch; shuffled with ``torch.randperm`` seeded by
  ``seed + epoch``; padded by repeating indices so every rank gets the same count
  (``round_up``); rank r takes every world_size-th index starting at r.
* :class:`InfiniteSampler`: an endless stream of permutations from one seeded generator,
  split over ranks the same way.
* :class:`AspectRatioBatchSampler`: batches whose images are all portrait or all landscape.

With the same seed these give the same indices as mmengine / mmdet.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sized

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler


def dist_info() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` without an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def sync_random_seed() -> int:
    """A seed drawn with ``np.random.randint(2**31)`` on rank 0 and shared with all ranks."""
    seed = np.random.randint(2**31)
    rank, world_size = dist_info()
    if world_size == 1:
        return int(seed)
    value = torch.tensor(seed if rank == 0 else 0, dtype=torch.int32)
    dist.broadcast(value, src=0)
    return int(value.item())


class DefaultSampler(Sampler[int]):
    """Indices of one epoch for this rank.

    Args:
        dataset: anything with ``len``.
        shuffle: shuffle with ``torch.randperm`` seeded by ``seed + epoch``.
        seed: shared seed; drawn by :func:`sync_random_seed` when ``None``.
        round_up: pad (by repeating) to a multiple of the world size.
    """

    def __init__(self, dataset: Sized, *, shuffle: bool = True, seed: int | None = None, round_up: bool = True) -> None:
        self.rank, self.world_size = dist_info()
        self.dataset = dataset
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0
        self.round_up = round_up
        if round_up:
            self.num_samples = math.ceil(len(dataset) / self.world_size)
            self.total_size = self.num_samples * self.world_size
        else:
            self.num_samples = math.ceil((len(dataset) - self.rank) / self.world_size)
            self.total_size = len(dataset)

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(self.seed + self.epoch)
            indices = torch.randperm(len(self.dataset), generator=generator).tolist()
        else:
            indices = list(range(len(self.dataset)))
        if self.round_up:
            indices = (indices * int(self.total_size / len(indices) + 1))[: self.total_size]
        return iter(indices[self.rank : self.total_size : self.world_size])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use ``seed + epoch`` for the next shuffle."""
        self.epoch = epoch


class InfiniteSampler(Sampler[int]):
    """An endless index stream for this rank (iteration-based training).

    Args:
        dataset: anything with ``len``.
        shuffle: a new ``torch.randperm`` per pass, all from one generator seeded once.
        seed: shared seed; drawn by :func:`sync_random_seed` when ``None``.
    """

    def __init__(self, dataset: Sized, *, shuffle: bool = True, seed: int | None = None) -> None:
        self.rank, self.world_size = dist_info()
        self.dataset = dataset
        self.size = len(dataset)
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.indices = self._indices_of_rank()

    def _infinite_indices(self) -> Iterator[int]:
        generator = torch.Generator()
        generator.manual_seed(self.seed)
        while True:
            if self.shuffle:
                yield from torch.randperm(self.size, generator=generator).tolist()
            else:
                yield from range(self.size)

    def _indices_of_rank(self) -> Iterator[int]:
        yield from itertools.islice(self._infinite_indices(), self.rank, None, self.world_size)

    def __iter__(self) -> Iterator[int]:
        yield from self.indices

    def __len__(self) -> int:
        return self.size

    def set_epoch(self, epoch: int) -> None:
        """No effect (kept for the loop's interface)."""


class AspectRatioBatchSampler:
    """Group indices into batches of images with ``width < height`` or not.

    Args:
        sampler: an index sampler whose ``dataset`` has ``get_data_info(idx)`` with
            ``width`` and ``height``.
        batch_size: images per batch.
        drop_last: drop the final incomplete batch.
    """

    def __init__(self, sampler: Sampler, *, batch_size: int, drop_last: bool = False) -> None:
        if not isinstance(sampler, Sampler):
            raise TypeError(f"sampler must be a torch.utils.data.Sampler, got {type(sampler).__name__}")
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        buckets: list[list[int]] = [[], []]
        for idx in self.sampler:
            info = self.sampler.dataset.get_data_info(idx)
            bucket = buckets[0 if info["width"] < info["height"] else 1]
            bucket.append(idx)
            if len(bucket) == self.batch_size:
                yield bucket[:]
                del bucket[:]
        left = buckets[0] + buckets[1]
        while left:
            if len(left) <= self.batch_size:
                if not self.drop_last:
                    yield left[:]
                left = []
            else:
                yield left[: self.batch_size]
                left = left[self.batch_size :]

    def __len__(self) -> int:
        # mmdet quirk kept: with drop_last, __iter__ drops the mixed leftover batch even when
        # it is full, so this count can exceed the batches yielded by one.
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size
