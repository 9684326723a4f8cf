"""LoRA (two ranks) against full and head-only fine-tuning of a Faster R-CNN on new classes.

``nice -n 10 python -m benchmarks.finetune_lora [--pretrain-iters 150] [--iters 100]
[--out reports/finetune_lora.json]``

1. Trains a reduced Faster R-CNN (``scripts/training_techniques.py``'s: ResNet-18 at base
   width 16, nothing frozen, 32-channel FPN) on the synthetic shapes set (red boxes, blue discs).
2. Fine-tunes that checkpoint on a second set with other classes (green triangles, yellow
   rings; ``visdet.testing.shapes_synth``, ``other=True``) with each method, the same
   data, optimizer (AdamW), learning rate, seed and number of steps: ``full``,
   ``head_only``, ``lora`` at rank 4 and at rank 16 (alpha = 2 x rank). The bbox head's
   ``fc_cls`` / ``fc_reg`` change shape (other classes) and start fresh in every method.
3. Reports per method: trainable parameters, optimizer state size (bytes of every tensor
   in ``optimizer.state`` after training), peak memory of training (each method runs in a
   fresh subprocess: its peak resident set ``VmHWM`` minus its resident set just before
   training, so torch, the data and the model's weights are left out),
   seconds per step, and the held-out COCO bbox mAP on the second set.

Not part of the test run. One thread, on a shared CPU: treat small time differences as noise.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SIZE = 64
METHODS = {
    "full": {"method": "full"},
    "head_only": {"method": "head_only"},
    "lora_r4": {"method": "lora", "rank": 4, "alpha": 8.0},
    "lora_r16": {"method": "lora", "rank": 16, "alpha": 32.0},
}
COMMAND = "nice -n 10 python -m benchmarks.finetune_lora"


def _runner(work: Path, data: dict[str, str], *, iters: int, lr: float, finetune: Any = None, load_from: Any = None):
    from scripts.training_techniques import small_faster_rcnn
    from visdet.apis.simple_runner import SimpleRunner

    overrides = {"visdet.progress": False, "default_hooks.logger.interval": 10,
                 "train_dataloader.dataset.filter_cfg": None, "param_scheduler": None,
                 "optim_wrapper.clip_grad": {"max_norm": 10.0}}  # fmt: skip
    return SimpleRunner(model=small_faster_rcnn(), dataset=data, optimizer="adamw", iters=iters, batch_size=4,
                        num_workers=0, lr=lr, image_scale=(SIZE, SIZE), seed=0, work_dir=work, finetune=finetune,
                        load_from=load_from, overrides=overrides)  # fmt: skip


def _status_kb(field: str) -> int:
    """``VmRSS`` / ``VmHWM`` of this process in KiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def one_method(args: argparse.Namespace) -> dict[str, Any]:
    """Fine-tune with ``args.one`` in this process; its figures."""
    import torch

    torch.set_num_threads(1)
    data = json.loads(args.data)
    runner = _runner(Path(args.work) / args.one, data, iters=args.iters, lr=args.lr, finetune=METHODS[args.one],
                     load_from=args.checkpoint).runner  # fmt: skip
    model = runner.model
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    rss_before = _status_kb("VmRSS")
    start = time.perf_counter()
    runner.train()
    seconds = time.perf_counter() - start
    state_bytes = sum(v.numel() * v.element_size() for s in runner.optimizer.state.values() for v in s.values()
                      if isinstance(v, torch.Tensor))  # fmt: skip
    peak_mb = (_status_kb("VmHWM") - rss_before) / 1024
    metrics = runner.val()
    return {"trainable_params": trainable, "total_params": sum(p.numel() for p in model.parameters()),
            "optimizer_state_bytes": state_bytes, "peak_train_mb": round(peak_mb, 1),
            "seconds_per_step": round(seconds / args.iters, 3),
            "bbox_mAP": round(float(metrics.get("coco/bbox_mAP", 0.0)), 4),
            "bbox_mAP_50": round(float(metrics.get("coco/bbox_mAP_50", 0.0)), 4)}  # fmt: skip


def markdown(report: dict[str, Any]) -> str:
    """The table for benchmarks/README.md."""
    s = report["setup"]
    out = [f"Measured on {report['machine']} on {report['date']} by `{COMMAND}` ({report['script_seconds']:.0f} s). "
           f"Pre-training: {s['pretrain_iters']} steps on {s['num_train']} images of the first set; fine-tuning: "
           f"{s['iters']} steps, batch 4, AdamW lr {s['lr']}, seed 0, {s['num_train']} training and {s['num_val']} "
           f"held-out {SIZE} px images of the second set (other classes). Pre-trained model's held-out mAP on "
           f"the first set: {report['pretrain_mAP']:.3f}.", "",
           "| method | trainable params | optimizer state | peak memory of training | s / step | held-out bbox mAP "
           "| mAP@50 |",
           "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, r in report["runs"].items():
        out.append(f"| {name} | {r['trainable_params']:,} of {r['total_params']:,} | "
                   f"{r['optimizer_state_bytes'] / 1024:.0f} KiB | {r['peak_train_mb']:.0f} MB | "
                   f"{r['seconds_per_step']:.3f} | {r['bbox_mAP']:.3f} | {r['bbox_mAP_50']:.3f} |")  # fmt: skip
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Pre-train, then fine-tune with every method in its own subprocess; returns the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrain-iters", type=int, default=150)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--num-train", type=int, default=48)
    parser.add_argument("--num-val", type=int, default=24)
    parser.add_argument("--out", default="reports/finetune_lora.json")
    parser.add_argument("--one", choices=sorted(METHODS), help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one_method(args)))
        return {}

    import torch

    from visdet.testing.shapes_synth import write_shapes

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        sets = {}
        for name, other in (("first", False), ("second", True)):
            train_ann, train_img = write_shapes(tmp / name / "train", num_images=args.num_train, seed=0, size=SIZE,
                                                box_range=(12, 30), other=other)  # fmt: skip
            val_ann, val_img = write_shapes(tmp / name / "val", num_images=args.num_val, seed=1, size=SIZE,
                                            box_range=(12, 30), other=other)  # fmt: skip
            sets[name] = {"train_ann": str(train_ann), "train_images": str(train_img),
                          "val_ann": str(val_ann), "val_images": str(val_img)}  # fmt: skip
        pre = _runner(tmp / "pretrain", sets["first"], iters=args.pretrain_iters, lr=args.lr)
        pre.train()
        pretrain_map = float(pre.val().get("coco/bbox_mAP", 0.0))
        print(f"pre-trained: held-out mAP {pretrain_map:.3f}", flush=True)
        checkpoint = tmp / "pretrain" / "latest.pth"
        runs = {}
        for name in METHODS:
            cmd = [sys.executable, "-m", "benchmarks.finetune_lora", "--one", name, "--work", str(tmp),
                   "--data", json.dumps(sets["second"]), "--checkpoint", str(checkpoint), "--iters", str(args.iters),
                   "--lr", str(args.lr)]  # fmt: skip
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
            runs[name] = json.loads(done.stdout.strip().splitlines()[-1])
            print(name, runs[name], flush=True)
    report = {
        "machine": f"{platform.machine()} CPU, 1 torch thread, shared 2-core host, torch {torch.__version__}",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "setup": {
            "pretrain_iters": args.pretrain_iters,
            "iters": args.iters,
            "lr": args.lr,
            "num_train": args.num_train,
            "num_val": args.num_val,
        },  # fmt: skip
        "pretrain_mAP": round(pretrain_map, 4),
        "runs": runs,
        "script_seconds": round(time.perf_counter() - t0, 1),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
