"""Turn ``asv continuous`` / ``asv compare`` output into a markdown PR report.

Usage::

    python -m benchmarks.report BASE HEAD --run [--factor 1.5] [-o report.md]
    python -m benchmarks.report BASE HEAD --from-file compare.txt [--asv-exit-code N]

``--run`` runs ``asv continuous --factor F BASE HEAD`` (which benchmarks both commits
and exits 1 on a regression, 2 on a benchmark error), then ``asv compare`` for the
full table. ``--from-file`` reads text captured from either command.

The report lists regressions first (ratio, before, after), then improvements, then
counts of unchanged and skipped benchmarks. Exit status: 0 nothing regressed, 1 a
regression beyond ``--factor``, 2 an error (asv exited 2, a benchmark failed, or
the output could not be parsed) -- an error is never reported as a pass.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

EXIT_PASS, EXIT_REGRESSED, EXIT_ERROR = 0, 1, 2

# asv's change marks (asv/commands/compare.py): + slower, - faster, ! newly failing,
# * fixed, x not comparable (benchmark version changed), blank otherwise.
REGRESSION, IMPROVEMENT, NEW_FAILURE, FIXED, INCOMPARABLE = "+", "-", "!", "*", "x"


@dataclass(frozen=True)
class Row:
    """One line of asv's comparison table."""

    mark: str
    before: str
    after: str
    ratio: float | None  # None when asv printed n/a
    significant: bool  # False when asv prefixed the ratio with "~"
    benchmark: str

    @property
    def skipped(self) -> bool:
        """Both sides n/a (skipped, e.g. mmdet absent, or ASV_SKIP_SLOW)."""
        return self.before == "n/a" and self.after == "n/a"

    @property
    def failed(self) -> bool:
        """asv recorded a failure on either side."""
        return "failed" in (self.before, self.after)


def parse_asv_table(text: str) -> list[Row]:
    """Rows of every ``| Change | Before | After | Ratio | Benchmark |`` table in ``text``.

    Raises:
        ValueError: A table row does not have five cells.
    """
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|") or line.startswith("|--") or "| Benchmark" in line:
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) != 5:
            raise ValueError(f"unexpected asv table row ({len(cells)} cells): {line!r}")
        mark, before, after, ratio_text, benchmark = cells
        significant = not ratio_text.startswith("~")
        try:
            ratio = float(ratio_text.lstrip("~"))
        except ValueError:
            ratio = None
        rows.append(Row(mark, before, after, ratio, significant, benchmark))
    return rows


@dataclass
class Summary:
    """The classified rows and whether the run passed."""

    regressions: list[Row]
    improvements: list[Row]
    failures: list[Row]
    unchanged: int
    skipped: int
    asv_exit_code: int | None = None

    @property
    def error(self) -> bool:
        """asv reported a benchmark error or a benchmark failed."""
        return self.asv_exit_code == 2 or bool(self.failures)

    @property
    def exit_code(self) -> int:
        """2 on error, 1 on regressions, 0 otherwise."""
        if self.error:
            return EXIT_ERROR
        return EXIT_REGRESSED if self.regressions else EXIT_PASS


def summarize(rows: Sequence[Row], factor: float, asv_exit_code: int | None = None) -> Summary:
    """Classify rows; a regression needs asv's ``+`` mark and a ratio >= ``factor``.

    When the same benchmark appears twice (``asv continuous`` output followed by
    ``asv compare`` output), the last row wins.
    """
    if not factor > 1.0:
        raise ValueError(f"factor must be > 1, got {factor}")
    latest = {row.benchmark: row for row in rows}
    regressions, improvements, failures = [], [], []
    unchanged = skipped = 0
    for row in latest.values():
        if row.mark == NEW_FAILURE or row.failed:
            failures.append(row)
        elif row.mark == REGRESSION and (row.ratio is None or row.ratio >= factor):
            regressions.append(row)
        elif row.mark == IMPROVEMENT and (row.ratio is None or row.ratio <= 1.0 / factor):
            improvements.append(row)
        elif row.skipped:
            skipped += 1
        else:
            unchanged += 1
    by_ratio = lambda row: -(row.ratio or 0.0)  # noqa: E731
    regressions.sort(key=by_ratio)
    improvements.sort(key=lambda row: row.ratio or 0.0)
    return Summary(regressions, improvements, failures, unchanged, skipped, asv_exit_code)


