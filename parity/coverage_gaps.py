"""The lines and branches of ``visdet/ops`` and ``visdet/models`` that the parity suite does not reach.

Usage (after a branch-coverage run of the parity suite alone)::

    nice .venv/bin/python -m coverage run --branch --source=visdet/ops,visdet/models \\
        -m pytest parity/ -p no:xdist
    .venv/bin/python -m parity.coverage_gaps [--data .coverage]

Every gap is either an error path (the unreached line is, or leads only into, a ``raise``:
found from the source, listed as such) or listed in ``parity/coverage_exempt.yaml`` with
the reason no number the parity suite compares depends on it. The command prints the
figures, the error-path gaps, and the gaps that are neither (exit 1 when there is one, or
when a listed gap is reached now).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXEMPT = Path(__file__).resolve().parent / "coverage_exempt.yaml"


def _raise_lines(tree: ast.AST) -> set[int]:
    """Lines that belong to error paths: a ``raise``, or the body of a block that ends in one."""
    lines: set[int] = set()

    def span(node: ast.AST) -> range:
        return range(node.lineno, (node.end_lineno or node.lineno) + 1)

    for node in ast.walk(tree):
        if isinstance(node, ast.Raise):
            lines.update(span(node))
        if isinstance(node, ast.ExceptHandler) and node.body and isinstance(node.body[-1], ast.Raise):
            lines.add(node.lineno)
        for field in ("body", "orelse", "handlers"):
            body = getattr(node, field, None)
            if isinstance(body, list) and body and isinstance(body[-1], ast.Raise):
                for stmt in body:
                    lines.update(span(stmt))
    return lines


def gaps(data_file: Path) -> dict[str, Any]:
    """``{"totals": ..., "error_paths": [...], "other": [...]}`` from a coverage data file."""
    import coverage

    cov = coverage.Coverage(data_file=str(data_file))
    cov.load()
    error_paths, other = [], []
    totals = {"statements": 0, "missing_statements": 0, "branches": 0, "missing_branches": 0}
    for measured in sorted(cov.get_data().measured_files()):
        rel = Path(measured).resolve().relative_to(ROOT).as_posix()
        analysis = cov._analyze(measured)  # noqa: SLF001  (the public API has no branch listing)
        numbers = analysis.numbers
        totals["statements"] += numbers.n_statements
        totals["missing_statements"] += numbers.n_missing
        totals["branches"] += numbers.n_branches
        totals["missing_branches"] += numbers.n_missing_branches
        raising = _raise_lines(ast.parse(Path(measured).read_text()))
        for line in sorted(analysis.missing):
            (error_paths if line in raising else other).append(f"{rel}:{line}")
        for src, dests in sorted(analysis.missing_branch_arcs().items()):
            for dst in dests:
                if src in analysis.missing:
                    continue  # the line itself is listed
                target = f"{rel}:{src}->{dst if dst > 0 else 'exit'}"
                (error_paths if dst in raising else other).append(target)
    return {"totals": totals, "error_paths": error_paths, "other": other}


def load_exempt() -> dict[str, dict[str, str]]:
    """``parity/coverage_exempt.yaml``: ``{"exempt": {gap: reason}, "numeric_not_reached": {gap: why}}``.

    A gap is ``file:line`` or ``file:a->b``; a bare ``file`` stands for all of that file's gaps.
    """
    import yaml

    data = yaml.safe_load(EXEMPT.read_text()) or {}
    out = {}
    for section in ("exempt", "numeric_not_reached"):
        entries = data.get(section) or {}
        bad = [k for k, v in entries.items() if not str(v or "").strip()]
        if bad:
            raise SystemExit(f"{EXEMPT.name}: {section}: entries without a reason: {bad}")
        out[section] = {str(k): str(v) for k, v in entries.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m parity.coverage_gaps", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / ".coverage", help="coverage data file")
    args = parser.parse_args(argv)
    found = gaps(args.data)
    sections = load_exempt()
    exempt = {**sections["exempt"], **sections["numeric_not_reached"]}
    t = found["totals"]
    covered_b = t["branches"] - t["missing_branches"]
    covered_s = t["statements"] - t["missing_statements"]
    print(f"statements {covered_s}/{t['statements']} ({100 * covered_s / t['statements']:.1f}%), "
          f"branches {covered_b}/{t['branches']} ({100 * covered_b / t['branches']:.1f}%)")  # fmt: skip
    print(f"{len(found['error_paths'])} unreached error paths (raise), {len(found['other'])} other gaps: "
          f"{len(sections['exempt'])} listed as not changing a number, "
          f"{len(sections['numeric_not_reached'])} listed as numeric and not reached yet")  # fmt: skip
    # a key without a line (``visdet/models/compile.py``) lists every gap of that file: a
    # visdet-only module no parity case imports; it is reached now when none of its gaps is left
    gap_files = {gap.split(":")[0] for gap in found["other"]}
    unlisted = [g for g in found["other"] if g not in exempt and g.split(":")[0] not in exempt]
    reached = sorted(k for k in exempt if k not in (found["other"] if ":" in k else gap_files))
    for gap in unlisted:
        print(f"UNLISTED {gap}")
    for gap in reached:
        print(f"REACHED NOW (remove from {EXEMPT.name}) {gap}")
    return 1 if unlisted or reached else 0


if __name__ == "__main__":
    sys.exit(main())
