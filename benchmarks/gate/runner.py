"""The paired, interleaved gate: ``python -m benchmarks.gate --base main --head HEAD``.

1. Both commits get their own worktree and environment (:mod:`benchmarks.gate.envs`).
2. The harness (this ``benchmarks/`` folder) is copied beside them, so both sides run the
   same benchmark code against their own visdet.
3. Pair i starts one fresh worker process per side (both built before any timing) and,
   case by case, asks them in turn for blocks of calls: A B B A A B ... (the side going
   first alternates with the pair), so the blocks compared are measured within about a
   second of each other and the machine's drift hits both sides alike. The pair's ratio
   is the median over repeats of head block / base block (the two blocks measured next
   to each other); the figure shown per side is the median of its blocks.
4. After ``--pairs`` pairs, cases whose verdict is ``possible`` get more pairs, up to
   ``--max-pairs``; the others are settled.
5. The result JSON (every per-process time, the counters of pair 0) and the markdown
   report are written; the exit status is the report's (0, 1 regression, 2 error).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
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
from benchmarks.gate.stats import POSSIBLE, Rule, ratios

HARNESS = Path(__file__).resolve().parents[1]  # benchmarks/
REPO = HARNESS.parent


def copy_harness(workdir: Path) -> Path:
    """A private copy of ``benchmarks/`` (a folder to put on PYTHONPATH, without visdet)."""
    root = Path(tempfile.mkdtemp(prefix="harness-", dir=workdir))
    shutil.copytree(HARNESS, root / "benchmarks", ignore=shutil.ignore_patterns("__pycache__", "README.md"))
    return root


#: glibc malloc settings of every worker, both sides (a value the caller set wins). By default
#: glibc moves its mmap threshold with the sizes a process has freed so far, so whether a
#: temporary of a few MiB comes from the heap (reused, no page faults) or from a fresh mmap
#: (page-faulted on every call) depends on the process's history: the same bbox_overlaps code
#: took 30 ms a call in one worker and 12 ms in the next. Fixed thresholds turn that off: blocks
#: under 32 MiB come from the heap, and the heap is not given back to the system between calls.
#: A change in what the code allocates still shows, deterministically, in the work counters.
STEADY_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "1073741824"}


def worker_env(harness: Path, threads: int, inject: str) -> dict[str, str]:
    """The environment of a worker: only the harness on PYTHONPATH, steady malloc, and the slowdown if any."""
    env = {k: v for k, v in os.environ.items() if k not in (SLOWDOWN_ENV, SLOWDOWN_COMMIT_ENV, "ASV_COMMIT")}
    env["PYTHONPATH"] = str(harness)
    env["VISDET_BENCH_THREADS"] = str(threads)
    env.setdefault("VISDET_OP_THREADS", "1")
    for key, value in STEADY_MALLOC.items():
        env.setdefault(key, value)
    if inject:
        env[SLOWDOWN_ENV] = inject
    return env


def pair_cpus(pair: int, threads: int, available: set[int] | None = None) -> set[int] | None:
    """The CPUs both workers of pair ``pair`` are bound to, or None (no binding possible or wanted).

    Both sides of a pair share the same ``threads`` CPUs (they never run at once: the runner
    asks one side at a time), so whatever else runs on those CPUs, and how warm they are,
    hits both alike; left to the scheduler, one worker could sit for seconds on the CPU that
    another job shares while the other has a CPU to itself. Successive pairs take successive
    CPUs, so every CPU is sampled (the run starts at a random one: two gates on one machine
    do not start on the same CPU).
    """
    if available is None:
        if not hasattr(os, "sched_getaffinity"):
            return None
        available = os.sched_getaffinity(0)
    cpus = sorted(available)
    if threads < 1 or threads >= len(cpus):
        return None
    start = (pair * threads) % len(cpus)
    return {cpus[(start + i) % len(cpus)] for i in range(threads)}


class Worker:
    """A live worker process of one side (see :mod:`benchmarks.gate.worker`)."""

    def __init__(self, env: envs.Env, harness: Path, names: list[str], threads: int, inject: str,
                 cpus: set[int] | None = None) -> None:  # fmt: skip
        self.env = env
        self.log = open(harness / f"{env.role}-{time.monotonic_ns()}.log", "w+", encoding="utf-8")  # noqa: SIM115
        bind = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None  # inherited by the worker's threads
        self.proc = subprocess.Popen(
            [str(env.python), "-m", "benchmarks.gate.worker", "--cases", ",".join(names)],
            cwd=harness, env=worker_env(harness, threads, inject), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log, text=True, preexec_fn=bind,
        )  # fmt: skip

    def read(self) -> dict[str, Any]:
        """The next answer; RuntimeError when the process died."""
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self.log.seek(0)
            raise RuntimeError(f"{self.env.role} worker exited {self.proc.returncode}: {self.log.read()[-800:]}")
        return json.loads(line)

    def ready(self) -> dict[str, Any]:
        """The status of each case, after checking that visdet comes from this side's worktree."""
        hello = self.read()
        if not Path(hello["visdet_file"]).resolve().is_relative_to(self.env.src.resolve()):
            where = hello["visdet_file"]
            raise RuntimeError(f"{self.env.role} worker imported visdet from {where}, not {self.env.src}")
        return hello["cases"]

    def ask(self, **command: Any) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def measure_pair(workers: dict[str, Worker], name: str, pair: int, args: argparse.Namespace,
                 counters: bool) -> dict[str, Any]:  # fmt: skip
    """One pair of ``name``: a warm-up block each, then ``repeats`` blocks each, alternating.

    Both sides run the same number of calls per block (sized by the faster warm-up).
    Returns ``{role: {"cpu": [...], "wall": [...]}, "counters": ...}`` or ``{"error": ...}``.
    """
    roles = ("base", "head") if pair % 2 == 0 else ("head", "base")
    first = {}
    for role in roles:
        answer = workers[role].ask(op="block", case=name, number=1)
        if "error" in answer:
            return {"error": f"{role}: {answer['error']}"}
        first[role] = answer["wall"]
    number = max(1, math.ceil(args.min_block / max(min(first.values()), 1e-9)))
    out: dict[str, Any] = {role: {"cpu": [], "wall": []} for role in roles}
    for repeat in range(args.repeats):
        for role in roles if repeat % 2 == 0 else roles[::-1]:
            answer = workers[role].ask(op="block", case=name, number=number)
            if "error" in answer:
                return {"error": f"{role}: {answer['error']}"}
            for clock in ("cpu", "wall"):
                out[role][clock].append(answer[clock])
    if counters:
        out["counters"] = {role: workers[role].ask(op="count", case=name) for role in roles}
    return out


