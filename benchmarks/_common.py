"""Shared helpers of the asv suites (read only by the suites, never by the library).

Environment switches:

* ``ASV_SKIP_SLOW=1``: cases marked slow raise ``NotImplementedError`` in ``setup``
  (asv reports them as skipped).
* ``VISDET_BENCH_THREADS``: torch threads for every benchmark (default 1).
* ``VISDET_BENCH_INJECT_SLOWDOWN="nms:1.5,roi_align:2"``: the named visdet ops are
  wrapped to take that many times as long (burning CPU time after the real call), so the
  harness itself can be tested: an A/A run must report nothing, an injected run must
  report the slowdown.
* ``VISDET_BENCH_INJECT_COMMIT=<sha prefix>``: inject only while asv benchmarks that
  commit (asv exports ``ASV_COMMIT`` to benchmark processes), so one
  ``asv continuous BASE HEAD`` measures a clean base against a slowed head.

The suites import visdet through its public modules only, with guarded imports, so
the same suite runs against old commits (a component missing there is skipped).
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable
from typing import Any

import torch

IMPLS = ["visdet", "mmdet"]
SEED = 0
SLOWDOWN_ENV = "VISDET_BENCH_INJECT_SLOWDOWN"
SLOWDOWN_COMMIT_ENV = "VISDET_BENCH_INJECT_COMMIT"


def configure_torch() -> None:
    """Fix threads (``VISDET_BENCH_THREADS``, default 1) and the seed."""
    torch.set_num_threads(int(os.environ.get("VISDET_BENCH_THREADS", "1")))
    torch.manual_seed(SEED)


def skip_slow(slow: bool) -> None:
    """Skip a slow case when ``ASV_SKIP_SLOW`` is set."""
    if slow and os.environ.get("ASV_SKIP_SLOW", "") not in ("", "0"):
        raise NotImplementedError("slow case skipped (ASV_SKIP_SLOW is set)")


def load(*candidates: str) -> Any:
    """First importable ``"module:attribute"``; NotImplementedError (asv: skipped) otherwise."""
    reasons = []
    for candidate in candidates:
        module_name, _, attr = candidate.partition(":")
        try:
            found = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            reasons.append(f"{candidate}: {exc}")
            continue
        if not callable(found) or type(found).__name__ == "module":
            reasons.append(f"{candidate}: not callable")
            continue
        return found
    raise NotImplementedError("not available: " + "; ".join(reasons))


def parse_slowdowns(spec: str) -> dict[str, float]:
    """``"nms:1.5,roi_align:2"`` -> ``{"nms": 1.5, "roi_align": 2.0}``.

    Raises:
        ValueError: An entry is not ``name:factor`` with a factor >= 1.
    """
    out = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        name, sep, factor = entry.partition(":")
        try:
            value = float(factor)
        except ValueError:
            value = float("nan")
        if not sep or not name or not value >= 1.0:
            raise ValueError(f"{SLOWDOWN_ENV}: expected name:factor with factor >= 1, got {entry!r}")
        out[name] = value
    return out


def with_injected_slowdown(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, or ``fn`` made ``factor`` times slower when ``name`` is in the env switch."""
    factor = parse_slowdowns(os.environ.get(SLOWDOWN_ENV, "")).get(name)
    if factor is None or factor == 1.0:
        return fn
    only_commit = os.environ.get(SLOWDOWN_COMMIT_ENV, "")
    if only_commit and not os.environ.get("ASV_COMMIT", "").startswith(only_commit):
        return fn

    def slowed(*args: Any, **kwargs: Any) -> Any:
        # The wait burns CPU time (the process's clock), as much as the call took times
        # (factor - 1): like more real work, it takes longer in wall time when the
        # process gets less of the CPU, so it scales under load as the call itself does
        # (a wall-clock wait would not), and a CPU-time measure sees it too.
        start = time.process_time()
        result = fn(*args, **kwargs)
        until = start + (time.process_time() - start) * factor
        while time.process_time() < until:
            pass
        return result

    return slowed


def random_boxes(num: int, gen: torch.Generator, image_size: float = 1000.0, max_side: float = 200.0) -> torch.Tensor:
    """``Tensor[num, 4]`` xyxy float32 boxes inside a square image."""
    xy = torch.rand(num, 2, generator=gen) * image_size
    wh = 4.0 + torch.rand(num, 2, generator=gen) * (max_side - 4.0)
    return torch.cat([xy, (xy + wh).clamp(max=image_size)], dim=1)


def generator() -> torch.Generator:
    """A CPU generator seeded with :data:`SEED`."""
    return torch.Generator().manual_seed(SEED)
