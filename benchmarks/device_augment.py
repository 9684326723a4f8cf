"""Images per second: augmentation in the CPU pipeline against CPU decoding + batch augmentation on the device.

``nice -n 10 python -m benchmarks.device_augment [--images 64] [--size 320] [--device cpu]``

Three ways to a training batch (batch 8, ``DetDataPreprocessor`` with mmdet's mean/std,
loader with 0 workers, 1 torch thread), each timed over the whole set, best of
``--repeats`` passes:

* ``decode only``: load, resize, pack, preprocess (no augmentation: the floor);
* ``CPU pipeline``: + ``RandomFlip``, ``RandomCrop`` (relative range 0.5) and ``Resize``
  back, ``PhotoMetricDistortion`` in the per-image pipeline;
* ``CPU decode + device``: decode only, then ``BatchRandomFlip``,
  ``BatchRandomResizedCrop`` (area 0.25-1) and ``BatchColorJitter`` (Kornia) on the batch,
  on ``--device``.

Needs ``kornia`` (``pip install visdet[augment]``). Not part of the test run.
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

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
COMMAND = "nice -n 10 python -m benchmarks.device_augment"


def _loader(ann: Path, images: Path, size: int, cpu_augment: bool) -> Any:
    from visdet.build import build_pipeline
    from visdet.data import CocoDataset, build_dataloader

    steps: list[dict[str, Any]] = [{"type": "LoadImageFromFile"}, {"type": "LoadAnnotations", "with_bbox": True},
                                   {"type": "Resize", "scale": (size, size), "keep_ratio": False}]  # fmt: skip
    if cpu_augment:
        steps += [{"type": "RandomFlip", "prob": 0.5},
                  {"type": "RandomCrop", "crop_size": (0.5, 0.5), "crop_type": "relative_range"},
                  {"type": "Resize", "scale": (size, size), "keep_ratio": False},
                  {"type": "PhotoMetricDistortion"}]  # fmt: skip
    steps.append({"type": "PackDetInputs"})
    from visdet.testing.shapes_synth import CLASSES

    dataset = CocoDataset(ann_file=str(ann), data_prefix={"img": str(images)}, metainfo={"classes": CLASSES},
                          pipeline=build_pipeline(steps))  # fmt: skip
    return build_dataloader(dataset, batch_size=8, seed=0, num_workers=0)


def _images_per_second(loader: Any, preprocessor: Any, device: Any, repeats: int) -> float:
    import torch

    from visdet.structures.instances import Instances

    best = float("inf")
    for _ in range(repeats):
        count = 0
        start = time.perf_counter()
        for batch in loader:
            images = [image.to(device) for image in batch["inputs"]]
            metas = [dict(sample.metainfo) for sample in batch["data_samples"]]
            gt = [Instances(**dict(sample.gt_instances.items())).to(device) for sample in batch["data_samples"]]
            inputs, metas = preprocessor(images, metas)
            inputs, metas, gt = preprocessor.augment(inputs, metas, gt)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            count += len(images)
        best = min(best, time.perf_counter() - start)
    return count / best


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Time the three ways; print the table and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="reports/device_augment.json")
    args = parser.parse_args(argv)

    import torch

    from visdet.data.batch_augments import BatchColorJitter, BatchRandomFlip, BatchRandomResizedCrop
    from visdet.models.data_preprocessors import DetDataPreprocessor
    from visdet.testing.shapes_synth import write_shapes

    torch.set_num_threads(1)
    torch.manual_seed(0)
    device = torch.device(args.device)
    augments = [BatchRandomFlip(prob=0.5), BatchRandomResizedCrop(scale=(0.25, 1.0)),
                BatchColorJitter(brightness=0.125, contrast=0.5, saturation=0.5, hue=0.05)]  # fmt: skip
    plain = DetDataPreprocessor(mean=MEAN, std=STD, bgr_to_rgb=True).to(device)
    on_device = DetDataPreprocessor(mean=MEAN, std=STD, bgr_to_rgb=True, batch_augments=augments).to(device)
    with tempfile.TemporaryDirectory() as d:
        ann, images = write_shapes(Path(d), num_images=args.images, seed=0, size=args.size, box_range=(40, 120))
        rates = {
            "decode only": _images_per_second(_loader(ann, images, args.size, False), plain, device, args.repeats),
            "CPU pipeline": _images_per_second(_loader(ann, images, args.size, True), plain, device, args.repeats),
            f"CPU decode + {device.type}": _images_per_second(
                _loader(ann, images, args.size, False), on_device, device, args.repeats
            ),
        }
    report = {
        "machine": f"{platform.machine()} CPU, 1 torch thread, shared 2-core host, torch {torch.__version__}",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "images": args.images,
        "size": args.size,
        "device": str(device),
        "images_per_second": {k: round(v, 1) for k, v in rates.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"{report['machine']}, {report['date']}, {args.images} images of {args.size} px, batch 8:")
    print("| way to a batch | images / s |\n|---|---|")
    for name, rate in report["images_per_second"].items():
        print(f"| {name} | {rate:.1f} |")
    return report


if __name__ == "__main__":
    main()
