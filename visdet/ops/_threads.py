"""Run a loop of many small torch ops on the calling thread only.

visdet's RoIAlign and greedy NMS are Python loops over many small tensor ops (one pair
of tiny matmuls per RoI, one IoU block per step). With more than one intra-op thread
each of those ops enters a parallel region (oneMKL / OpenMP), which buys little at
these sizes and costs a great deal when the machine's cores are busy with other work:
a parallel region waits for its slowest thread, and a thread that lost its core stalls
every op. Measured on a shared 2-core machine (Faster R-CNN R50-FPN, 1000 RoIs): the
RoI extractor took 0.18 s idle with 2 threads but 0.6 to 21 s under load, against
0.26 s with 1 thread under the same load.

:func:`single_threaded` sets torch's intra-op threads to 1 inside the block and puts
the previous count back after it (``torch.set_num_threads``, well under a microsecond).
The count is process-wide for oneMKL, so torch work running concurrently in *other*
Python threads also runs single-threaded during the block.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def single_threaded() -> Iterator[None]:
    """Within the block, torch ops use one intra-op thread (restored on exit)."""
    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
