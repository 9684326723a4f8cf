"""A background load: busy processes that keep cores occupied while a benchmark runs.

The ops that loop over small tensor operations behave very differently when other
processes compete for the cores (each small parallel region waits for its slowest
thread), so ``visdet bench --load N`` and the same-process comparison scripts measure
both situations. Each busy process spins in pure Python, ends by itself after
``max_seconds`` (so a crashed benchmark cannot leave it behind for long), and is
terminated when the block exits.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

_SPIN = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"


@contextmanager
def background_load(processes: int, max_seconds: float = 900.0) -> Iterator[list[subprocess.Popen]]:
    """Keep ``processes`` busy-looping processes running for the duration of the block.

    Args:
        processes: How many (0: none, the block runs as is).
        max_seconds: Each process exits by itself after this long, whatever happens here.

    Yields:
        The running processes.
    """
    if processes < 0:
        raise ValueError(f"load must be >= 0 processes, got {processes}")
    if max_seconds <= 0:
        raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
    code = _SPIN.format(seconds=float(max_seconds))
    started = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(processes)]
    try:
        if started:
            time.sleep(0.2)  # let the scheduler see them before the first timing
        yield started
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
