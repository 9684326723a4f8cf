"""Run the ops' Python loops of small tensor operations on one intra-op thread.

RoIAlign and greedy NMS are loops of many small operations (a few matmuls per RoI, an
IoU block per 256 boxes). Each small operation still opens a parallel region over
torch's intra-op threads and waits at its end for the slowest of them. On an idle
machine that costs little; when other processes keep every core busy, a descheduled
worker thread stalls every one of those thousands of regions: on 2 busy cores visdet's
RoIAlign in a Faster R-CNN predict took a median 13.7 s (up to 26 s) against mmcv's
single-threaded kernel's 0.44 s, and its NMS 9x mmcv's. One thread for the loop makes
those regions serial, which is what mmcv's CPU kernels do. The same holds for a single
gather of a few thousand elements (``boxes[order]`` of 1000 boxes: 7 ms against 13 us with
one core busy), so the public ops (``nms``, ``batched_nms``, ``soft_nms``, ``multiclass_nms``,
``roi_align``'s no-grad max pass) run their whole CPU path past the small-input fast paths
(numpy, no torch threads) inside :func:`loop_threads`; so does the one torch call of those
fast paths, soft-NMS's gaussian ``exp`` (MKL's vector math, which threads by itself: 5.4 ms
for 400 values on 2 threads with both cores busy, 9 us on one).

:func:`loop_threads` sets ``torch.set_num_threads(1)`` for the duration of a loop and
restores the previous count. With torch's OpenMP backend the count belongs to the calling
thread, and a thread that never set one starts from the last count set anywhere, even
inside another thread's loop. So nesting is tracked per Python thread (the outermost
block lowers and restores), and the count restored is the one found when no thread was
inside a loop, so a thread started meanwhile does not keep the lowered count.
``VISDET_OP_THREADS`` overrides the loop's thread count (``0``: leave torch's setting
alone).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

ENV_VARIABLE = "VISDET_OP_THREADS"
_state = threading.local()
_lock = threading.Lock()
_active = 0  # threads inside a loop block
_outside = 0  # torch's count when the first of them entered


def _loop_thread_count() -> int:
    raw = os.environ.get(ENV_VARIABLE, "1").strip()
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{ENV_VARIABLE} must be an integer (0: use torch's thread count), got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{ENV_VARIABLE} must be >= 0, got {value}")
    return value


@contextmanager
def loop_threads() -> Iterator[None]:
    """Lower torch's intra-op thread count to ``VISDET_OP_THREADS`` (default 1) inside the block."""
    wanted = _loop_thread_count()
    if wanted == 0 or torch.jit.is_scripting() or torch.jit.is_tracing():
        yield
        return
    global _active, _outside
    depth = getattr(_state, "depth", 0)
    if depth == 0:
        with _lock:
            if _active == 0:
                _outside = torch.get_num_threads()
            _active += 1
        if wanted < torch.get_num_threads():
            torch.set_num_threads(wanted)
    _state.depth = depth + 1
    try:
        yield
    finally:
        _state.depth -= 1
        if _state.depth == 0:
            with _lock:
                _active -= 1
                restore = _outside
            if torch.get_num_threads() != restore:
                torch.set_num_threads(restore)
