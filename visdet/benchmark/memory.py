"""Peak memory of one call.

On CUDA the figure is ``torch.cuda.max_memory_allocated`` above what was allocated
before the call (the caching allocator's own statistic).

On CPU torch keeps no allocator statistics, so the figure is the peak of live tensor
storage bytes created during the call, tracked with a ``TorchDispatchMode``: every
operator output's storage is counted once until it is freed. It is deterministic
(good for comparing runs) but leaves out scratch buffers an operator allocates and
frees internally, and memory outside tensors (Python objects, the allocator's slack),
so it reads lower than the process's resident set.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from typing import Any

import torch
import torch.utils._pytree as pytree
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode

from visdet.benchmark.schema import Metric

CPU_METHOD = "peak live tensor storage bytes created during the call (TorchDispatchMode)"
CUDA_METHOD = "torch.cuda.max_memory_allocated minus memory allocated before the call"
HEAP_METHOD = (
    "tracemalloc: peak bytes of the Python heap (numpy arrays, Python objects) during the call "
    "minus the bytes still held when it returns (its numpy-backed outputs); torch storage not included"
)


class _StorageTracker(TorchDispatchMode):
    """Counts the bytes of live storages produced by operators, and their peak."""

    def __init__(self) -> None:
        super().__init__()
        self._live: dict[int, tuple[StorageWeakRef, int]] = {}
        self.current = 0
        self.peak = 0

    def _sweep(self) -> None:
        dead = [key for key, (ref, _) in self._live.items() if ref.expired()]
        for key in dead:
            self.current -= self._live.pop(key)[1]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, D105
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self._sweep()
        # Views and in-place results share an input's storage: nothing new was allocated.
        inputs = {
            leaf.untyped_storage()._cdata
            for leaf in pytree.tree_leaves((args, kwargs))
            if isinstance(leaf, torch.Tensor) and leaf.device.type != "meta"
        }
        for leaf in pytree.tree_leaves(out):
            if isinstance(leaf, torch.Tensor) and leaf.device.type != "meta":
                storage = leaf.untyped_storage()
                key = storage._cdata
                if key not in self._live and key not in inputs:
                    nbytes = storage.nbytes()
                    self._live[key] = (StorageWeakRef(storage), nbytes)
                    self.current += nbytes
        self.peak = max(self.peak, self.current)
        return out


def peak_memory(fn: Callable[[], Any], device: torch.device) -> Metric:
    """Peak memory of one ``fn()`` call on ``device``, in bytes (see module docstring).

    Args:
        fn: The zero-argument work; its result is dropped before returning.
        device: Where ``fn`` computes; selects the measure.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - before
        return Metric(value=float(peak), unit="B", method=CUDA_METHOD)
    tracker = _StorageTracker()
    with tracker:
        result = fn()
    del result
    return Metric(value=float(tracker.peak), unit="B", method=CPU_METHOD)


def heap_scratch(fn: Callable[[], Any]) -> Metric:
    """Python-heap scratch of one ``fn()`` call, in bytes: what :func:`peak_memory` does not see.

    numpy allocates its arrays' data through Python's allocator hooks, so ``tracemalloc``
    counts them (and every Python object). The figure is the peak traced during the call
    minus what is traced when it returns (the level before it plus the numpy buffers
    behind its outputs): the temporaries alone. Torch's CPU storage and
    compiled kernels' own buffers are not on the Python heap and are not counted. Call
    ``fn`` once before (caches, lazy imports); deterministic for a deterministic ``fn``:
    the garbage collector runs before the call and not during it, so garbage left by
    earlier code is not freed inside the call (which would lower the level at its end and
    raise the figure by whatever happened to be collected).
    """
    already = tracemalloc.is_tracing()
    collecting = gc.isenabled()
    gc.collect()
    gc.disable()
    if not already:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        held, peak = tracemalloc.get_traced_memory()
        del result
    finally:
        if not already:
            tracemalloc.stop()
        if collecting:
            gc.enable()
    return Metric(value=float(max(peak - held, 0)), unit="B", method=HEAP_METHOD)
