"""visdet vs mmdet: images per second through the training data pipeline, in one process.

Run from the repository root in the reference environment (mmdet 3.3 + mmcv 2.1)::

    .venv-ref/bin/python -m benchmarks.compare_pipeline [--pipeline faster_rcnn|rtmdet_tiny|rtmdet_l]
        [--images 20 --passes 3 --repeats 5]

``--pipeline faster_rcnn`` (the default) is mmdet 3.3's default Faster R-CNN training
pipeline (``configs/_base_/datasets/coco_detection.py``; no ``Pad``: mmdet 3 pads in the
model's data preprocessor)::

    LoadImageFromFile, LoadAnnotations(with_bbox), Resize((1333, 800), keep_ratio),
    RandomFlip(0.5), PackDetInputs

``--pipeline rtmdet_tiny`` / ``rtmdet_l`` is the stage-1 ``train_pipeline`` of mmdet's
``rtmdet_{tiny,l}_8xb32-300e_coco.py``, read from the config file itself::

    LoadImageFromFile, LoadAnnotations, CachedMosaic(640x640), RandomResize(1280x1280,
    ratio_range), RandomCrop(640x640), YOLOXHSVRandomAug, RandomFlip(0.5),
    Pad(640x640, 114), CachedMixUp(640x640), PackDetInputs

(tiny: caches of 20 (mosaic) and 10 (mixup), first-in first-out, ratio_range (0.5, 2.0);
l: caches of 40 and 20 with random pops, ratio_range (0.1, 2.0)). The caches are per pipeline object
and already full when the timing starts (the agreement pass fills them). Python's and
NumPy's global RNGs are seeded the same for both implementations before each item of the
agreement pass and before each repeat.

on a synthetic COCO set of JPEG images of about 640x480 (written to a temporary folder,
a few boxes each). Each implementation reads the set with its own ``CocoDataset``
(``dataset[i]``: item copy + pipeline), cycling through it ``--passes`` times per repeat;
the two alternate repeat by repeat. Printed: seconds per image for each transform
(wrapped in the ``Compose``), per whole item, and images per second.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from benchmarks._compare import StageTimer, format_table, interleaved, load_average

CLASSES = ("person", "car", "dog")
TRAIN_PIPELINE: list[dict[str, Any]] = [
    {"type": "LoadImageFromFile"},
    {"type": "LoadAnnotations", "with_bbox": True},
    {"type": "Resize", "scale": (1333, 800), "keep_ratio": True},
    {"type": "RandomFlip", "prob": 0.5},
    {"type": "PackDetInputs"},
]
PIPELINES = ("faster_rcnn", "rtmdet_tiny", "rtmdet_l")
RTMDET_CONFIGS = {"rtmdet_tiny": "rtmdet_tiny_8xb32-300e_coco.py", "rtmdet_l": "rtmdet_l_8xb32-300e_coco.py"}


def train_pipeline(name: str) -> list[dict[str, Any]]:
    """The training pipeline ``name`` (:data:`PIPELINES`): :data:`TRAIN_PIPELINE` or RTMDet's stage 1
    from mmdet's config file (needs mmdet)."""
    if name == "faster_rcnn":
        return TRAIN_PIPELINE
    import os

    import mmdet
    from mmengine.config import Config

    path = os.path.join(os.path.dirname(mmdet.__file__), ".mim", "configs", "rtmdet", RTMDET_CONFIGS[name])
    return Config.fromfile(path).to_dict()["train_pipeline"]


def stage_names(steps: list[dict[str, Any]]) -> tuple[str, ...]:
    """The table's rows: each transform's type, then the whole item."""
    return tuple(step["type"] for step in steps) + ("item (total)",)


def write_synth_set(root: str | Path, num_images: int = 20, size: tuple[int, int] = (480, 640)) -> Path:
    """Write ``num_images`` JPEGs of about ``size`` (h, w) with 1-8 boxes each; return the JSON path.

    Sizes vary by up to 32 pixels so the resized shapes differ; content is smooth
    gradients with filled boxes plus mild noise (JPEG-decoding cost like a photo's).
    """
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images, anns = [], []
    for idx in range(num_images):
        h, w = size[0] - int(rng.integers(0, 33)), size[1] - int(rng.integers(0, 33))
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([(xx + idx * 7) % 256, (yy * 2) % 256, (xx + yy) % 256], axis=-1).astype(np.int16)
        for _ in range(int(rng.integers(1, 9))):
            x1, y1 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
            bw, bh = int(rng.integers(16, min(300, w - x1))), int(rng.integers(16, min(300, h - y1)))
            img[y1 : y1 + bh, x1 : x1 + bw] = rng.integers(0, 256, 3)
            anns.append({"id": len(anns) + 1, "image_id": idx + 1, "category_id": int(rng.integers(1, 4)),
                         "bbox": [float(x1), float(y1), float(bw), float(bh)], "area": float(bw * bh),
                         "iscrowd": 0})  # fmt: skip
        img = np.clip(img + rng.integers(-8, 9, img.shape), 0, 255).astype(np.uint8)
        name = f"{idx:04d}.jpg"
        if not cv2.imwrite(str(root / "images" / name), img):
            raise OSError(f"could not write {root / 'images' / name}")
        images.append({"id": idx + 1, "file_name": name, "height": h, "width": w})
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(CLASSES)]
    ann_file = root / "annotations.json"
    ann_file.write_text(json.dumps({"images": images, "annotations": anns, "categories": categories}))
    return ann_file


