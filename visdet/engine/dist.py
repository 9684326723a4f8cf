"""Distributed training helpers on ``torch.distributed`` (launched by ``torchrun``).

``torchrun --nproc_per_node=N train.py`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init_distributed` reads them (and
``VISDET_DIST_TIMEOUT``, seconds a collective waits for the other ranks). When a rank dies
the others do not hang: ``torchrun`` stops them and names the failed rank; a rank whose
collective fails raises :class:`DistributedTrainingError` naming itself and the ranks
that stopped answering. Only rank 0
logs, writes checkpoints and shows progress (:func:`is_main_process`); metrics are
gathered with :func:`all_reduce_mean` (losses) and ``visdet.evaluation.gather``
(predictions).
"""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta

import torch
import torch.distributed as dist

# Seconds a collective may wait for the other ranks before failing (torch's default is
# 30 minutes for gloo, 10 for nccl); read by init_distributed.
TIMEOUT_ENV = "VISDET_DIST_TIMEOUT"
# How long a rank that saw a collective fail waits for the others to check in, to find
# out which rank is gone.
PROBE_TIMEOUT_S = 5.0


class DistributedTrainingError(RuntimeError):
    """A collective operation failed: another rank died, hung or lost its connection.

    The message names this rank and, when the process group's store can tell, the ranks
    that stopped answering (:func:`missing_ranks`).
    """


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
    timeout = os.environ.get(TIMEOUT_ENV)
    kwargs = {"timeout": timedelta(seconds=float(timeout))} if timeout else {}
    dist.init_process_group(backend=backend, **kwargs)
    return True


_COMM_ERROR = re.compile(r"gloo|nccl|connection (reset|closed|refused)|timed out|broken pipe|socket", re.IGNORECASE)


def is_communication_error(err: BaseException) -> bool:
    """Whether ``err`` looks like a failed collective (rather than this rank's own bug)."""
    dist_error = getattr(dist, "DistError", None)
    if dist_error is not None and isinstance(err, dist_error):
        return True
    return isinstance(err, RuntimeError) and bool(_COMM_ERROR.search(str(err)))


def missing_ranks(timeout_s: float = PROBE_TIMEOUT_S) -> list[int] | None:
    """The ranks that do not check in within ``timeout_s`` after a collective failed.

    Every rank that sees a collective fail writes ``visdet/alive/<rank>`` into the
    process group's key-value store (torchrun's agent or rank 0 hosts it), then waits
    for the others' keys; the ranks whose key never comes are the ones that died.
    Returns ``None`` when the store cannot be reached (e.g. it lived in the dead rank).
    """
    if not is_distributed():
        return None
    try:
        store = dist.distributed_c10d._get_default_store()
        store.set(f"visdet/alive/{get_rank()}", "1")
        missing = set(range(get_world_size()))
        deadline = time.monotonic() + timeout_s
        while True:
            missing = {r for r in missing if not store.check([f"visdet/alive/{r}"])}
            if not missing or time.monotonic() >= deadline:
                return sorted(missing)
            time.sleep(0.05)
    except Exception:  # noqa: BLE001 - the store is gone too: nothing more to learn
        return None


def describe_failure(err: BaseException, iteration: int) -> DistributedTrainingError:
    """A :class:`DistributedTrainingError` for the failed collective ``err`` at ``iteration``."""
    rank, world = get_rank(), get_world_size()
    gone = missing_ranks()
    if gone:
        who = f"rank{'s' if len(gone) > 1 else ''} {', '.join(map(str, gone))} stopped answering"
    else:
        who = "another rank probably died or lost its connection"
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return DistributedTrainingError(
        f"rank {rank} of {world}: a collective operation failed at iteration {iteration + 1}: {who} "
        f"({type(err).__name__}: {first_line})"
    )


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
