"""``visdet bench ops|model|compare|report``: the benchmark commands.

* ``ops``: time, memory and FLOPs of the functional ops (``visdet.ops``).
* ``model``: the same for layers, losses and model components (``visdet.models``).
* ``compare A.json B.json``: ratios B/A per component; exit 1 when one is flagged slower.
* ``report RUN.json... -o DIR``: PNG charts (``scaling.png`` for ``benchmarks.compare_scaling`` runs).

``--against mmdet`` measures mmcv/mmdet's equivalents in the same run (when they are
importable) and prints visdet/mmdet ratios side by side.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3
FAMILIES = {"ops": ("ops",), "model": ("layers", "losses", "models")}


def add_parser(subparsers: Any) -> None:
    """Add ``bench`` and its sub-commands to the top-level ``subparsers``."""
    bench = subparsers.add_parser("bench", help="benchmark components (time, memory, FLOPs)")
    commands = bench.add_subparsers(dest="bench_command", metavar="SUBCOMMAND", required=True)
    for name, help_text in (
        ("ops", "benchmark the functional ops"),
        ("model", "benchmark layers, losses and model components"),
    ):
        sub = commands.add_parser(name, help=help_text)
        _add_run_options(sub)
        sub.set_defaults(handler=_run, families=FAMILIES[name])

    compare = commands.add_parser("compare", help="compare two runs; exit 1 on regressions")
    compare.add_argument("base", help="baseline run JSON")
    compare.add_argument("head", help="run JSON to check against the baseline")
    compare.add_argument("--factor", type=float, default=1.5, help="flag ratios beyond this factor (default 1.5)")
    compare.add_argument(
        "--metric",
        action="append",
        dest="metrics",
        help="figure to compare (repeatable; default: times and peak memory)",
    )
    compare.set_defaults(handler=_compare)

    report = commands.add_parser("report", help="draw PNG charts of one or more runs")
    report.add_argument(
        "runs", nargs="+", help="run JSON files (several give a history chart; scaling runs give scaling.png)"
    )
    report.add_argument("-o", "--output", required=True, help="directory for the PNG files")
    report.set_defaults(handler=_report)


def _add_run_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "-c",
        "--component",
        action="append",
        dest="components",
        help="only components whose name contains this (repeatable)",
    )
    sub.add_argument("--list", action="store_true", help="list the cases and exit")
    sub.add_argument("--against", choices=["mmdet"], help="also measure mmcv/mmdet's equivalents and print ratios")
    sub.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    sub.add_argument(
        "--sizes",
        type=lambda s: tuple(int(x) for x in s.split(",")),
        help="comma-separated sizes for every selected case",
    )
    sub.add_argument("--skip-slow", action="store_true", help="leave out cases marked slow")
    sub.add_argument("--device", default="cpu", help="torch device (default cpu)")
    sub.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    sub.add_argument("--warmup", type=int, default=2, help="untimed calls first (default 2)")
    sub.add_argument(
        "--load",
        type=int,
        default=0,
        help="busy background processes during the run, e.g. one per core (default 0: idle)",
    )
    sub.add_argument(
        "--load-seconds",
        type=float,
        default=3600.0,
        help="each background process ends by itself after this long (default 3600)",
    )
    sub.add_argument("--min-run-time", type=float, default=0.2, help="seconds of timed calls per figure (default 0.2)")
    sub.add_argument("--no-memory", action="store_true", help="skip peak memory")
    sub.add_argument("--no-flops", action="store_true", help="skip FLOP counts")
    sub.add_argument("--no-train", action="store_true", help="skip forward+backward figures")
    sub.add_argument(
        "--factor", type=float, default=1.5, help="flag visdet/mmdet ratios beyond this factor (default 1.5)"
    )
    sub.add_argument("-o", "--output", help="write the run as JSON here")


def _select(args: argparse.Namespace) -> list:
    from visdet.benchmark.cases import registered_cases

    cases = [c for c in registered_cases().values() if c.family in args.families]
    if args.components:
        cases = [c for c in cases if any(part in c.component for part in args.components)]
    if args.skip_slow:
        cases = [c for c in cases if not c.slow]
    return sorted(cases, key=lambda c: c.component)


def _run(args: argparse.Namespace) -> int:
    from visdet.benchmark.compare import compare_impls, format_comparisons, format_value
    from visdet.benchmark.runner import RunSettings, run_benchmarks

    cases = _select(args)
    if args.list:
        for case in cases:
            slow = " [slow]" if case.slow else ""
            print(f"{case.component:32s} {case.size_name}: {case.sizes}{slow}  {case.description}")
        return EXIT_OK
    if not cases:
        print(f"no benchmark case matches {args.components}", file=sys.stderr)
        return EXIT_USAGE
    try:
        settings = RunSettings(
            impls=("visdet", "mmdet") if args.against else ("visdet",),
            device=args.device,
            threads=args.threads,
            quick=args.quick,
            sizes=args.sizes,
            warmup=args.warmup,
            min_run_time=args.min_run_time,
            memory=not args.no_memory,
            flops=not args.no_flops,
            train=not args.no_train,
            load=args.load,
            load_seconds=args.load_seconds,
        )

        def progress(result) -> None:
            figures = ", ".join(f"{name}={format_value(m)}" for name, m in result.metrics.items())
            detail = figures if result.status == "ok" else result.message
            print(
                f"[{result.status}] {result.component} {result.impl} {result.size_name}={result.size}: {detail}",
                file=sys.stderr,
            )

        run = run_benchmarks(cases, settings, progress=progress)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.output:
        print(f"wrote {run.save(args.output)}", file=sys.stderr)
    print(_summary(run))
    if args.against:
        print()
        print(
            format_comparisons(compare_impls(run, factor=args.factor), title="visdet / mmdet (same run, same inputs)")
        )
    return EXIT_FAILED if any(r.status == "error" for r in run.results) else EXIT_OK


def _summary(run) -> str:
    from visdet.benchmark.compare import format_value

    lines = []
    for r in run.results:
        if r.status != "ok":
            lines.append(f"{r.component:30s} {r.impl:7s} {r.size:>7d}  {r.status}: {r.message}")
            continue
        figures = "  ".join(f"{k}={format_value(v)}" for k, v in r.metrics.items())
        lines.append(f"{r.component:30s} {r.impl:7s} {r.size:>7d}  {figures}")
    m = run.machine
    head = (
        f"# {m['cpu_model']} ({m['cpu_cores']} cores), {m['threads_used']} thread(s), "
        f"torch {m['torch']}, {m['device']}, commit {m['git_commit']}"
    )
    load = run.settings.get("load", 0)
    if load:
        head += f", {load} busy background process(es)"
    return "\n".join([head, *lines])


def _compare(args: argparse.Namespace) -> int:
    from visdet.benchmark.compare import DEFAULT_METRICS, compare_runs, format_comparisons
    from visdet.benchmark.compare import regressions as find_regressions
    from visdet.benchmark.schema import BenchmarkRun, SchemaError

    try:
        base, head = BenchmarkRun.load(args.base), BenchmarkRun.load(args.head)
        comparisons = compare_runs(base, head, factor=args.factor, metrics=tuple(args.metrics or DEFAULT_METRICS))
    except (OSError, SchemaError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for key in ("cpu_model", "threads_used", "torch", "device"):
        if base.machine.get(key) != head.machine.get(key):
            print(
                f"warning: the runs differ in {key} ({base.machine.get(key)!r} vs "
                f"{head.machine.get(key)!r}); ratios mix machine and code changes",
                file=sys.stderr,
            )
    if base.settings.get("load", 0) != head.settings.get("load", 0):
        print(
            f"warning: the runs differ in background load ({base.settings.get('load', 0)} vs "
            f"{head.settings.get('load', 0)} busy processes)",
            file=sys.stderr,
        )
    print(format_comparisons(comparisons, title=f"{args.head} / {args.base}"))
    flagged = find_regressions(comparisons)
    if flagged:
        print(f"\n{len(flagged)} figure(s) slower than {args.factor}x the baseline", file=sys.stderr)
        return EXIT_CHECK_FAILED
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from visdet.benchmark.plots import write_report
    from visdet.benchmark.schema import BenchmarkRun, SchemaError

    try:
        runs = [BenchmarkRun.load(path) for path in args.runs]
        written = write_report(runs, args.output)
    except (OSError, SchemaError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for path in written:
        print(path)
    return EXIT_OK
