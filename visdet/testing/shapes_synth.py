"""A learnable synthetic COCO set: red rectangles and blue discs on noise.

``other=True`` draws a second set with other classes (green triangles, yellow rings), to
fine-tune a detector trained on the first.

Used where a detector must actually learn something on a CPU in minutes (the
convergence test, ``scripts/training_techniques.py``); ``coco_synth`` is the small
edge-case file for the data pipeline instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

CLASSES = ("red_box", "blue_disc")
OTHER_CLASSES = ("green_triangle", "yellow_ring")  # the "other" set: fine-tuning to new classes


def _draw_other(img: np.ndarray, label: int, x: int, y: int, w: int, h: int) -> tuple[int, int]:
    """A green triangle (label 0) or a yellow ring (label 1) in the box; returns its (w, h)."""
    if label == 0:
        points = np.array([[x, y + h - 1], [x + w - 1, y + h - 1], [x + w // 2, y]], dtype=np.int32)
        cv2.fillPoly(img, [points], (40, 200, 40))
        return w, h
    w = h = min(w, h)
    thickness = max(2, w // 5)
    cv2.ellipse(img, (x + w // 2, y + h // 2), (w // 2 - thickness // 2, h // 2 - thickness // 2), 0, 0, 360,
                (30, 220, 230), thickness=thickness)  # fmt: skip
    return w, h


def write_shapes(
    root: Path, *, num_images: int, seed: int, size: int, box_range: tuple[int, int], other: bool = False
) -> tuple[Path, Path]:
    """``num_images`` ``size`` x ``size`` PNGs with 1-3 shapes each (sides drawn from ``box_range``).

    ``other=True`` draws :data:`OTHER_CLASSES` instead (same random layout for a seed).

    Returns the COCO annotation file (``root/ann.json``) and the image folder.
    """
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for img_id in range(1, num_images + 1):
        img = rng.integers(60, 140, size=(size, size, 3), dtype=np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            label = int(rng.integers(0, 2))
            w, h = (int(v) for v in rng.integers(box_range[0], box_range[1], size=2))
            x, y = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
            if other:
                w, h = _draw_other(img, label, x, y, w, h)
            elif label == 0:
                cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), (30, 30, 220), thickness=-1)
            else:
                w = h = min(w, h)
                cv2.ellipse(img, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, (220, 60, 30), thickness=-1)
            anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": label + 1,
                         "bbox": [x, y, w, h], "area": float(w * h), "iscrowd": 0})  # fmt: skip
        name = f"{img_id:04d}.png"
        cv2.imwrite(str(root / "images" / name), img)
        images.append({"id": img_id, "file_name": name, "height": size, "width": size})
    cats = [{"id": i + 1, "name": n} for i, n in enumerate(OTHER_CLASSES if other else CLASSES)]
    (root / "ann.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return root / "ann.json", root / "images"
