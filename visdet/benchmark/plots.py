"""PNG charts of benchmark runs (matplotlib, headless).

* ``time_per_component.png``: forward (and train) time of each component at its
  largest measured size, one bar per implementation, log scale.
* ``time_vs_size.png``: time against input size, one panel per component, IQR bars.
* ``visdet_vs_mmdet.png``: visdet / mmdet time ratios, when a run has both.
* ``history.png``: forward time of each component across runs, relative to the first
  run that has it (given two runs or more, ordered by creation time).
* ``scaling.png``: for the runs of ``benchmarks.compare_scaling`` (family ``scaling``),
  predict time against image size, RoI-head time against proposals and images/s against
  batch, one line per implementation, with visdet / mmdet below each.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from visdet.benchmark import scaling
from visdet.benchmark.compare import compare_impls
from visdet.benchmark.schema import BenchmarkRun, ComponentResult

_COLORS = {"visdet": "tab:blue", "mmdet": "tab:orange", "visdet-unfused": "tab:cyan"}


def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("plotting needs matplotlib: pip install matplotlib") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _ok(run: BenchmarkRun) -> list[ComponentResult]:
    return [r for r in run.results if r.status == "ok" and "forward_time" in r.metrics]


def _largest(results: Sequence[ComponentResult]) -> dict[tuple[str, str], ComponentResult]:
    """(component, impl) -> result at the largest size."""
    out: dict[tuple[str, str], ComponentResult] = {}
    for r in results:
        key = (r.component, r.impl)
        if key not in out or r.size > out[key].size:
            out[key] = r
    return out


def plot_time_per_component(run: BenchmarkRun, path: Path) -> Path:
    """Horizontal bars of forward/train time per component (largest size)."""
    plt = _pyplot()
    largest = _largest(_ok(run))
    components = sorted({c for c, _ in largest})
    impls = sorted({i for _, i in largest}, key=lambda i: (i != "visdet", i))
    metrics = [m for m in ("forward_time", "train_time") if any(m in r.metrics for r in largest.values())]
    fig, axes = plt.subplots(
        1, len(metrics), squeeze=False, figsize=(6 * len(metrics), 1.2 + 0.45 * len(components) * len(impls))
    )
    height = 0.8 / max(len(impls), 1)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for j, impl in enumerate(impls):
            ys, xs, errs = [], [], []
            for k, component in enumerate(components):
                result = largest.get((component, impl))
                if result is not None and metric in result.metrics:
                    ys.append(k + j * height)
                    xs.append(result.metrics[metric].value * 1e3)
                    errs.append((result.metrics[metric].iqr or 0.0) * 1e3 / 2)
            ax.barh(ys, xs, height=height, xerr=errs, label=impl, color=_COLORS.get(impl))
        labels = [f"{c} ({max(r.size for (cc, _), r in largest.items() if cc == c)})" for c in components]
        ax.set_yticks([k + height * (len(impls) - 1) / 2 for k in range(len(components))], labels)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel(f"{metric.replace('_', ' ')} [ms], median, IQR bars")
        ax.legend(loc="lower right")
        ax.grid(axis="x", which="both", alpha=0.3)
    fig.suptitle(_title(run, "time per component (largest size)"))
    return _save(fig, plt, path)


def plot_time_vs_size(run: BenchmarkRun, path: Path) -> Path:
    """One panel per component: time against size, per implementation and metric."""
    plt = _pyplot()
    series: dict[str, list[ComponentResult]] = defaultdict(list)
    for r in _ok(run):
        series[r.component].append(r)
    components = sorted(series)
    cols = min(3, max(len(components), 1))
    rows = max(math.ceil(len(components) / cols), 1)
    fig, axes = plt.subplots(rows, cols, squeeze=False, figsize=(5 * cols, 3.6 * rows))
    for ax, component in zip(axes.flat, components, strict=False):
        results = series[component]
        for impl in sorted({r.impl for r in results}):
            for metric, style in (("forward_time", "-o"), ("train_time", "--s")):
                points = sorted((r.size, r.metrics[metric]) for r in results if r.impl == impl and metric in r.metrics)
                if not points:
                    continue
                ax.errorbar(
                    [p[0] for p in points],
                    [p[1].value * 1e3 for p in points],
                    yerr=[(p[1].iqr or 0.0) * 1e3 / 2 for p in points],
                    fmt=style,
                    color=_COLORS.get(impl),
                    label=f"{impl} {metric.split('_')[0]}",
                    capsize=3,
                )
        ax.set_title(component, fontsize=10)
        ax.set_xlabel(results[0].size_name)
        ax.set_ylabel("ms")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(which="both", alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(components) :]:
        ax.axis("off")
    fig.suptitle(_title(run, "time vs input size"))
    return _save(fig, plt, path)


def plot_impl_ratios(run: BenchmarkRun, path: Path) -> Path | None:
    """Bars of visdet / mmdet time ratios; None when the run has no pair."""
    pairs = [c for c in compare_impls(run, metrics=("forward_time", "train_time"))]
    if not pairs:
        return None
    plt = _pyplot()
    pairs.sort(key=lambda c: (c.component, c.size, c.metric))
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.35 * len(pairs)))
    labels = [f"{c.component} {c.size} {c.metric.split('_')[0]}" for c in pairs]
    colors = ["tab:red" if c.ratio > 1 else "tab:green" for c in pairs]
    ax.barh(range(len(pairs)), [c.ratio for c in pairs], color=colors)
    ax.set_yticks(range(len(pairs)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("visdet time / mmdet time (below 1: visdet faster)")
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.suptitle(_title(run, "visdet vs mmdet"))
    return _save(fig, plt, path)


def plot_history(runs: Sequence[BenchmarkRun], path: Path, *, impl: str = "visdet") -> Path | None:
    """Forward time across runs relative to the first run; None for fewer than 2 runs."""
    if len(runs) < 2:
        return None
    plt = _pyplot()
    ordered = sorted(runs, key=lambda r: r.created)
    per_run = [_largest([r for r in _ok(run) if r.impl == impl]) for run in ordered]
    components = sorted({c for largest in per_run for c, _ in largest})
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(ordered)), 4.5))
    for component in components:
        xs, ys, first = [], [], None
        for x, largest in enumerate(per_run):
            result = largest.get((component, impl))
            if result is None:
                continue
            value = result.metrics["forward_time"].value
            first = first if first is not None else value
            xs.append(x)
            ys.append(value / first if first else float("nan"))
        ax.plot(xs, ys, "-o", label=component)
    ax.set_xticks(range(len(ordered)), [_run_label(run) for run in ordered], rotation=30, fontsize=8)
    ax.axhline(1.0, color="black", linewidth=1)
    ax.set_ylabel("forward time / first run")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(f"history of {impl} forward time (largest size per component)")
    return _save(fig, plt, path)


def plot_scaling(runs: Sequence[BenchmarkRun], path: Path) -> Path | None:
    """Scaling curves of both libraries; None when no run has scaling results.

    Each component comes from the newest run that has it, so the sections of
    ``compare_scaling`` may be measured in separate runs.
    """
    newest = scaling.newest_scaling(runs)
    components = [c for c in scaling.COMPONENTS if c in newest]
    if not components:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(
        2, len(components), squeeze=False, figsize=(5.2 * len(components), 7), gridspec_kw={"height_ratios": [3, 2]}
    )
    for col, component in enumerate(components):
        _, series = newest[component]
        top, bottom = axes[0][col], axes[1][col]
        batch = component == scaling.BATCH

        def figure(result: ComponentResult, batch: bool = batch) -> float:
            return scaling.images_per_s(result) if batch else result.metrics["forward_time"].value

        for impl, by_size in series.items():
            sizes = sorted(by_size)
            values = [figure(by_size[s]) for s in sizes]
            if batch:
                top.plot(sizes, values, "-o", color=_COLORS.get(impl), label=scaling.LABELS.get(impl, impl))
            else:
                spread = [by_size[s].metrics["forward_time"].iqr or 0.0 for s in sizes]
                top.errorbar(sizes, values, yerr=[[0] * len(sizes), spread], fmt="-o", capsize=3,
                             color=_COLORS.get(impl), label=scaling.LABELS.get(impl, impl))  # fmt: skip
        for cand in scaling.CANDIDATES:
            if cand not in series or scaling.REFERENCE not in series:
                continue
            ref = series[scaling.REFERENCE]
            sizes = sorted(set(series[cand]) & set(ref))
            ratios = [figure(series[cand][s]) / figure(ref[s]) for s in sizes]
            bottom.plot(sizes, ratios, "-o", color=_COLORS.get(cand), label=scaling.LABELS[cand])
        size_name = next(iter(next(iter(series.values())).values())).size_name
        top.set_title(scaling.TITLES[component], fontsize=9)
        top.set_ylabel("images/s (batch / median time)" if batch else "s, median (bar above: max - min of repeats)")
        top.set_ylim(bottom=0)
        bottom.axhline(1.0, color="black", linewidth=1)
        bottom.set_xlabel(size_name)
        bottom.set_ylabel("visdet / mmdet images/s (>1 faster)" if batch else "visdet / mmdet time (<1 faster)")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    latest = max((run for run, _ in newest.values()), key=lambda r: r.created)
    fig.suptitle(_title(latest, "Faster R-CNN R50-FPN scaling, visdet vs mmdet (same process, interleaved)"))
    return _save(fig, plt, path)


def write_report(runs: Sequence[BenchmarkRun], out_dir: str | Path) -> list[Path]:
    """Draw every chart that applies; the newest run gives the single-run charts.

    Returns:
        The PNG files written.
    """
    if not runs:
        raise ValueError("write_report needs at least one run")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    latest = max(runs, key=lambda r: r.created)
    if not _ok(latest):
        raise ValueError("the newest run has no successful timed result to plot")
    written = [
        plot_time_per_component(latest, out / "time_per_component.png"),
        plot_time_vs_size(latest, out / "time_vs_size.png"),
        plot_impl_ratios(latest, out / "visdet_vs_mmdet.png"),
        plot_history(runs, out / "history.png"),
        plot_scaling(runs, out / "scaling.png"),
    ]
    return [p for p in written if p is not None]


def _run_label(run: BenchmarkRun) -> str:
    commit = run.machine.get("git_commit")
    return (commit[:8] if commit else "") + "\n" + run.created[:16]


def _title(run: BenchmarkRun, what: str) -> str:
    m = run.machine
    return (
        f"{what}\n{m.get('cpu_model')}, {m.get('threads_used')} thread(s), "
        f"torch {m.get('torch')}, {m.get('device')}, commit {str(m.get('git_commit'))[:8]}"
    )


def _save(fig, plt, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
