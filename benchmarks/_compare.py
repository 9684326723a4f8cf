"""Shared helpers of the same-process visdet-vs-mmdet comparison scripts.

``compare_predict`` and ``compare_pipeline`` run both implementations in one process,
alternating them (A, B, B, A, ...) so that load from other processes on a shared machine
hits both alike, and print a table of medians with the ``visdet / mmdet`` ratio.

Nothing here is an asv benchmark (asv imports every module of this folder, so nothing
here is named ``time_*``/``peakmem_*``/``track_*`` and mmdet is only imported lazily).
"""

from __future__ import annotations

import os
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

IMPLS = ("visdet", "mmdet")


def load_average() -> str:
    """The 1/5/15-minute load averages as text (``"n/a"`` where unsupported)."""
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "n/a"


class StageTimer:
    """Accumulates wall time per named stage while wrapped callables run.

    Usage: ``timer.patch(obj, "forward", "backbone")`` replaces ``obj.forward`` (an
    instance attribute for modules, a global for modules' functions) by a timing
    wrapper; :meth:`restore` puts every original back.
    """

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self._saved: list[tuple[Any, str, Any, bool]] = []

    def patch(self, owner: Any, attr: str, stage: str) -> None:
        """Time every call of ``owner.attr`` under ``stage``."""
        had_own = attr in vars(owner)
        original = getattr(owner, attr)
        self._saved.append((owner, attr, vars(owner).get(attr), had_own))

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.totals[stage] += time.perf_counter() - start

        setattr(owner, attr, timed)

    def reset(self) -> None:
        """Zero the accumulated times."""
        self.totals.clear()

    def restore(self) -> None:
        """Undo every :meth:`patch`, last first."""
        for owner, attr, value, had_own in reversed(self._saved):
            if had_own:
                setattr(owner, attr, value)
            else:
                delattr(owner, attr)
        self._saved.clear()


@contextmanager
def patched(timer: StageTimer) -> Iterator[StageTimer]:
    """Restore ``timer``'s patches on exit."""
    try:
        yield timer
    finally:
        timer.restore()


def interleaved(
    calls: dict[str, Callable[[], dict[str, float]]], repeats: int, warmup: int
) -> dict[str, dict[str, list[float]]]:
    """Run each implementation's call ``repeats`` times, alternating their order.

    Args:
        calls: ``impl -> call``; a call returns ``{stage: seconds}`` for one repeat.
        repeats: Timed repeats per implementation.
        warmup: Untimed calls per implementation first.

    Returns:
        ``impl -> stage -> [seconds per repeat]``.
    """
    names = list(calls)
    for _ in range(warmup):
        for name in names:
            calls[name]()
    out: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name in names}
    for rep in range(repeats):
        order = names if rep % 2 == 0 else names[::-1]
        for name in order:
            for stage, seconds in calls[name]().items():
                out[name][stage].append(seconds)
    return out


def median(values: Sequence[float]) -> float:
    """Median, NaN for no values."""
    return statistics.median(values) if values else float("nan")


def format_table(
    results: dict[str, dict[str, list[float]]],
    stages: Sequence[str],
    unit: str = "s",
    higher_is_better: bool = False,
    scale: float = 1.0,
) -> str:
    """A text table: one row per stage, visdet and mmdet medians (with min-max) and the ratio.

    Args:
        results: From :func:`interleaved`.
        stages: Row order (stages missing in both are skipped).
        unit: Unit of the figures, for the header.
        higher_is_better: Only labels the ratio column (a throughput table).
        scale: Figures are multiplied by this for display (e.g. 1000 with ``unit="ms"``).
    """
    ratio = "v/m" + (" (>1 faster)" if higher_is_better else " (>1 slower)")
    head = f"{'stage':<28} {'visdet ' + unit:>26} {'mmdet ' + unit:>26} {ratio:>12}"
    lines = [head, "-" * len(head)]
    for stage in stages:
        cells, meds = [], []
        for impl in IMPLS:
            values = [v * scale for v in results.get(impl, {}).get(stage, [])]
            med = median(values)
            meds.append(med)
            cells.append(f"{med:8.4g} [{min(values):.4g}-{max(values):.4g}]" if values else "n/a")
        if all(c == "n/a" for c in cells):
            continue
        ratio_text = f"{meds[0] / meds[1]:.2f}" if meds[1] and meds[1] == meds[1] and meds[0] == meds[0] else "n/a"
        lines.append(f"{stage:<28} {cells[0]:>26} {cells[1]:>26} {ratio_text:>12}")
    return "\n".join(lines)
