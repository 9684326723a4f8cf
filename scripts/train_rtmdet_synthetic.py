"""Train a reduced RTMDet with RTMDet's own recipe on the synthetic shapes set; write the per-epoch curve.

``python -m scripts.train_rtmdet_synthetic [--epochs 30] [--out reports/rtmdet_synthetic]``
(run from the repository root, so that this checkout's ``visdet`` is imported).

1. Writes a train set and a held-out val set with :func:`visdet.testing.shapes_synth.write_shapes`
   (128 x 128 images, 1-3 red boxes / blue discs each, different seeds).
2. Loads ``scripts/configs/rtmdet_tiny_shapes.yaml`` (RTMDet-tiny's structure at widen 0.25 and
   mmdet's ``rtmdet_tiny_8xb32-300e_coco.py`` recipe scaled down: CachedMosaic, CachedMixUp,
   YOLOXHSVRandomAug, RandomResize / RandomCrop / Pad, the ``PipelineSwitchHook`` to stage 2,
   ``EMAHook`` with ``ExpMomentumEMA``, AdamW with ``paramwise_cfg``, LinearLR then
   CosineAnnealingLR converted to iterations), points it at the data and scales the schedule
   to ``--epochs`` (switch, cosine start and end follow).
3. Trains with visdet's config runner; validation with ``CocoMetric`` after every epoch runs
   on the EMA weights (the hook swaps them in, as mmdet does).
4. Measures chance: the untrained model's mAP and that of random boxes (``--random-boxes`` per
   image, sides drawn from the set's box range, random labels and scores).
5. Writes ``<out>.json`` (config summary, per-epoch rows, per-iteration lr, chance), ``<out>.md``
   (a table, included by ``docs/training.md``) and ``<out>.png`` (loss, lr and mAP against
   epochs); ``--from-json`` redraws the last two from a report.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from visdet.engine.hooks import EMAHook, Hook, PipelineSwitchHook

CONFIG = Path(__file__).parent / "configs" / "rtmdet_tiny_shapes.yaml"
SIZE = 128
BOX_RANGE = (12, 48)


def write_data(root: Path, *, train_images: int, val_images: int, seed: int = 0) -> Path:
    """The shapes set under ``root/train`` and ``root/val`` (held out: another seed); returns ``root``."""
    from visdet.testing.shapes_synth import write_shapes

    write_shapes(root / "train", num_images=train_images, seed=seed, size=SIZE, box_range=BOX_RANGE)
    write_shapes(root / "val", num_images=val_images, seed=seed + 1000, size=SIZE, box_range=BOX_RANGE)
    return root


def recipe(data_root: Path, work_dir: Path, *, epochs: int | None = None, stage2_epochs: int | None = None,
           config: Path = CONFIG) -> dict[str, Any]:  # fmt: skip
    """The YAML config pointed at ``data_root`` and ``work_dir``, its schedule scaled to ``epochs``.

    With ``epochs``, the pipeline switch moves to ``epochs - stage2_epochs`` (default: as many
    stage-2 epochs as the file has), the cosine to the second half (``[epochs // 2, epochs)``,
    as mmdet's ``max_epochs // 2``), and the checkpoint interval to the end.
    """
    from visdet.config import load_config, merge

    cfg = load_config(config)
    root = f"{Path(data_root).resolve()}/"
    cfg = merge(cfg, {"train_dataloader": {"dataset": {"data_root": root}},
                      "val_dataloader": {"dataset": {"data_root": root}},
                      "test_dataloader": {"dataset": {"data_root": root}},
                      "val_evaluator": {"ann_file": f"{root}val/ann.json"},
                      "test_evaluator": {"ann_file": f"{root}val/ann.json"},
                      "data_root": root, "work_dir": str(work_dir)})  # fmt: skip
    if epochs is not None:
        old = cfg["train_cfg"]["max_epochs"]
        switch = next(h for h in cfg["custom_hooks"] if h["type"] == "PipelineSwitchHook")
        stage2 = stage2_epochs if stage2_epochs is not None else old - switch["switch_epoch"]
        switch["switch_epoch"] = max(epochs - stage2, 0)
        cfg["train_cfg"]["max_epochs"] = epochs
        cosine = next(s for s in cfg["param_scheduler"] if s["type"] == "CosineAnnealingLR")
        cosine.update(begin=epochs // 2, end=epochs, T_max=epochs - epochs // 2)
        cfg["default_hooks"]["checkpoint"]["interval"] = epochs
    return cfg


class CurveHook(Hook):
    """Per-epoch mean losses, the lr, the validation metrics, the stage and the EMA state."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.lrs: list[float] = []
        self._sums: dict[str, float] = {}
        self._count = 0
        self._val: dict[str, Any] = {}
        self._start = time.perf_counter()

    @staticmethod
    def _hook(runner: Any, kind: type) -> Any:
        return next(h for h in runner.hooks if isinstance(h, kind))

    def before_train(self, runner: Any) -> None:
        """Start the clock."""
        self._start = time.perf_counter()

    def before_train_iter(self, runner: Any) -> None:
        """Record the lr this batch trains with."""
        self.lrs.append(runner.current_lr())

    def after_train_iter(self, runner: Any) -> None:
        """Add the batch's loss terms to the epoch's sums."""
        for key, value in runner.log_vars.items():
            self._sums[key] = self._sums.get(key, 0.0) + float(value)
        self._count += 1

    def before_val(self, runner: Any) -> None:
        """Note whether the EMA weights are in the model (the EMA hook runs first)."""
        self._val = {"validated_with_ema": bool(self._hook(runner, EMAHook).swapped)}

    def after_val(self, runner: Any, metrics: dict[str, float]) -> None:
        """Keep the metrics (``coco/`` prefix dropped)."""
        self._val.update({k.split("/", 1)[-1]: float(v) for k, v in metrics.items()})

    def after_train_epoch(self, runner: Any) -> None:
        """Close the epoch's row: mean losses, lr, stage, EMA gap, metrics."""
        ema = self._hook(runner, EMAHook)
        switch = self._hook(runner, PipelineSwitchHook)
        raw = dict(runner.model.named_parameters())
        gap = max(float((p.detach() - raw[name].detach()).abs().max())
                  for name, p in ema.ema_model.module.named_parameters())  # fmt: skip
        pipeline = runner.loop.loader.dataset.pipeline
        row = {"epoch": runner.epoch, "iter": runner.iter, "lr": self.lrs[-1],
               "stage": 2 if pipeline is switch.switch_pipeline else 1,
               "first_transforms": [type(t).__name__ for t in pipeline.transforms[:3]],
               **{k: v / max(self._count, 1) for k, v in self._sums.items()},
               "ema_max_abs_diff": gap, **self._val,
               "elapsed_s": round(time.perf_counter() - self._start, 1)}  # fmt: skip
        self.rows.append(row)
        self._sums, self._count, self._val = {}, 0, {}
        print(f"epoch {row['epoch']:3d} stage {row['stage']} loss {row.get('loss', float('nan')):.4f} "
              f"lr {row['lr']:.2e} mAP {row.get('bbox_mAP', float('nan')):.3f} "
              f"mAP50 {row.get('bbox_mAP_50', float('nan')):.3f} ({row['elapsed_s']:.0f} s)", flush=True)  # fmt: skip


def random_boxes_map(ann_file: str | Path, classes: list[str], *, per_image: int, seed: int = 0) -> dict[str, float]:
    """COCO metrics of random detections: ``per_image`` boxes per image, sides in the set's box range."""
    from visdet.evaluation import CocoMetric

    metric = CocoMetric(ann_file=str(ann_file), metric="bbox", proposal_nums=(100, 1, 10))
    metric.dataset_meta = {"classes": tuple(classes)}
    rng = np.random.default_rng(seed)
    images = json.loads(Path(ann_file).read_text())["images"]
    samples = []
    for image in images:
        wh = rng.integers(BOX_RANGE[0], BOX_RANGE[1], size=(per_image, 2))
        xy = rng.uniform(0, 1, size=(per_image, 2)) * (np.array([image["width"], image["height"]]) - wh)
        samples.append({"img_id": image["id"], "ori_shape": (image["height"], image["width"]),
                        "pred_instances": {"bboxes": np.concatenate([xy, xy + wh], axis=1).astype(np.float32),
                                           "scores": rng.uniform(size=per_image).astype(np.float32),
                                           "labels": rng.integers(0, len(classes), size=per_image)}})  # fmt: skip
    metric.process(None, samples)
    return {k.split("/", 1)[-1]: float(v) for k, v in metric.evaluate(size=len(images)).items()}


def build(cfg: dict[str, Any]) -> tuple[Any, CurveHook]:
    """The runner for ``cfg`` with a :class:`CurveHook` added last."""
    from visdet.engine.config_runner import build_runner

    runner = build_runner(cfg)
    curve = CurveHook()
    runner.hooks.append(curve)
    return runner, curve


def write_report(out: Path, report: dict[str, Any]) -> None:
    """``out``.json, ``out``.md and (with matplotlib) ``out``.png."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    rows, chance = report["epochs"], report["chance"]
    lines = [f"Measured on {report['measured']} by `{report['command']}` (training {report['wall_s']:.0f} s).", "",
             f"Setup: {report['title']}; {report['params']:,} parameters, {report['train_images']} training and "
             f"{report['val_images']} held-out {report['image_size']} px images, batch {report['batch_size']}, "
             f"{report['max_epochs']} epochs ({report['iters']} iterations), stage 2 from epoch "
             f"{report['switch_epoch'] + 1}; config `{report['config']}`. Loss: the epoch's mean; lr: the last "
             "iteration's; mAP: COCO bbox mAP of the EMA weights on the held-out images after the epoch.", "",
             f"Chance: the untrained model scores {chance['untrained']['bbox_mAP']:.3f} mAP / "
             f"{chance['untrained']['bbox_mAP_50']:.3f} mAP@50; random boxes "
             f"({chance['random_boxes_per_image']} per image, sides in the set's range, random labels and scores) "
             f"{chance['random_boxes']['bbox_mAP']:.3f} / {chance['random_boxes']['bbox_mAP_50']:.3f}.", "",
             "| epoch | stage | loss | loss_cls | loss_bbox | lr (end) | bbox mAP | mAP@50 | mAP@75 | EMA val |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"]  # fmt: skip
    for row in rows:
        lines.append(f"| {row['epoch']} | {row['stage']} | {row['loss']:.4f} | {row['loss_cls']:.4f} | "
                     f"{row['loss_bbox']:.4f} | {row['lr']:.2e} | {row.get('bbox_mAP', float('nan')):.3f} | "
                     f"{row.get('bbox_mAP_50', float('nan')):.3f} | {row.get('bbox_mAP_75', float('nan')):.3f} | "
                     f"{'yes' if row.get('validated_with_ema') else 'no'} |")  # fmt: skip
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    epochs = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(epochs, [r["loss"] for r in rows], label="loss")
    axes[0].plot(epochs, [r["loss_cls"] for r in rows], label="loss_cls")
    axes[0].plot(epochs, [r["loss_bbox"] for r in rows], label="loss_bbox")
    axes[0].set(xlabel="epoch", title="training loss (epoch mean)")
    axes[0].legend()
    per_epoch = report["iters"] / max(len(rows), 1)
    axes[1].plot([i / per_epoch for i in range(len(report["lrs"]))], report["lrs"])
    axes[1].set(xlabel="epoch", title="learning rate", yscale="log")
    axes[2].plot([0, *epochs], [chance["untrained"]["bbox_mAP"], *[r["bbox_mAP"] for r in rows]], "o-", label="mAP")
    axes[2].plot([0, *epochs], [chance["untrained"]["bbox_mAP_50"], *[r["bbox_mAP_50"] for r in rows]], "o-",
                 label="mAP@50")  # fmt: skip
    axes[2].axhline(chance["random_boxes"]["bbox_mAP_50"], ls="--", c="gray", label="random boxes mAP@50")
    switch = next((r["epoch"] for r in rows if r["stage"] == 2), None)
    for ax in axes if switch is not None else ():
        ax.axvline(switch - 0.5 if ax is not axes[1] else switch - 1, ls=":", c="k")
    axes[2].set(xlabel="epoch", title="held-out bbox mAP (EMA weights)", ylim=(0, 1))
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=90)
    plt.close(fig)


def make_report(cfg: dict[str, Any], runner: Any, curve: CurveHook, *, command: str, threads: int, wall_s: float,
                untrained: dict[str, float], random_boxes: dict[str, float],
                random_boxes_per_image: int) -> dict[str, Any]:  # fmt: skip
    """The report of a finished run (what :func:`write_report` writes)."""
    import torch

    def images(split: str) -> int:
        ann = Path(cfg["data_root"]) / split / "ann.json"
        return len(json.loads(ann.read_text())["images"])

    return {
        "title": "RTMDet-tiny's structure at widen 0.25 trained with RTMDet's recipe on the synthetic shapes set",
        "measured": f"{platform.machine()} CPU, {threads} torch thread(s), torch {torch.__version__}, "
                    f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "command": command,
        "config": str(CONFIG.relative_to(CONFIG.parents[2])),
        "train_images": images("train"), "val_images": images("val"), "image_size": SIZE,
        "batch_size": cfg["train_dataloader"]["batch_size"], "max_epochs": cfg["train_cfg"]["max_epochs"],
        "switch_epoch": next(h["switch_epoch"] for h in cfg["custom_hooks"] if h["type"] == "PipelineSwitchHook"),
        "params": sum(p.numel() for p in runner.model.parameters()), "iters": runner.iter,
        "threads": threads, "wall_s": round(wall_s, 1),
        "chance": {"untrained": untrained, "random_boxes": random_boxes,
                   "random_boxes_per_image": random_boxes_per_image},
        "epochs": curve.rows, "lrs": curve.lrs,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Write the data, train, write the report; returns the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="default: the config's max_epochs")
    parser.add_argument("--stage2-epochs", type=int, default=None, help="default: the config's")
    parser.add_argument("--train-images", type=int, default=400)
    parser.add_argument("--val-images", type=int, default=100)
    parser.add_argument("--random-boxes", type=int, default=100, help="random boxes per image for the chance level")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core CPU)")
    parser.add_argument("--work-dir", default=None, help="default: a temporary folder")
    parser.add_argument("--out", default="docs/assets/rtmdet_synthetic", help="report path without suffix")
    parser.add_argument("--from-json", default=None, help="only redraw <out>.md and .png from this report")
    args = parser.parse_args(argv)
    if args.from_json:
        report = json.loads(Path(args.from_json).read_text())
        write_report(Path(args.out), report)
        return report

    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work_dir) if args.work_dir else Path(tmp) / "work"
        data = write_data(Path(tmp) / "shapes", train_images=args.train_images, val_images=args.val_images)
        cfg = recipe(data, work, epochs=args.epochs, stage2_epochs=args.stage2_epochs)
        runner, curve = build(cfg)
        classes = list(cfg["train_dataloader"]["dataset"]["metainfo"]["classes"])
        untrained = {k.split("/", 1)[-1]: float(v) for k, v in runner.val_loop.run(runner.model, runner.device).items()}
        randoms = random_boxes_map(data / "val" / "ann.json", classes, per_image=args.random_boxes)
        print(f"chance: untrained model mAP {untrained['bbox_mAP']:.3f} / "
              f"mAP@50 {untrained['bbox_mAP_50']:.3f}; random boxes mAP {randoms['bbox_mAP']:.3f} / "
              f"mAP@50 {randoms['bbox_mAP_50']:.3f}", flush=True)  # fmt: skip
        start = time.perf_counter()
        runner.train()
        wall = time.perf_counter() - start
    argv_text = " ".join(sys.argv[1:] if argv is None else argv)
    report = make_report(cfg, runner, curve, command=f"python -m scripts.train_rtmdet_synthetic {argv_text}".strip(),
                         threads=args.threads, wall_s=wall, untrained=untrained, random_boxes=randoms,
                         random_boxes_per_image=args.random_boxes)  # fmt: skip
    write_report(Path(args.out), report)
    return report


if __name__ == "__main__":
    main()
