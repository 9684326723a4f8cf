"""The gate's markdown report and exit status, from the result JSON of a run.

The result (written by the runner, read back by ``python -m benchmarks.gate.report
result.json``) holds, per case, the per-pair seconds of base and head (each the median
of the timed blocks of one fresh process), the status (``ok``, ``n/a``, ``error``) and
the counters of each side. Everything in the report is computed here from those numbers,
so a recorded result gives the same report again.

Exit status: 0 no regression, 1 a regression, 2 a case errored (on either side; an
error is never reported as a pass).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.gate.stats import FASTER, NO_CHANGE, POSSIBLE, REGRESSION, Rule, summarize, verdict

EXIT_PASS, EXIT_REGRESSED, EXIT_ERROR = 0, 1, 2
COUNTERS = {"flops": "FLOPs", "aten_calls": "ATen calls", "peak_bytes": "peak tensor bytes"}
MARKS = {REGRESSION: ":red_circle: regression", POSSIBLE: ":yellow_circle: possible", NO_CHANGE: "no change",
         FASTER: ":green_circle: faster"}  # fmt: skip


def rule_of(result: Mapping[str, Any]) -> Rule:
    """The verdict thresholds recorded in ``result`` (the defaults where absent)."""
    return Rule(**result.get("rule", {}))


def evaluate(result: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per case: status, and for ``ok`` cases the summary and verdict of the paired ratios."""
    rule = rule_of(result)
    out = {}
    for name, case in result["cases"].items():
        row: dict[str, Any] = {"status": case["status"], "detail": case.get("detail", "")}
        if case["status"] == "ok":
            summary = summarize(case["ratios"], rule.confidence)
            row.update(summary=summary, verdict=verdict(summary, rule),
                       base=statistics.median(case["base"]), head=statistics.median(case["head"]))  # fmt: skip
        out[name] = row
    return out


def exit_status(result: Mapping[str, Any]) -> int:
    """0, 1 or 2 (see the module docstring)."""
    rows = evaluate(result)
    if any(row["status"] == "error" for row in rows.values()):
        return EXIT_ERROR
    return EXIT_REGRESSED if any(row.get("verdict") == REGRESSION for row in rows.values()) else EXIT_PASS


def _seconds(value: float) -> str:
    if value >= 1.0:
        return f"{value:.3f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.2f} ms"
    return f"{value * 1e6:.1f} us"


def changed_counters(result: Mapping[str, Any]) -> list[tuple[str, str, float, float, str]]:
    """(case, counter, base, head, top changed ATen ops) for every counter that differs."""
    out = []
    for name, case in result["cases"].items():
        base, head = case.get("counters", {}).get("base"), case.get("counters", {}).get("head")
        if not base or not head:
            continue
        ops = ""
        if base.get("aten_ops") is not None and head.get("aten_ops") is not None:
            keys = set(base["aten_ops"]) | set(head["aten_ops"])
            diff = {k: head["aten_ops"].get(k, 0) - base["aten_ops"].get(k, 0) for k in keys}
            top = sorted((k for k in keys if diff[k]), key=lambda k: (-abs(diff[k]), k))[:3]
            ops = ", ".join(f"`{k}` {diff[k]:+d}" for k in top)
        for key in COUNTERS:
            if key in base and key in head and base[key] != head[key]:
                out.append((name, key, base[key], head[key], ops if key == "aten_calls" else ""))
    return out


def render(result: Mapping[str, Any], asv_url: str = "") -> str:
    """The markdown report of ``result``."""
    rule = rule_of(result)
    rows = evaluate(result)
    meta = result.get("meta", {})
    status = exit_status(result)
    regressed = [name for name, row in rows.items() if row.get("verdict") == REGRESSION]
    errored = [name for name, row in rows.items() if row["status"] == "error"]
    lines = [f"## Benchmark gate: `{meta.get('base', '?')[:10]}` (base) vs `{meta.get('head', '?')[:10]}` (head)", ""]
    if status == EXIT_ERROR:
        lines.append(f"**Error**: {', '.join(errored)} failed to run (exit 2).")
    elif status == EXIT_REGRESSED:
        lines.append(f"**Regression**: {', '.join(regressed)} got slower (exit 1).")
    else:
        lines.append("No regression (exit 0).")
    if meta.get("inject_head"):
        lines.append(f"\nHead slowed down on purpose (`--inject-head {meta['inject_head']}`): a test of the gate.")
    lines += ["", "| component | base | head | head / base (95% CI) | pairs | verdict |", "|---|---|---|---|---|---|"]
    for name, row in rows.items():
        if row["status"] == "ok":
            s = row["summary"]
            coverage = "" if s.coverage >= rule.confidence else f" ({s.coverage:.0%} CI)"
            ratio = f"{s.median:.3f} [{s.low:.3f}, {s.high:.3f}]{coverage}"
            lines.append(f"| {name} | {_seconds(row['base'])} | {_seconds(row['head'])} | {ratio} | {s.n} | "
                         f"{MARKS[row['verdict']]} |")  # fmt: skip
        else:
            detail = row["detail"].replace("|", "/").replace("\n", " ")[:200]
            lines.append(f"| {name} | | | | | {row['status']}: {detail} |")
    counters = changed_counters(result)
    lines += ["", "### Work counters (deterministic: any change is the code's, not noise)", ""]
    if counters:
        lines += ["| component | counter | base | head | head / base | ATen ops that changed most |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for name, key, base, head, ops in counters:
            ratio = f"{head / base:.3f}" if base else "new"
            lines.append(f"| {name} | {COUNTERS[key]} | {base:,} | {head:,} | {ratio} | {ops} |")
    counted = [name for name, case in result["cases"].items()
               if case.get("counters", {}).get("base") and case.get("counters", {}).get("head")]  # fmt: skip
    uncounted = [name for name, row in rows.items() if row["status"] == "ok" and name not in counted]
    if not counted:
        lines.append("Not measured (`--no-counters`, or no case ran).")
    elif not counters:
        lines.append("FLOPs, ATen calls and peak tensor bytes are the same for every component measured.")
    if counted and uncounted:
        lines.append(f"\nNot measured for: {', '.join(uncounted)}.")
    lines += [
        "",
        f"<sub>Rule: regression when the 95% sign-test interval of the median ratio is above {rule.lower} and "
        f"the median is at least {rule.median}; possible when the interval is above 1 or the median at least "
        f"{rule.median}. Pairs: base and head each in a fresh process, in alternating order. "
        f"{meta.get('pairs_note', '')} Wall time {meta.get('wall_s', 0):.0f} s; "
        f"load average {meta.get('load_start', '?')} at start, {meta.get('load_end', '?')} at end. "
        f"History: {f'[asv HTML]({asv_url})' if asv_url else '(asv HTML link: pass --asv-url)'}.</sub>",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="markdown report of a recorded gate result")
    parser.add_argument("result", type=Path)
    parser.add_argument("-o", "--output", type=Path)
    parser.add_argument("--asv-url", default="")
    args = parser.parse_args(argv)
    try:
        result = json.loads(args.result.read_text(encoding="utf-8"))
        text = render(result, args.asv_url)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"{args.result}: cannot read a gate result: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    print(text)
    return exit_status(result)


if __name__ == "__main__":
    sys.exit(main())
