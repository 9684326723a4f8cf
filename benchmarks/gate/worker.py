"""One fresh measuring process of the gate: it builds some cases, then times blocks on request.

Started by the runner in one commit's environment, with only the harness (a copy of
``benchmarks/``) on ``PYTHONPATH``, so ``import visdet`` is that commit's::

    python -m benchmarks.gate.worker --cases nms,backbone   # JSON lines on stdin / stdout

The runner keeps one worker of each side alive per pair and asks them in turn for a
block of calls of the same case (base, head, head, base, ...), so that blocks compared
with each other are measured within a second of each other. A block is timed on two
clocks: wall time and the process's CPU time. ``count`` measures, on one further call,
FLOPs (``torch.utils.flop_counter``), ATen operator calls (a ``TorchDispatchMode``) and
the peak of live tensor bytes (visdet bench's tracker): deterministic for seeded
inputs, so any change is the code's, not the machine's. A case whose setup raises
``NotImplementedError`` (component missing at that commit) is ``n/a``; any other
exception is an ``error`` with its message.
"""

from __future__ import annotations

import argparse
import collections
import importlib
import json
import sys
import time
import traceback
from typing import Any, TextIO

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


def block(fn, number: int) -> dict[str, float]:  # noqa: ANN001
    """Seconds per call of ``number`` calls, wall (``perf_counter``) and CPU (``process_time``)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(number):
        fn()
    return {"cpu": (time.process_time() - cpu) / number, "wall": (time.perf_counter() - wall) / number}


def prepare(case: Case) -> tuple[dict[str, Any], Any]:
    """(status record, (timed call, plain call, teardown) or None) of ``case``."""
    try:
        call, teardown = build(case)
    except NotImplementedError as exc:
        return {"status": "n/a", "reason": str(exc)}, None
    except Exception as exc:  # noqa: BLE001 - any failure of the case is reported, not raised
        error = f"setup: {type(exc).__name__}: {exc}"
        return {"status": "error", "error": error, "trace": traceback.format_exc()}, None
    timed = with_injected_slowdown(case.inject, call) if case.inject else call
    return {"status": "ok"}, (timed, call, teardown)


def serve(cases: list[Case], stdin: TextIO, stdout: TextIO) -> None:
    """Build ``cases``, say so on ``stdout``, then answer one JSON command per line of ``stdin``.

    Commands: ``{"op": "block", "case": c, "number": k}`` (time k calls: ``{"cpu", "wall"}``
    seconds per call; the first block of a case is its warm-up), ``{"op": "count", "case":
    c}`` (the counters) and ``{"op": "quit"}``. A failing call answers ``{"error": ...}``.
    """
    import visdet

    sys.stdout = sys.stderr  # anything the cases print stays out of the answers
    built = {case.name: prepare(case) for case in cases}
    ready = {"visdet_file": visdet.__file__, "torch": torch.__version__,
             "cases": {name: status for name, (status, _) in built.items()}}  # fmt: skip
    stdout.write(json.dumps(ready) + "\n")
    stdout.flush()
    for line in stdin:
        command = json.loads(line)
        if command["op"] == "quit":
            break
        timed, call, _ = built[command["case"]][1]
        try:
            if command["op"] == "block":
                answer: dict[str, Any] = block(timed, int(command["number"]))
            else:
                answer = count(call)
        except Exception as exc:  # noqa: BLE001
            answer = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()
    for _, parts in built.values():
        if parts is not None:
            parts[2]()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="", help="comma-separated case names (default: the default set)")
    args = parser.parse_args(argv)
    serve(select(args.cases), sys.stdin, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