def run_pair(sides: dict[str, envs.Env], harness: Path, names: list[str], records: dict[str, dict[str, Any]],
             pair: int, args: argparse.Namespace, cpus: set[int] | None = None) -> None:  # fmt: skip
    """Start a fresh worker per side (both bound to ``cpus`` if given), measure ``names``, fold into ``records``."""
    workers = {role: Worker(env, harness, names, args.threads, args.inject_head if role == "head" else "", cpus)
               for role, env in sides.items()}  # fmt: skip
    try:
        statuses = {role: worker.ready() for role, worker in workers.items()}
        for name in names:
            record = records[name]
            bad = [(role, statuses[role][name]) for role in ("base", "head") if statuses[role][name]["status"] != "ok"]
            if bad:
                role, status = max(bad, key=lambda item: item[1]["status"] == "error")
                record["status"] = status["status"]
                record["detail"] = f"{role}: {status.get('error') or status.get('reason', '')}"
                continue
            measured = measure_pair(workers, name, pair, args, counters=pair == 0 and not args.no_counters)
            if "error" in measured:
                record["status"], record["detail"] = "error", measured["error"]
                continue
            other = "wall" if args.clock == "cpu" else "cpu"
            record.setdefault("other", {"clock": other, "base": [], "head": []})
            blocks = {role: measured[role][args.clock] for role in ("base", "head")}
            record["ratios"].append(statistics.median(ratios(blocks["base"], blocks["head"])))
            for role in ("base", "head"):
                record[role].append(statistics.median(measured[role][args.clock]))
                record["other"][role].append(statistics.median(measured[role][other]))
                record.setdefault("blocks", {}).setdefault(role, []).append(measured[role])
            if "counters" in measured:
                record["counters"] = measured["counters"]
    except RuntimeError as exc:
        for name in names:
            if records[name]["status"] == "ok" and len(records[name]["base"]) <= pair:
                records[name]["status"], records[name]["detail"] = "error", str(exc)
    finally:
        for worker in workers.values():
            worker.close()


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure and return the result (see the module docstring)."""
    start = time.monotonic()
    load_start = _load()
    shas = {"base": envs.resolve(REPO, args.base), "head": envs.resolve(REPO, args.head)}
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    sides = {role: envs.prepare(REPO, workdir, role, sha, args.parent_python) for role, sha in shas.items()}
    parse_slowdowns(args.inject_head)  # a bad spec fails here, not in every worker
    cases = select(args.cases)
    records: dict[str, dict[str, Any]] = {c.name: {"status": "ok", "ratios": [], "base": [], "head": []} for c in cases}
    rule = Rule(lower=args.lower, median=args.median)
    harness = copy_harness(workdir)
    first_cpu = random.randrange(os.cpu_count() or 1)
    try:
        for pair in range(args.max_pairs):
            open_cases = [n for n, r in records.items() if r["status"] == "ok"]
            if pair >= args.pairs:
                verdicts = evaluate({"cases": {n: records[n] for n in open_cases}, "rule": asdict(rule)})
                open_cases = [n for n in open_cases if verdicts[n].get("verdict") == POSSIBLE]
            if not open_cases:
                break
            cpus = None if args.no_pin else pair_cpus(first_cpu + pair, args.threads)
            run_pair(sides, harness, open_cases, records, pair, args, cpus)
            if args.verbose:
                done = {n: (round(r["ratios"][-1], 3) if r["status"] == "ok" else r["status"])
                        for n, r in records.items() if n in open_cases}  # fmt: skip
                print(f"pair {pair}: {done}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(harness, ignore_errors=True)
    return {
        "schema": "visdet.gate",
        "schema_version": 1,
        "meta": {
            "base": shas["base"],
            "head": shas["head"],
            "base_ref": args.base,
            "head_ref": args.head,
            "inject_head": args.inject_head,
            "clock": args.clock,
            "threads": args.threads,
            "pinned": not args.no_pin,
            "malloc": {key: os.environ.get(key, value) for key, value in STEADY_MALLOC.items()},
            "repeats": args.repeats,
            "min_block": args.min_block,
            "wall_s": time.monotonic() - start,
            "load_start": load_start,
            "load_end": _load(),
            "pairs_note": f"{args.pairs} pairs, up to {args.max_pairs} for a possible slowdown.",
        },
        "rule": asdict(rule),
        "cases": records,
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--base", default="main", help="base commit (default main)")
    p.add_argument("--head", default="HEAD", help="head commit (default HEAD)")
    p.add_argument("--cases", "-b", default="", help="comma-separated cases (default: the default set)")
    p.add_argument("--pairs", type=int, default=10, help="pairs for every case (default 10)")
    p.add_argument("--max-pairs", type=int, default=20, help="pairs at most, for a possible slowdown (default 20)")
    p.add_argument("--repeats", type=int, default=9, help="timed blocks per side per pair (default 9)")
    p.add_argument("--min-block", type=float, default=0.05, help="seconds per timed block at least")
    p.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="the time the verdict uses: the process's CPU time (default) or wall time",
    )
    p.add_argument("--threads", type=int, default=int(os.environ.get("VISDET_BENCH_THREADS", "1")))
    p.add_argument("--lower", type=float, default=Rule.lower, help="regression: CI lower bound above this")
    p.add_argument("--median", type=float, default=Rule.median, help="regression: median ratio at least this")
    p.add_argument(
        "--inject-head",
        default="",
        metavar="SPEC",
        help="slow the head down on purpose, e.g. nms:1.2,backbone:1.2 (to test the gate)",
    )
    p.add_argument("--workdir", default=str(REPO / ".gate"), help="worktrees and environments (default .gate/)")
    p.add_argument("--parent-python", default=sys.executable, help="environment whose packages both sides use")
    p.add_argument("--no-counters", action="store_true", help="skip the work counters (FLOPs, ATen calls, bytes)")
    p.add_argument("--no-pin", action="store_true", help="leave the workers' CPUs to the scheduler (default: "
                   "both workers of a pair bound to the same CPUs, the next ones for the next pair)")
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
        if args.output:  # the PR still gets a comment saying why there is no table
            args.output.write_text(f"## Benchmark gate: error (exit 2)\n\n```\n{str(exc)[-3000:]}\n```\n", "utf-8")
        return EXIT_ERROR
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    text = render(result, args.asv_url)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    print(text)
    return exit_status(result)