def to_markdown(summary: Summary, *, base: str, head: str, factor: float) -> str:
    """The PR comment."""
    if summary.error:
        verdict = "**Error**: benchmarks failed; this is not a pass."
    elif summary.regressions:
        verdict = f"**{len(summary.regressions)} regression(s)** beyond {factor}x."
    else:
        verdict = f"No regression beyond {factor}x."
    lines = [f"## Benchmarks: `{head}` vs `{base}`", "", verdict, ""]
    if summary.asv_exit_code == 2:
        lines += ["asv exited with status 2 (a benchmark raised or timed out).", ""]

    def table(title: str, rows: list[Row]) -> None:
        lines.extend([f"### {title} ({len(rows)})", ""])
        if not rows:
            lines.extend(["none", ""])
            return
        lines.append("| ratio | before | after | benchmark |")
        lines.append("|------:|-------:|------:|-----------|")
        for row in rows:
            ratio = "n/a" if row.ratio is None else f"{row.ratio:.2f}"
            lines.append(f"| {ratio} | {row.before} | {row.after} | `{row.benchmark}` |")
        lines.append("")

    if summary.failures:
        table("Failed", summary.failures)
    table("Regressions", summary.regressions)
    table("Improvements", summary.improvements)
    lines.append(f"Unchanged: {summary.unchanged}. Skipped (n/a on both sides): {summary.skipped}.")
    lines.append("")
    lines.append(
        f"Ratio = after / before; flagged beyond {factor}x when asv finds the "
        "change significant. Timings on shared CI runners are noisy."
    )
    return "\n".join(lines) + "\n"


def run_asv(base: str, head: str, factor: float, extra: Sequence[str]) -> tuple[str, int]:
    """Run ``asv continuous`` then ``asv compare``; return the compare text and asv's code."""
    continuous = subprocess.run(
        ["asv", "continuous", "--factor", str(factor), *extra, base, head],
        capture_output=True,
        text=True,
    )
    sys.stderr.write(continuous.stdout[-20000:] + continuous.stderr[-5000:])
    machine = [a for a in extra if a.startswith("--machine")]
    compare = subprocess.run(
        ["asv", "compare", "--factor", str(factor), *machine, base, head],
        capture_output=True,
        text=True,
    )
    if compare.returncode != 0:
        sys.stderr.write(compare.stderr)
        return continuous.stdout, 2
    return continuous.stdout + "\n" + compare.stdout, continuous.returncode


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("base", help="base commit (e.g. origin/main)")
    parser.add_argument("head", help="head commit (e.g. HEAD)")
    parser.add_argument("--factor", type=float, default=2.0, help="regression factor (2.0, see README)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", action="store_true", help="run asv continuous + compare")
    source.add_argument("--from-file", type=Path, help="captured asv output to read")
    parser.add_argument("--asv-exit-code", type=int, help="asv's exit status (--from-file)")
    parser.add_argument(
        "--asv-arg",
        action="append",
        default=[],
        help="extra argument for asv continuous (repeatable), e.g. --asv-arg=-b=ops",
    )
    parser.add_argument("-o", "--output", type=Path, help="write the markdown here")
    args = parser.parse_args(argv)

    if args.run:
        text, code = run_asv(args.base, args.head, args.factor, args.asv_arg)
    else:
        text, code = args.from_file.read_text(), args.asv_exit_code
    try:
        rows = parse_asv_table(text)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if not rows:
        print("error: no asv comparison table found in the output", file=sys.stderr)
        return EXIT_ERROR
    summary = summarize(rows, args.factor, code)
    markdown = to_markdown(summary, base=args.base, head=args.head, factor=args.factor)
    if args.output:
        args.output.write_text(markdown)
    print(markdown)
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
