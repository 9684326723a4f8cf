"""pytest plugin: collects one row per parity case and prints the parity report.

A parity test calls the ``parity_record`` fixture; the row travels on the test report's
``user_properties`` (so it survives pytest-xdist) and the controller gathers the rows,
prints the table at the end of the run and writes ``reports/parity.md`` and
``reports/parity.json``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from parity.compare import CaseResult

REPORT_DIR = Path(__file__).resolve().parent.parent / "reports"
_PROPERTY = "parity_row"


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf"
    return f"{value:.2e}" if value else "0"


@pytest.fixture
def parity_record(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Record one report row: ``parity_record(case, source, result=..., error=...)``."""

    def record(
        component: str,
        case: str,
        source: str,
        result: CaseResult | None = None,
        error: str | None = None,
        examples: int = 1,
    ) -> None:
        worst = result.worst() if result is not None else None
        row = {
            "component": component,
            "case": case,
            "source": source,
            "examples": examples,
            "max_abs": None if result is None else result.max_abs,
            "max_rel": None if result is None else result.max_rel,
            "worst_key": worst.key if worst else None,
            "tolerance": worst.tolerance.describe() if worst else None,
            "keys": len(result.keys) if result else 0,
            "error": error,
        }
        request.node.user_properties.append((_PROPERTY, row))

    return record


class ParityReport:
    """Gathers rows from test reports and writes the report at the end of the session."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.live_skipped: list[str] = []
        self.parity_tests = 0
        self.started = time.time()

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        in_parity = report.nodeid.startswith("parity/")
        if in_parity and report.when == "call":
            self.parity_tests += 1
        if in_parity and report.skipped and "live" in report.keywords and report.when in ("setup", "call"):
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            self.live_skipped.append(reason.removeprefix("Skipped: "))
        for name, row in report.user_properties:
            if name != _PROPERTY or report.when != "call":
                continue
            row = dict(row)
            row["status"] = "pass" if report.passed else ("skip" if report.skipped else "FAIL")
            row["test"] = report.nodeid
            self.rows.append(row)

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.rows and not self.parity_tests:
            return
        from parity.upstream_tracker import load_tracker, summary

        rows = sorted(self.rows, key=lambda r: (r["component"], r["case"], r["source"]))
        try:
            upstream = summary(load_tracker())
        except ValueError as err:
            upstream = {"error": str(err)}
        failed = sum(r["status"] != "pass" for r in rows)
        worst = max((r["max_abs"] or 0.0 for r in rows if r["max_abs"] is not None), default=0.0)
        data = {
            "summary": {
                "cases": len(rows),
                "passed": len(rows) - failed,
                "failed": failed,
                "golden": sum(r["source"] == "golden" for r in rows),
                "live": sum(r["source"] == "live" for r in rows),
                "live_skipped": len(self.live_skipped),
                "worst_max_abs": worst,
                "wall_seconds": round(time.time() - self.started, 1),
            },
            "upstream": upstream,
            "rows": rows,
        }
        REPORT_DIR.mkdir(exist_ok=True)
        (REPORT_DIR / "parity.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
        markdown = self._markdown(rows, data)
        (REPORT_DIR / "parity.md").write_text(markdown)
        write = terminalreporter.write_line
        terminalreporter.section("parity report")
        for line in markdown.splitlines():
            write(line)

    def _markdown(self, rows: list[dict[str, Any]], data: dict[str, Any]) -> str:
        s = data["summary"]
        up = data["upstream"]
        lines = [
            "# visdet parity report",
            "",
            f"{s['cases']} case runs: {s['passed']} pass, {s['failed']} fail "
            f"({s['golden']} against goldens, {s['live']} live); worst max abs error {_fmt(s['worst_max_abs'])}.",
        ]
        if s["live_skipped"]:
            reasons: dict[str, int] = {}
            for reason in self.live_skipped:
                reasons[reason] = reasons.get(reason, 0) + 1
            lines.append(f"{s['live_skipped']} live tests skipped:")
            lines += [f"- {count} x {reason}" for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1])]
        if "error" in up:
            lines.append(f"Upstream tracker: {up['error']}")
        else:
            in_scope = up["ported"] + up["partial"] + up["planned"]
            lines.append(
                f"Upstream tests ported: {up['ported']} of {in_scope} in scope ({up['ported_percent']}%), "
                f"{up['partial']} partly, from {up['files']} upstream files; {up['not-applicable']} not applicable."
            )
        lines += [
            "",
            "| component | case | source | max abs err | max rel err | worst output | tolerance | status |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            status = r["status"] if not r.get("error") else f"{r['status']}: {r['error'][:80]}"
            source = r["source"] if r["examples"] == 1 else f"{r['source']} x{r['examples']}"
            lines.append(
                f"| {r['component']} | {r['case']} | {source} | {_fmt(r['max_abs'])} | {_fmt(r['max_rel'])} "
                f"| {r['worst_key'] or '-'} | {r['tolerance'] or '-'} | {status} |"
            )
        return "\n".join(lines) + "\n"


def pytest_configure(config: pytest.Config) -> None:
    """Register the collector on the controller (xdist workers only send reports)."""
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(ParityReport(), "parity-report")
