"""The golden suite under the CPU settings one machine can imitate.

Another CPU computes float32 sums in another order: other vector widths (AVX-512, AVX2,
SSE, none), oneDNN or native convolution kernels, other thread counts. Two environment
variables, read once when torch loads, and the thread count let one machine imitate
those differences, and a third holds MKL to its pre-AVX path in the oldest-CPU setting
(elsewhere ``parity/__init__.py`` pins it to AVX2), so each setting runs in a fresh
interpreter::

    python -m parity.portability [--only SETTING ...] [--out reports/portability]

It runs ``python -m parity.golden check`` per setting, writes each setting's per-case
JSON and a table of the worst error per component and setting
(``reports/portability/portability.md``), and exits 1 if any case fails anywhere.
``parity/test_portability.py`` runs the same settings inside the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REPORT_DIR = ROOT / "reports" / "portability"


@dataclass(frozen=True)
class Setting:
    """One imitated CPU: environment variables for torch and a thread count."""

    name: str
    threads: int
    env: dict[str, str] = field(default_factory=dict)
    description: str = ""


SETTINGS = {
    s.name: s
    for s in (
        Setting("native-2-threads", 2, description="this machine's best kernels, 2 threads"),
        Setting("native-1-thread", 1, description="this machine's best kernels, 1 thread"),
        Setting("aten-default", 2, {"ATEN_CPU_CAPABILITY": "default"}, "ATen without vector extensions"),
        Setting("onednn-sse41", 2, {"ONEDNN_MAX_CPU_ISA": "SSE41"}, "oneDNN limited to SSE4.1"),
        Setting(
            "oldest-cpu-1-thread",
            1,
            {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
            "all three limits at once (MKL on its pre-AVX path), 1 thread",
        ),
    )
}


def run_setting(
    setting: Setting, out_dir: Path, only: list[str] | None = None, timeout: float = 3600
) -> dict[str, Any]:
    """Run the golden check in a fresh interpreter under ``setting``; its JSON plus rc and output."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{setting.name}.json"
    json_path.unlink(missing_ok=True)
    switches = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")  # (MKL: parity's pin)
    env = {k: v for k, v in os.environ.items() if k not in switches}
    env.update(setting.env)
    command = [sys.executable, "-m", "parity.golden", "check", "--threads", str(setting.threads)]
    command += ["--json", str(json_path)]
    if only:
        command += ["--only", *only]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    data = json.loads(json_path.read_text()) if json_path.exists() else {"rows": [], "machine": {}}
    return {**data, "returncode": proc.returncode, "output": proc.stdout + proc.stderr}


def worst_by_component(rows: list[dict[str, Any]]) -> dict[str, tuple[float, float, bool]]:
    """Per component: (worst max abs error, worst max rel error, all passed)."""
    table: dict[str, tuple[float, float, bool]] = {}
    for row in rows:
        abs_err, rel_err, ok = table.get(row["component"], (0.0, 0.0, True))
        table[row["component"]] = (
            max(abs_err, row.get("max_abs") or 0.0),
            max(rel_err, row.get("max_rel") or 0.0),
            ok and row["ok"],
        )
    return table


def markdown(results: dict[str, dict[str, Any]]) -> str:
    """Worst absolute error per component (rows) and setting (columns)."""
    names = list(results)
    tables = {name: worst_by_component(results[name]["rows"]) for name in names}
    components = sorted({c for t in tables.values() for c in t})
    lines = [
        "# Golden cases under imitated CPUs",
        "",
        "Worst max abs error per component; FAIL marks a component with a failing case.",
        "",
        "| component | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for component in components:
        cells = []
        for name in names:
            abs_err, _, ok = tables[name].get(component, (float("nan"), 0.0, False))
            cells.append(f"{abs_err:.2e}" + ("" if ok else " FAIL"))
        lines.append(f"| {component} | " + " | ".join(cells) + " |")
    lines.append("")
    for name in names:
        r = results[name]
        machine = r.get("machine", {})
        passed = sum(row["ok"] for row in r["rows"])
        lines.append(
            f"- {name} ({SETTINGS[name].description}): {passed} of {len(r['rows'])} pass, "
            f"cpu_capability={machine.get('cpu_capability')}, threads={machine.get('threads')}, "
            f"{r.get('wall_seconds', '?')} s"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line: run the settings, write the report, exit 1 on any failure."""
    parser = argparse.ArgumentParser(prog="python -m parity.portability", description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=sorted(SETTINGS), help="settings to run (default: all)")
    parser.add_argument("--cases", nargs="+", metavar="KEY", help="case key prefixes or globs (default: all)")
    parser.add_argument("--out", type=Path, default=REPORT_DIR)
    args = parser.parse_args(argv)
    results = {}
    for name in args.only or list(SETTINGS):
        results[name] = run_setting(SETTINGS[name], args.out, args.cases)
        status = "ok" if results[name]["returncode"] == 0 else "FAILED"
        summary = [line for line in results[name]["output"].splitlines() if "golden cases pass" in line]
        print(f"{name}: {status}: {summary[-1] if summary else results[name]['output'][-2000:]}")
    text = markdown(results)
    (args.out / "portability.md").write_text(text)
    print(text)
    return 0 if all(r["returncode"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
