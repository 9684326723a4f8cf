"""Soak test: a few thousand training iterations of a reduced Faster R-CNN on the synthetic COCO set.

``python scripts/soak_training.py [--iters 3000] [--every 200] [--out reports/soak_training.json]``
(``make soak-train``). Trains with visdet's ``Runner`` (SGD, batch 2, the default
training pipeline with random flips, the dataset's items decoded anew every time) and
records the resident set size every ``--every`` iterations, with the growth after the
first ``--every`` (warm-up). Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from soak_inference import rss_mib


def main(argv: list[str] | None = None) -> dict:
    """Run the training soak and write its report; returns the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=3000)
    parser.add_argument("--every", type=int, default=200)
    parser.add_argument("--out", default="reports/soak_training.json")
    args = parser.parse_args(argv)

    import torch

    from visdet.build import build_model, build_pipeline
    from visdet.data import CocoDataset, build_dataloader
    from visdet.engine import Runner
    from visdet.engine.hooks import Hook
    from visdet.testing.coco_synth import write_coco_synth
    from visdet.testing.tiny_models import tiny_faster_rcnn_config

    torch.set_num_threads(1)
    samples: list[dict] = []

    class Rss(Hook):
        def after_train_iter(self, runner: Runner) -> None:
            if runner.iter % args.every == 0:
                samples.append({"iter": runner.iter, "rss_mib": round(rss_mib(), 1),
                                "loss": round(float(runner.log_vars.get("loss", float("nan"))), 4)})  # fmt: skip
                print(f"iter {runner.iter:5d}: RSS {samples[-1]['rss_mib']:.1f} MiB, loss {samples[-1]['loss']}",
                      flush=True)  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        synth = write_coco_synth(Path(tmp) / "coco")
        pipeline = build_pipeline([
            {"type": "LoadImageFromFile"}, {"type": "LoadAnnotations", "with_bbox": True},
            {"type": "Resize", "scale": (96, 64), "keep_ratio": True}, {"type": "RandomFlip", "prob": 0.5},
            {"type": "PackDetInputs"},
        ])  # fmt: skip
        dataset = CocoDataset(ann_file=str(synth.ann_file), metainfo={"classes": synth.classes},
                              data_prefix={"img": str(synth.img_dir)}, pipeline=pipeline)  # fmt: skip
        loader = build_dataloader(dataset, batch_size=2, seed=0)
        torch.manual_seed(0)
        model = build_model(tiny_faster_rcnn_config(3))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9)
        samples.append({"iter": 0, "rss_mib": round(rss_mib(), 1), "loss": None})
        runner = Runner(model=model, train_loader=loader, optimizer=optimizer, work_dir=Path(tmp) / "work",
                        max_iters=args.iters, hooks=[Rss()], seed=0)  # fmt: skip
        start = time.perf_counter()
        runner.train()
        seconds = time.perf_counter() - start
    warm = next((s for s in samples if s["iter"] >= args.every), samples[-1])
    report = {
        "iters": args.iters,
        "seconds": round(seconds, 1),
        "samples": samples,
        "growth_total_mib": round(samples[-1]["rss_mib"] - samples[0]["rss_mib"], 1),
        "growth_after_warmup_mib": round(samples[-1]["rss_mib"] - warm["rss_mib"], 1),
    }
    print(f"{args.iters} iterations in {seconds:.0f} s; RSS growth {report['growth_total_mib']} MiB in all, "
          f"{report['growth_after_warmup_mib']} MiB after iteration {warm['iter']}")  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
