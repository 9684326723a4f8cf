"""Every golden case against visdet in one process, without pytest.

``python -m parity.golden check`` is what the portability test runs under each CPU
setting (``parity/test_portability.py``): a fresh interpreter per setting, because
``ATEN_CPU_CAPABILITY`` and ``ONEDNN_MAX_CPU_ISA`` are read once, when torch loads. It
prints one line per failing case and a summary, and can write the per-case results as
JSON (worst absolute and relative error, the worst output, pass/fail).
"""

from __future__ import annotations

import json
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from parity.cases import Case
from parity.golden import GOLDEN_DIR, machine_record, read_manifest, run_against_golden


def _row(case: Case, seconds: float, **fields: Any) -> dict[str, Any]:
    return {"key": case.key, "component": case.component, "dtype": case.dtype, "seconds": round(seconds, 3), **fields}


def check_all(
    cases: list[Case], json_path: Path | None = None, threads: int | None = None, golden_dir: Path = GOLDEN_DIR
) -> int:
    """Compare visdet with every golden of ``cases``; 0 when all pass, 1 otherwise."""
    if threads is not None:
        torch.set_num_threads(threads)
    manifest = read_manifest(golden_dir)
    rows = []
    started = time.perf_counter()
    for case in cases:
        begin = time.perf_counter()
        try:
            result = run_against_golden(case, golden_dir, manifest)
        except Exception as err:  # a crash is a failure of that case, reported with the others
            detail = "".join(traceback.format_exception_only(type(err), err)).strip()
            rows.append(_row(case, time.perf_counter() - begin, ok=False, error=detail))
            print(f"FAIL {case.key}: {detail}")
            continue
        worst = result.worst()
        rows.append(_row(
            case, time.perf_counter() - begin, ok=result.ok, max_abs=result.max_abs, max_rel=result.max_rel,
            worst_key=worst.key if worst else None, failures=result.failure_text(),
        ))  # fmt: skip
        if not result.ok:
            print(f"FAIL {case.key}:\n{result.failure_text()}")
    failed = sum(not r["ok"] for r in rows)
    wall = time.perf_counter() - started
    machine = machine_record()
    print(
        f"{len(rows) - failed} of {len(rows)} golden cases pass "
        f"(threads={machine['threads']}, cpu_capability={machine['cpu_capability']}, "
        f"env={machine['env'] or '{}'}) in {wall:.1f} s"
    )
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"machine": machine, "wall_seconds": round(wall, 1), "rows": rows}, indent=1))
    return 1 if failed else 0
