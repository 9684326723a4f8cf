"""Measured results of the modern training techniques on a small synthetic detection set.

``nice -n 10 python scripts/training_techniques.py [--iters 400] [--out reports/training_techniques.json]
[--docs docs/assets]``

Trains a reduced Faster R-CNN (ResNet-18 at base width 16, as in
``tests/engine/test_training_converges.py``) on a synthetic set of red boxes and blue
discs drawn on noise (COCO format, written into a temporary folder), all runs with the
same seed, data, optimizer (SGD) and number of iterations, and measures:

* the LR finder's curve, its suggested LR and its plot;
* the step schedule (linear warm-up, x0.1 at 2/3 and 11/12 of the run, as mmdet's 1x
  scaled to the run) against 1cycle (``OneCycleLR``, peak = the same LR);
* discriminative LRs (``visdet.layer_decay``) against none, on the step schedule;
* progressive resizing (half the run at 48 px, then 64 px) against a fixed 64 px:
  wall time per epoch and final loss;
* the baseline again with ``--noise-seeds`` (1 and 2), so the page can say which
  differences are larger than what one seed changes.

About 4 minutes on a loaded 2-core CPU with the defaults (232 s measured).

Final loss = the mean of the last three logged training losses; mAP = COCO bbox mAP on
a held-out set drawn with another seed. Writes the JSON report to ``--out`` and, with
``--docs``, a markdown table and the LR finder's plot into that folder (the Training page
of the documentation site includes them). Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from visdet.testing import shapes_synth

CLASSES = shapes_synth.CLASSES
SIZE = 64
COMMAND = "nice -n 10 python scripts/training_techniques.py --docs docs/assets"


def write_shapes(root: Path, *, num_images: int, seed: int) -> tuple[Path, Path]:
    """The shapes set at this file's size (``visdet.testing.shapes_synth``)."""
    return shapes_synth.write_shapes(root, num_images=num_images, seed=seed, size=SIZE, box_range=(12, 30))


def small_faster_rcnn() -> dict[str, Any]:
    """Faster R-CNN with a ResNet-18 at base width 16 and a 32-channel neck."""
    from visdet.testing.tiny_models import faster_rcnn_config

    cfg = faster_rcnn_config(len(CLASSES))
    cfg["backbone"].update(depth=18, base_channels=16, frozen_stages=-1, norm_eval=False)
    cfg["neck"].update(in_channels=[16, 32, 64, 128], out_channels=32)
    cfg["rpn_head"].update(in_channels=32, feat_channels=32)
    cfg["rpn_head"]["anchor_generator"]["scales"] = [4]
    cfg["roi_head"]["bbox_roi_extractor"]["out_channels"] = 32
    cfg["roi_head"]["bbox_head"].update(in_channels=32, fc_out_channels=128)
    cfg["train_cfg"]["rpn"]["sampler"]["num"] = 64
    cfg["train_cfg"]["rpn_proposal"].update(nms_pre=300, max_per_img=100)
    cfg["train_cfg"]["rcnn"]["sampler"]["num"] = 64
    cfg["test_cfg"]["rpn"].update(nms_pre=300, max_per_img=100)
    return cfg


