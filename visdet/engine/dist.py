"""Distributed training helpers on ``torch.distributed`` (launched by ``torchrun``).

``torchrun --nproc_per_node=N train.py`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init_distributed` reads them. Only rank 0
logs, writes checkpoints and shows progress (:func:`is_main_process`); metrics are
gathered with :func:`all_reduce_mean` (losses) and ``visdet.evaluation.gather``
(predictions).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """Whether a process group with more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    """Rank 0: the process that logs and saves."""
    return get_rank() == 0


def init_distributed(backend: str | None = None) -> bool:
    """Initialise the default process group from torchrun's environment variables.

    Args:
        backend: ``"nccl"`` or ``"gloo"``; default ``nccl`` with CUDA, else ``gloo``.

    Returns:
        True when a group was initialised (``WORLD_SIZE`` > 1), False for a single process.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1 or (dist.is_available() and dist.is_initialized()):
        return is_distributed()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return True


def barrier() -> None:
    """Wait for every process (no-op for a single process)."""
    if is_distributed():
        dist.barrier()


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """The mean of ``value`` over processes (a copy; ``value`` itself for one process)."""
    if not is_distributed():
        return value
    out = value.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / get_world_size()
