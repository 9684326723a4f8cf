"""One fresh measuring process of the gate: time (and optionally count) some cases.

Run by the runner in one commit's environment, with only the harness (a copy of
``benchmarks/``) on ``PYTHONPATH``, so ``import visdet`` is that commit's::

    python -m benchmarks.gate.worker --cases nms,backbone --out result.json [--counters]

For each case: build it (the asv suite's ``setup_cache`` and ``setup``), one warm-up
call, then ``--repeats`` timed blocks of calls, each block at least ``--min-block``
seconds; a block's time is divided by its calls. With ``--counters`` it also counts,
on one further call, FLOPs (``torch.utils.flop_counter``), ATen operator calls (a
``TorchDispatchMode``) and the peak of live tensor bytes (visdet bench's tracker).
These are deterministic for seeded inputs: any change is the code's, not the machine's.
A case whose setup raises ``NotImplementedError`` (component missing at that commit)
is ``n/a``; any other exception is an ``error`` with its message.
"""

from __future__ import annotations

import argparse
import collections
import importlib
import json
import math
import statistics
import sys
import time
import traceback
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from benchmarks._common import with_injected_slowdown
from benchmarks.gate.cases import Case, select


class AtenCounter(TorchDispatchMode):
    """Counts ATen operator calls (every op that reaches the dispatcher), by name."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, D105
        self.calls[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


def count(fn) -> dict[str, Any]:  # noqa: ANN001
    """FLOPs, ATen calls (total and the per-operator counts) and peak tensor bytes of ``fn()``."""
    out: dict[str, Any] = {}
    with FlopCounterMode(display=False) as flops:
        fn()
    out["flops"] = int(flops.get_total_flops())
    counter = AtenCounter()
    with counter:
        fn()
    out["aten_calls"] = int(sum(counter.calls.values()))
    out["aten_ops"] = dict(counter.calls)
    try:  # the tracker of `visdet bench` (absent at old commits)
        from visdet.benchmark.memory import _StorageTracker
    except ImportError:
        return out
    tracker = _StorageTracker()
    with tracker:
        result = fn()
    del result
    out["peak_bytes"] = int(tracker.peak)
    return out


def build(case: Case):  # noqa: ANN201
    """(suite instance, zero-argument timed call, teardown) of ``case``."""
    module_name, class_name = case.suite.rsplit(".", 1)
    suite = getattr(importlib.import_module(f"benchmarks.{module_name}"), class_name)()
    args: tuple = case.params
    if hasattr(suite, "setup_cache"):
        args = (suite.setup_cache(), *args)
    if hasattr(suite, "setup"):
        suite.setup(*args)
    method = getattr(suite, case.method)

    def call() -> Any:
        return method(*args)

    def teardown() -> None:
        if hasattr(suite, "teardown"):
            suite.teardown(*args)

    return call, teardown


def time_blocks(fn, repeats: int, min_block: float) -> list[float]:  # noqa: ANN001
    """Seconds per call of ``repeats`` blocks, after one warm-up call that sizes the blocks."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    number = max(1, math.ceil(min_block / max(first, 1e-9)))
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        out.append((time.perf_counter() - start) / number)
    return out


def measure(case: Case, repeats: int, min_block: float, counters: bool) -> dict[str, Any]:
    """The record of one case (status ok / n/a / error)."""
    try:
        call, teardown = build(case)
    except NotImplementedError as exc:
        return {"status": "n/a", "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001 - any failure of the case is reported, not raised
        return {"status": "error", "error": f"setup: {type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
    try:
        timed = with_injected_slowdown(case.inject, call) if case.inject else call
        times = time_blocks(timed, repeats, min_block)
        record: dict[str, Any] = {"status": "ok", "times": times, "time": statistics.median(times)}
        if counters:
            record["counters"] = count(call)
        teardown()
        return record
    except Exception as exc:  # noqa: BLE001
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="", help="comma-separated case names (default: the default set)")
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-block", type=float, default=0.05, help="seconds per timed block at least")
    parser.add_argument("--counters", action="store_true", help="also count FLOPs, ATen calls, peak bytes")
    args = parser.parse_args(argv)
    import visdet

    result = {
        "visdet_file": visdet.__file__,
        "torch": torch.__version__,
        "cases": {
            case.name: measure(case, args.repeats, args.min_block, args.counters) for case in select(args.cases)
        },
    }
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