def step_schedule(iters: int) -> list[dict[str, Any]]:
    """Linear warm-up over the first tenth, then x0.1 at 2/3 and 11/12 of the run (mmdet's 1x, scaled)."""
    warmup = max(1, iters // 10)
    return [{"type": "LinearLR", "start_factor": 0.01, "by_epoch": False, "begin": 0, "end": warmup},
            {"type": "MultiStepLR", "by_epoch": False, "begin": 0, "end": iters,
             "milestones": [iters * 2 // 3, iters * 11 // 12], "gamma": 0.1}]  # fmt: skip


def one_cycle(iters: int, lr: float) -> list[dict[str, Any]]:
    """``OneCycleLR`` over the run, stepped per iteration, peaking at ``lr`` after 30% of it."""
    return [{"type": "OneCycleLR", "eta_max": lr, "total_steps": iters, "pct_start": 0.3, "anneal_strategy": "cos",
             "div_factor": 25.0, "final_div_factor": 1e4, "by_epoch": False, "begin": 0, "end": iters}]  # fmt: skip


class Bench:
    """Builds the runs on one data set with the settings every run shares."""

    def __init__(self, tmp: Path, *, iters: int, batch_size: int, lr: float, num_train: int, num_val: int) -> None:
        train_ann, train_img = write_shapes(tmp / "train", num_images=num_train, seed=0)
        val_ann, val_img = write_shapes(tmp / "val", num_images=num_val, seed=1)
        self.dataset = {"train_ann": str(train_ann), "train_images": str(train_img),
                        "val_ann": str(val_ann), "val_images": str(val_img)}  # fmt: skip
        self.tmp, self.iters, self.batch_size, self.lr = tmp, iters, batch_size, lr
        self.iters_per_epoch = num_train / batch_size

    def runner(self, name: str, overrides: dict[str, Any], seed: int = 0) -> Any:
        """A ``SimpleRunner`` with the shared settings and ``overrides`` merged last."""
        from visdet.apis.simple_runner import SimpleRunner

        base = {"visdet.progress": False, "default_hooks.logger.interval": 5,
                "optim_wrapper.clip_grad": {"max_norm": 10.0}, "train_dataloader.dataset.filter_cfg": None,
                "param_scheduler": step_schedule(self.iters)}  # fmt: skip
        return SimpleRunner(model=small_faster_rcnn(), dataset=self.dataset, optimizer="sgd", iters=self.iters,
                            batch_size=self.batch_size, num_workers=0, lr=self.lr, image_scale=(SIZE, SIZE), seed=seed,
                            work_dir=self.tmp / name, overrides={**base, **overrides})  # fmt: skip

    def train(self, name: str, overrides: dict[str, Any], seed: int = 0) -> dict[str, Any]:
        """Train one run, then validate it; its losses, held-out mAP and wall times."""
        runner = self.runner(name, overrides, seed)
        start = time.perf_counter()
        runner.train()
        seconds = time.perf_counter() - start
        log = [json.loads(x) for x in (self.tmp / name / "log.jsonl").read_text().splitlines()]
        curve = [(x["iter"], round(float(x["loss"]), 4)) for x in log if x.get("mode") == "train" and "loss" in x]
        if len(curve) < 3:
            raise RuntimeError(f"run {name!r} logged {len(curve)} training losses; need at least 3")
        metrics = runner.val()
        result = {"final_loss": round(float(np.mean([v for _, v in curve[-3:]])), 4),
                  "first_loss": curve[0][1], "bbox_mAP": round(float(metrics["coco/bbox_mAP"]), 4),
                  "bbox_mAP_50": round(float(metrics["coco/bbox_mAP_50"]), 4), "train_seconds": round(seconds, 1),
                  "seconds_per_epoch": round(seconds / (self.iters / self.iters_per_epoch), 2),
                  "loss_curve": curve}  # fmt: skip
        print(f"{name}: loss {result['first_loss']} -> {result['final_loss']}, mAP {result['bbox_mAP']}, "
              f"{seconds:.1f} s", flush=True)  # fmt: skip
        return result


def markdown(report: dict[str, Any]) -> str:
    """The report as the markdown the Training page includes."""
    s, runs, lf = report["setup"], report["runs"], report["lr_finder"]
    rows = [("step schedule (baseline)", "step"), ("1cycle", "one_cycle"),
            (f"step + layer decay {s['layer_decay']}", "layer_decay"),
            ("step + progressive resizing 48 -> 64 px", "progressive")]  # fmt: skip
    out = [
        f"Measured on {report['machine']} on {report['date']} by `{COMMAND}` "
        f"({report['script_seconds']:.0f} s in all); regenerate with "
        "`python scripts/training_techniques.py --docs docs/assets`.",
        "",
        f"Setup: reduced Faster R-CNN (ResNet-18, base width 16), {s['num_train']} training and {s['num_val']} "
        f"held-out synthetic {SIZE} px images (boxes and discs on noise), SGD, LR {s['lr']}, batch {s['batch_size']}, "
        f"{s['iters']} iterations ({s['iters'] / s['iters_per_epoch']:.0f} epochs), seed {s['seed']}, one run each "
        f"(the baseline also with seeds {', '.join(str(x) for x in s.get('noise_seeds', []))}). "
        "Final loss: mean of the last three logged training losses. s / epoch: wall time of training "
        "(no validation) per pass over the training images, on a machine shared with other jobs.",
        "",
        "| run | first loss | final loss | held-out bbox mAP | mAP@50 | s / epoch |",
        "|---|---|---|---|---|---|",
    ]
    for label, key in rows:
        r = runs[key]
        out.append(f"| {label} | {r['first_loss']:.3f} | {r['final_loss']:.3f} | {r['bbox_mAP']:.3f} | "
                   f"{r['bbox_mAP_50']:.3f} | {r['seconds_per_epoch']:.2f} |")  # fmt: skip
    seeds = [runs["step"]] + [r for k, r in runs.items() if k.startswith("step_seed")]
    if len(seeds) > 1:
        loss, m_ap = [r["final_loss"] for r in seeds], [r["bbox_mAP"] for r in seeds]
        speed = [r["seconds_per_epoch"] for r in seeds]
        out += ["", f"Seed spread of the baseline ({len(seeds)} seeds, step schedule): final loss "
                f"{min(loss):.3f} to {max(loss):.3f}, held-out bbox mAP {min(m_ap):.3f} to {max(m_ap):.3f}, "
                f"s / epoch {min(speed):.2f} to {max(speed):.2f} (the same work: the machine's load). "
                "A difference between two rows above smaller than this spread is not a measured effect."]  # fmt: skip
    sug = lf["suggested_lr"]
    out += ["", f"LR finder: {lf['num_points']} steps from {lf['start_lr']:g} to {lf['end_lr']:g} "
            f"({'stopped on divergence' if lf['diverged'] else 'no divergence'}), "
            + (f"suggested LR {sug:.2e}." if sug is not None else "no suggestion."),
            "", "| LR | smoothed loss |", "|---|---|"]  # fmt: skip
    lrs, losses = lf["lrs"], lf["losses"]
    picks = sorted({round(i * (len(lrs) - 1) / 9) for i in range(10)})
    out += [f"| {lrs[i]:.2e} | {losses[i]:.3f} |" for i in picks]
    return "\n".join(out) + "\n"


def plot_clipped(report: dict[str, Any], path: Path) -> Path:
    """The sweep without its diverged tail (the finder's own plot is dominated by it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lf = report["lr_finder"]
    lrs, losses = lf["lrs"], lf["losses"]
    keep = [i for i, v in enumerate(losses) if v <= 1.5 * losses[0]]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot([lrs[i] for i in keep], [losses[i] for i in keep])
    if lf["suggested_lr"] is not None:
        ax.axvline(lf["suggested_lr"], color="red", linestyle="--", label=f"suggested {lf['suggested_lr']:.2e}")
    ax.axvline(report["setup"]["lr"], color="green", linestyle=":", label=f"LR of the runs {report['setup']['lr']:g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("smoothed loss")
    ax.set_title("LR finder sweep, points with loss <= 1.5x the first")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_docs(report: dict[str, Any], folder: Path) -> None:
    """The JSON report, the markdown table and the clipped sweep plot, for the Training page."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "training_techniques.json").write_text(json.dumps(report, indent=1))
    (folder / "training_techniques.md").write_text(markdown(report))
    plot_clipped(report, folder / "lr_finder_clipped.png")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run every measurement (or, with ``--from-json``, only redraw the docs files); returns the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--num-train", type=int, default=96)
    parser.add_argument("--num-val", type=int, default=32)
    parser.add_argument("--layer-decay", type=float, default=0.7)
    parser.add_argument("--noise-seeds", type=int, nargs="*", default=[1, 2], help="extra seeds of the baseline")
    parser.add_argument("--out", default="reports/training_techniques.json")
    parser.add_argument("--docs", default=None, help="folder for training_techniques.md and lr_finder.png")
    parser.add_argument("--from-json", default=None, help="only redraw --docs from this report (no training)")
    args = parser.parse_args(argv)
    if args.from_json:
        report = json.loads(Path(args.from_json).read_text())
        write_docs(report, Path(args.docs or Path(args.from_json).parent))
        return report

    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        bench = Bench(Path(d), iters=args.iters, batch_size=args.batch_size, lr=args.lr,
                      num_train=args.num_train, num_val=args.num_val)  # fmt: skip
        sweep = bench.runner("lr_find", {}).find_lr(start_lr=1e-4, end_lr=1.0, num_iters=50, min_steps=3)
        plot_dir = Path(args.docs) if args.docs else Path(args.out).parent
        plot_dir.mkdir(parents=True, exist_ok=True)
        plot = sweep.plot(plot_dir / "lr_finder.png")
        print(f"lr finder: suggested {sweep.suggested_lr}, diverged {sweep.diverged}", flush=True)
        half = args.iters // 2
        runs = {
            "step": bench.train("step", {}),
            "one_cycle": bench.train("one_cycle", {"param_scheduler": one_cycle(args.iters, args.lr)}),
            "layer_decay": bench.train("layer_decay", {"visdet.layer_decay": args.layer_decay}),
            "progressive": bench.train(
                "progressive", {"visdet.progressive_resize": [[0, [48, 48]], [half, [SIZE] * 2]]}
            ),
        }
        # the same baseline with other seeds (weights' init and data order): how far one seed moves the figures
        for seed in args.noise_seeds:
            runs[f"step_seed{seed}"] = bench.train(f"step_seed{seed}", {}, seed=seed)
    report = {
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} torch thread, shared 2-core host, "
        f"torch {torch.__version__}",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": COMMAND,
        "setup": {
            "iters": args.iters,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "num_train": args.num_train,
            "num_val": args.num_val,
            "layer_decay": args.layer_decay,
            "noise_seeds": args.noise_seeds,
            "seed": 0,
            "iters_per_epoch": bench.iters_per_epoch,
        },  # fmt: skip
        "lr_finder": {
            "start_lr": 1e-4,
            "end_lr": 1.0,
            "num_points": len(sweep.lrs),
            "suggested_lr": sweep.suggested_lr,
            "diverged": sweep.diverged,
            "lrs": sweep.lrs,
            "losses": sweep.losses,
            "plot": str(plot),
        },  # fmt: skip
        "runs": runs,
        "script_seconds": round(time.perf_counter() - t0, 1),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    table = markdown(report)
    out.with_suffix(".md").write_text(table)
    if args.docs:
        write_docs(report, Path(args.docs))
    print(table)
    return report


if __name__ == "__main__":
    main()