def visdet_pipeline(steps: list[dict[str, Any]]) -> list[Any]:
    """visdet's transforms of a pipeline config (``visdet.build.build_pipeline``; visdet's
    ``Compose`` takes built transforms only). Commits before that function took the dicts.
    """
    try:
        from visdet.build import build_pipeline
    except ImportError:
        return steps
    return build_pipeline(steps)


def build_dataset(impl: str, ann_file: Path, steps: list[dict[str, Any]] = TRAIN_PIPELINE) -> Any:
    """``impl``'s ``CocoDataset`` over the synthetic set with the pipeline ``steps``."""
    kwargs = {"ann_file": str(ann_file), "data_prefix": {"img": str(ann_file.parent / "images")},
              "metainfo": {"classes": CLASSES}, "pipeline": copy.deepcopy(steps), "test_mode": False}  # fmt: skip
    if impl == "visdet":
        from visdet.data.datasets.coco import CocoDataset

        return CocoDataset(**{**kwargs, "pipeline": visdet_pipeline(copy.deepcopy(steps))})
    from mmdet.datasets import CocoDataset as MMCocoDataset
    from mmdet.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        return MMCocoDataset(**kwargs)


def check_agreement(datasets: dict[str, Any]) -> str:
    """Run every item once through both (same NumPy seed) and compare images and boxes.

    Raises:
        AssertionError: An image or a box set differs.
    """
    worst = 0.0
    for idx in range(len(datasets["visdet"])):
        items = {}
        for impl, dataset in datasets.items():
            seed_all(idx)  # the same random draws (flip, mosaic and mixup picks, ...)
            items[impl] = dataset[idx]
        got, want = items["visdet"], items["mmdet"]
        if not torch.equal(got["inputs"], want["inputs"]):
            raise AssertionError(f"item {idx}: packed images differ")
        boxes = want["data_samples"].gt_instances.bboxes
        boxes = getattr(boxes, "tensor", boxes)
        got_boxes = got["data_samples"].gt_instances.bboxes
        if got_boxes.shape != boxes.shape:
            raise AssertionError(f"item {idx}: {tuple(got_boxes.shape)} boxes vs {tuple(boxes.shape)}")
        worst = max(worst, float((got_boxes - boxes).abs().max()) if boxes.numel() else 0.0)
    if worst > 1e-3:
        raise AssertionError(f"boxes differ by up to {worst:.3g}")
    return f"{len(datasets['visdet'])} items: images equal, max |box diff| {worst:.2e}"


def seed_all(seed: int) -> None:
    """Seed NumPy's and Python's global RNGs (the transforms draw from both)."""
    np.random.seed(seed)
    random.seed(seed)


def wrap_transforms(dataset: Any, timer: StageTimer, steps: list[dict[str, Any]] = TRAIN_PIPELINE) -> None:
    """Time each transform of ``dataset.pipeline`` (a ``Compose`` with a ``transforms`` list)."""
    transforms = dataset.pipeline.transforms
    if len(transforms) != len(steps):
        raise AssertionError(f"{len(transforms)} transforms built from {len(steps)} steps")
    for i, (step, transform) in enumerate(zip(steps, transforms)):
        holder = _Holder(transform)
        timer.patch(holder, "call", step["type"])
        transforms[i] = holder


class _Holder:
    """A callable standing in for a transform, so its call can be wrapped per instance."""

    def __init__(self, transform: Any) -> None:
        self.transform = transform
        self.call = transform

    def __call__(self, results: Any) -> Any:
        return self.call(results)


def item_call(dataset: Any, timer: StageTimer, passes: int):
    """A zero-argument call: ``passes`` passes over ``dataset``, returning ``{stage: s per image}``."""

    def call() -> dict[str, float]:
        timer.reset()
        seed_all(0)
        count = passes * len(dataset)
        start = time.perf_counter()
        for _ in range(passes):
            for idx in range(len(dataset)):
                dataset[idx]
        total = time.perf_counter() - start
        out = {stage: seconds / count for stage, seconds in timer.totals.items()}
        out["item (total)"] = total / count
        out["images/s"] = count / total
        return out

    return call


def main(argv: list[str] | None = None) -> int:
    """Entry point; prints the table. Returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", choices=PIPELINES, default="faster_rcnn")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--passes", type=int, default=3, help="passes over the set per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="torch and OpenCV threads")
    args = parser.parse_args(argv)
    try:
        import mmdet  # noqa: F401
    except ImportError as exc:
        print(f"mmdet is not importable ({exc}); run with .venv-ref/bin/python", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    steps = train_pipeline(args.pipeline)
    with tempfile.TemporaryDirectory(prefix="visdet-pipeline-") as tmp:
        ann_file = write_synth_set(tmp, args.images)
        timers = {impl: StageTimer() for impl in ("visdet", "mmdet")}
        datasets = {impl: build_dataset(impl, ann_file, steps) for impl in timers}
        print("agreement:", check_agreement(datasets))
        calls = {}
        for impl, timer in timers.items():
            wrap_transforms(datasets[impl], timer, steps)
            calls[impl] = item_call(datasets[impl], timer, args.passes)
        print(f"{args.pipeline} pipeline, {args.images} synthetic JPEGs ~640x480, {args.passes} passes per repeat, "
              f"{args.threads} threads")  # fmt: skip
        print(f"load average before: {load_average()}")
        results = interleaved(calls, repeats=args.repeats, warmup=args.warmup)
        print(f"load average after:  {load_average()}")
    print(f"medians of {args.repeats} interleaved repeats [min-max], milliseconds per image")
    print(format_table(results, stage_names(steps), unit="ms", scale=1000.0))
    print(format_table(results, ("images/s",), unit="img/s", higher_is_better=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
