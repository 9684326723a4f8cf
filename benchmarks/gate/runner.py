"""The paired, interleaved gate: ``python -m benchmarks.gate --base main --head HEAD``.

1. Both commits get their own worktree and environment (:mod:`benchmarks.gate.envs`).
2. The harness (this ``benchmarks/`` folder) is copied beside them, so both sides run the
   same benchmark code against their own visdet.
3. Pair i runs one fresh worker process per side, base first when i is even and head
   first when it is odd (A B, B A, ...: drift of the machine's load hits both sides
   alike and cancels in the order). Each worker measures every case still open.
4. After ``--pairs`` pairs, cases whose verdict is ``possible`` get more pairs, up to
   ``--max-pairs``; the others are settled.
5. The result JSON (every per-process time, the counters of pair 0) and the markdown
   report are written; the exit status is the report's (0, 1 regression, 2 error).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks._common import SLOWDOWN_COMMIT_ENV, SLOWDOWN_ENV, parse_slowdowns
from benchmarks.gate import envs
from benchmarks.gate.cases import select
from benchmarks.gate.report import EXIT_ERROR, evaluate, exit_status, render
from benchmarks.gate.stats import POSSIBLE, Rule

HARNESS = Path(__file__).resolve().parents[1]  # benchmarks/
REPO = HARNESS.parent


def copy_harness(workdir: Path) -> Path:
    """A private copy of ``benchmarks/`` (a folder to put on PYTHONPATH, without visdet)."""
    root = Path(tempfile.mkdtemp(prefix="harness-", dir=workdir))
    shutil.copytree(HARNESS, root / "benchmarks", ignore=shutil.ignore_patterns("__pycache__", "README.md"))
    return root


def worker_env(harness: Path, threads: int, inject: str) -> dict[str, str]:
    """The environment of a worker: only the harness on PYTHONPATH, and the slowdown if any."""
    env = {k: v for k, v in os.environ.items() if k not in (SLOWDOWN_ENV, SLOWDOWN_COMMIT_ENV, "ASV_COMMIT")}
    env["PYTHONPATH"] = str(harness)
    env["VISDET_BENCH_THREADS"] = str(threads)
    env.setdefault("VISDET_OP_THREADS", "1")
    if inject:
        env[SLOWDOWN_ENV] = inject
    return env


def run_worker(env: envs.Env, harness: Path, names: list[str], args: argparse.Namespace, counters: bool,
               inject: str) -> dict[str, Any]:  # fmt: skip
    """One worker's cases (a worker that dies makes each of its cases an error)."""
    out = harness / f"{env.role}-{time.monotonic_ns()}.json"
    cmd = [str(env.python), "-m", "benchmarks.gate.worker", "--cases", ",".join(names), "--out", str(out),
           "--repeats", str(args.repeats), "--min-block", str(args.min_block)]  # fmt: skip
    if counters:
        cmd.append("--counters")
    try:
        done = subprocess.run(cmd, cwd=harness, env=worker_env(harness, args.threads, inject),
                              capture_output=True, text=True, timeout=args.worker_timeout, check=False)  # fmt: skip
        failure = "" if done.returncode == 0 and out.exists() else f"worker exit {done.returncode}: {done.stderr[-800:]}"
    except subprocess.TimeoutExpired:
        failure = f"worker timed out after {args.worker_timeout} s"
    if failure:
        return {name: {"status": "error", "error": failure} for name in names}
    data = json.loads(out.read_text(encoding="utf-8"))
    out.unlink()
    if not Path(data["visdet_file"]).resolve().is_relative_to(env.src.resolve()):
        raise RuntimeError(f"{env.role} worker imported visdet from {data['visdet_file']}, not {env.src}")
    return data["cases"]


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def merge(record: dict[str, Any], role: str, measured: dict[str, Any]) -> None:
    """Fold one worker's record of a case into the run's record of that case."""
    if measured["status"] != "ok":
        if record["status"] != "error":  # an error beats n/a
            record["status"] = measured["status"]
            record["detail"] = f"{role}: {measured.get('error') or measured.get('reason', '')}"
        return
    record[role].append(measured["time"])
    record.setdefault("repeats", {}).setdefault(role, []).append(measured["times"])
    if "counters" in measured:
        record.setdefault("counters", {})[role] = measured["counters"]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure and return the result (see the module docstring)."""
    start = time.monotonic()
    load_start = _load()
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    shas = {"base": envs.resolve(REPO, args.base), "head": envs.resolve(REPO, args.head)}
    sides = {role: envs.prepare(REPO, workdir, role, sha, args.parent_python) for role, sha in shas.items()}
    parse_slowdowns(args.inject_head)  # a bad spec fails here, not in every worker
    cases = select(args.cases)
    records: dict[str, dict[str, Any]] = {c.name: {"status": "ok", "base": [], "head": []} for c in cases}
    rule = Rule(lower=args.lower, median=args.median)
    harness = copy_harness(workdir)
    try:
        for pair in range(args.max_pairs):
            open_cases = [n for n, r in records.items() if r["status"] == "ok"]
            if pair >= args.pairs:
                verdicts = evaluate({"cases": {n: records[n] for n in open_cases}, "rule": asdict(rule)})
                open_cases = [n for n in open_cases if verdicts[n].get("verdict") == POSSIBLE]
            if not open_cases:
                break
            order = ("base", "head") if pair % 2 == 0 else ("head", "base")
            for role in order:
                inject = args.inject_head if role == "head" else ""
                measured = run_worker(sides[role], harness, open_cases, args, pair == 0, inject)
                for name in open_cases:
                    merge(records[name], role, measured[name])
            if args.verbose:
                done = {n: (round(r["head"][-1] / r["base"][-1], 3) if r["status"] == "ok" else r["status"])
                        for n, r in records.items() if n in open_cases}  # fmt: skip
                print(f"pair {pair} ({'/'.join(order)}): {done}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(harness, ignore_errors=True)
    return {
        "schema": "visdet.gate",
        "schema_version": 1,
        "meta": {
            "base": shas["base"], "head": shas["head"], "base_ref": args.base, "head_ref": args.head,
            "inject_head": args.inject_head, "threads": args.threads, "repeats": args.repeats,
            "min_block": args.min_block, "wall_s": time.monotonic() - start, "load_start": load_start,
            "load_end": _load(),
            "pairs_note": f"{args.pairs} pairs, up to {args.max_pairs} for a possible slowdown.",
        },  # fmt: skip
        "rule": asdict(rule),
        "cases": records,
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--base", default="main", help="base commit (default main)")
    p.add_argument("--head", default="HEAD", help="head commit (default HEAD)")
    p.add_argument("--cases", "-b", default="", help="comma-separated cases (default: the default set)")
    p.add_argument("--pairs", type=int, default=8, help="pairs for every case (default 8)")
    p.add_argument("--max-pairs", type=int, default=14, help="pairs at most, for a possible slowdown (default 14)")
    p.add_argument("--repeats", type=int, default=5, help="timed blocks per process (default 5)")
    p.add_argument("--min-block", type=float, default=0.05, help="seconds per timed block at least")
    p.add_argument("--threads", type=int, default=int(os.environ.get("VISDET_BENCH_THREADS", "1")))
    p.add_argument("--lower", type=float, default=Rule.lower, help="regression: CI lower bound above this")
    p.add_argument("--median", type=float, default=Rule.median, help="regression: median ratio at least this")
    p.add_argument("--inject-head", default="", metavar="SPEC",
                   help="slow the head down on purpose, e.g. nms:1.2,backbone:1.2 (to test the gate)")
    p.add_argument("--workdir", default=str(REPO / ".gate"), help="worktrees and environments (default .gate/)")
    p.add_argument("--parent-python", default=sys.executable, help="environment whose packages both sides use")
    p.add_argument("--worker-timeout", type=float, default=600.0)
    p.add_argument("--json", type=Path, help="write the result JSON here")
    p.add_argument("-o", "--output", type=Path, help="write the markdown report here")
    p.add_argument("--asv-url", default="", help="link to the asv HTML in the report")
    p.add_argument("-v", "--verbose", action="store_true", help="print each pair's ratios")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.pairs < 1 or args.max_pairs < args.pairs:
        print("--pairs must be >= 1 and --max-pairs >= --pairs", file=sys.stderr)
        return EXIT_ERROR
    try:
        result = run(args)
    except (RuntimeError, ValueError) as exc:
        print(f"gate: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    text = render(result, args.asv_url)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    print(text)
    return exit_status(result)
