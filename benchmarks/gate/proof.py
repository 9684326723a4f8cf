"""Proof of the gate: repeated runs with the same commit on both sides, and their tally.

``run`` repeats the gate with base = head = one commit (an A/A run), optionally with the
head slowed down on purpose (``--inject-head nms:1.2,...``), writing each run's result
JSON and report into a folder; ``tally`` counts the verdicts per component over such
folders (markdown)::

    python -m benchmarks.gate.proof run --out runs/aa --runs 20 -b nms,roi_align,backbone,pipeline
    python -m benchmarks.gate.proof run --out runs/inj12 --runs 20 --inject-head nms:1.2,roi_align:1.2,...
    python -m benchmarks.gate.proof tally runs/aa runs/inj12

Any further arguments of ``run`` go to the gate (``--pairs``, ``--no-counters``, ...).
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import statistics
import sys
import time
from pathlib import Path

from benchmarks.gate import runner
from benchmarks.gate.report import evaluate, exit_status
from benchmarks.gate.stats import FASTER, NO_CHANGE, POSSIBLE, REGRESSION

VERDICTS = (REGRESSION, POSSIBLE, NO_CHANGE, FASTER)


def tally(folder: Path) -> str:
    """A markdown table of verdicts per component over the result JSONs in ``folder``."""
    results = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))]
    if not results:
        return f"{folder}: no results\n"
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    medians: dict[str, list[float]] = collections.defaultdict(list)
    pairs: dict[str, list[int]] = collections.defaultdict(list)
    spread: dict[str, list[float]] = collections.defaultdict(list)  # log pair ratio about its run's median
    for result in results:
        for name, row in evaluate(result).items():
            counts[name][row.get("verdict", row["status"])] += 1
            if "summary" in row:
                medians[name].append(row["summary"].median)
                pairs[name].append(row["summary"].n)
                centre = math.log(row["summary"].median)
                spread[name] += [math.log(r) - centre for r in result["cases"][name]["ratios"]]
    walls = [r["meta"]["wall_s"] for r in results]
    exits = collections.Counter(exit_status(r) for r in results)
    inject = results[0]["meta"].get("inject_head") or "none (A/A)"
    lines = [f"`{folder.name}`: {len(results)} runs, injected: {inject}; exit codes "
             f"{dict(sorted(exits.items()))}; wall time per run median {statistics.median(walls):.0f} s "
             f"(min {min(walls):.0f}, max {max(walls):.0f})", "",
             "| component | runs | regression | possible | no change | faster | other | median ratios (min-max) "
             "| pairs per run (max) | pair spread |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, counter in counts.items():
        other = sum(v for k, v in counter.items() if k not in VERDICTS)
        m = medians[name]
        range_ = f"{statistics.median(m):.3f} ({min(m):.3f}-{max(m):.3f})" if m else ""
        cells = " | ".join(str(counter[v]) for v in VERDICTS)
        n = pairs[name]
        counts_n = f"{statistics.median(n):g} ({max(n)})" if n else ""
        sd = f"{statistics.pstdev(spread[name]):.3f}" if len(spread[name]) > 1 else ""
        lines.append(f"| {name} | {sum(counter.values())} | {cells} | {other} | {range_} | {counts_n} | {sd} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gate.proof", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="repeat the gate, same commit on both sides")
    run.add_argument("--out", type=Path, required=True)
    run.add_argument("--runs", type=int, default=20)
    run.add_argument("--commit", default="HEAD")
    show = sub.add_parser("tally", help="count the verdicts of recorded runs")
    show.add_argument("folders", type=Path, nargs="+")
    args, rest = parser.parse_known_args(argv)
    if args.command == "tally":
        print("\n".join(tally(folder) for folder in args.folders))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for index in range(1, args.runs + 1):
        stem = args.out / f"run{index:02d}"
        start = time.monotonic()
        status = runner.main(["--base", args.commit, "--head", args.commit, "--json", f"{stem}.json",
                              "-o", f"{stem}.md", *rest])  # fmt: skip
        print(f"run {index}: exit {status}, {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
