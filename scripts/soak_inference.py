"""Soak test: ``inference_detector`` over many generated images in one process, watching its memory.

``python scripts/soak_inference.py [--images 2000] [--every 200] [--model tiny|<preset>] [--out reports/soak.json]``
(``make soak``). Writes ``--images`` small JPEG/PNG files of random sizes and contents
into a temporary folder, then runs ``visdet.inference_detector`` on them one by one,
alternating file paths and in-memory arrays, and prints the resident set size (RSS,
from ``/proc/self/status``) at the start (model loaded), after every ``--every`` images
and at the end, with the growth after the first ``--every`` images (the warm-up:
allocator pools, lazily built kernels). Not part of the test run; the figures go in a
JSON report.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

TINY = """_base_: faster_rcnn_r50_fpn
model:
  backbone: {depth: 18, base_channels: 4}
  neck: {in_channels: [4, 8, 16, 32], out_channels: 8}
  rpn_head: {in_channels: 8, feat_channels: 8}
  roi_head:
    bbox_roi_extractor: {out_channels: 8}
    bbox_head: {in_channels: 8, fc_out_channels: 16, num_classes: 3}
  test_cfg:
    rpn: {nms_pre: 200, max_per_img: 50}
    rcnn: {score_thr: 0.0, max_per_img: 20}
test_pipeline:
  - {type: LoadImageFromFile}
  - {type: Resize, scale: [128, 96], keep_ratio: true}
  - {type: PackDetInputs, meta_keys: [img_id, img_path, ori_shape, img_shape, scale_factor]}
"""


def rss_mib() -> float:
    """Resident set size of this process in MiB (Linux ``/proc``; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def write_images(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` small images of random size (32-160 px a side), JPEG and PNG alternately."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        h, w = (int(v) for v in rng.integers(32, 161, size=2))
        img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        path = folder / f"img_{i:05d}.{'jpg' if i % 2 == 0 else 'png'}"
        cv2.imwrite(str(path), img)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> dict:
    """Run the soak and write its report; returns the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--every", type=int, default=200)
    parser.add_argument("--model", default="tiny", help="'tiny' (reduced Faster R-CNN) or a preset name")
    parser.add_argument("--out", default="reports/soak.json")
    args = parser.parse_args(argv)

    import torch

    import visdet

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = args.model
        if args.model == "tiny":
            config = str(folder / "tiny.yaml")
            Path(config).write_text(TINY)
        torch.manual_seed(0)
        model = visdet.init_detector(config)
        paths = write_images(folder, args.images)
        samples = [{"images": 0, "rss_mib": round(rss_mib(), 1)}]
        print(f"start (model loaded): RSS {samples[0]['rss_mib']:.1f} MiB", flush=True)
        start = time.perf_counter()
        detections = 0
        for i, path in enumerate(paths, 1):
            image = str(path) if i % 2 else cv2.imread(str(path))  # files and arrays alternately
            result = visdet.inference_detector(model, image)
            detections += len(result.scores)
            if i % args.every == 0 or i == len(paths):
                samples.append({"images": i, "rss_mib": round(rss_mib(), 1)})
                print(f"after {i:5d} images: RSS {samples[-1]['rss_mib']:.1f} MiB", flush=True)
        seconds = time.perf_counter() - start
    warm = next((s for s in samples if s["images"] >= args.every), samples[-1])
    report = {
        "images": args.images,
        "model": args.model,
        "seconds": round(seconds, 1),
        "detections": detections,
        "samples": samples,
        "growth_total_mib": round(samples[-1]["rss_mib"] - samples[0]["rss_mib"], 1),
        "growth_after_warmup_mib": round(samples[-1]["rss_mib"] - warm["rss_mib"], 1),
        "growth_per_1000_after_warmup_mib": round(
            (samples[-1]["rss_mib"] - warm["rss_mib"]) * 1000 / max(1, samples[-1]["images"] - warm["images"]), 2
        ),
        "torch": torch.__version__,
        "pid": os.getpid(),
    }
    print(
        f"{args.images} images in {seconds:.0f} s; RSS growth {report['growth_total_mib']} MiB in all, "
        f"{report['growth_after_warmup_mib']} MiB after the first {warm['images']} images "
        f"({report['growth_per_1000_after_warmup_mib']} MiB per 1000 images)"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
