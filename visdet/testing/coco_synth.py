"""Write a small synthetic COCO-format dataset to a folder (for tests and parity cases).

The set is fixed (no randomness) and covers the cases a COCO reader must handle:

* PNG and JPEG images of different sizes, one image without annotations;
* non-contiguous category ids listed out of order (``dog``=7 before ``cat``=3), and a
  category (``bird``=12) with no annotation at all;
* polygon masks (one with two parts), a compressed RLE (``counts`` a string), an
  uncompressed RLE (``counts`` a list), a crowd annotation (``iscrowd=1``), an
  annotation flagged ``ignore``, a box partly outside its image;
* with ``with_invalid=True``, the edge cases of mmdet's own ``tests/data/coco_sample.json``
  that mmdet skips or flags: a zero-width box, a negative-width box, a sub-pixel box
  (height 0.1), a box with ``area`` 0, an annotation whose ``category_id`` (99) is not
  among ``categories``, a crowd annotation without ``segmentation`` and one annotation
  without ``iscrowd`` at all;
* with ``jitter_seed``: the same set with every box and polygon moved by a seeded
  sub-pixel offset and the annotation list shuffled, so a differential test can draw
  many sets that keep every edge case above.

Layout: ``<root>/images/<file>`` and ``<root>/annotations.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_utils

CLASSES = ("dog", "cat", "bird")
CATEGORIES = [{"id": 7, "name": "dog"}, {"id": 3, "name": "cat"}, {"id": 12, "name": "bird"}]
IMAGES = [
    {"id": 1, "file_name": "a.png", "height": 40, "width": 56},
    {"id": 2, "file_name": "b.jpg", "height": 48, "width": 64},
    {"id": 5, "file_name": "empty.png", "height": 32, "width": 40},
    {"id": 9, "file_name": "sub/c.jpg", "height": 36, "width": 30},
]


@dataclass(frozen=True)
class CocoSynth:
    """Where the synthetic set was written and what it holds."""

    root: Path
    ann_file: Path
    img_dir: Path
    classes: tuple[str, ...]
    data: dict[str, Any]


def _poly_area(poly: list[float]) -> float:
    xs, ys = np.asarray(poly[0::2]), np.asarray(poly[1::2])
    return float(0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))))


def _rect_mask(h: int, w: int, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
    mask = np.zeros((h, w), dtype=np.uint8)
    mask[y1:y2, x1:x2] = 1
    return mask


def _uncompressed_counts(mask: np.ndarray) -> list[int]:
    """COCO's uncompressed RLE: column-major run lengths, starting with a run of zeros."""
    flat = mask.flatten(order="F")
    edges = np.concatenate([[0], np.flatnonzero(flat[1:] != flat[:-1]) + 1, [len(flat)]])
    runs = np.diff(edges).tolist()
    return ([0] + runs) if flat[0] else runs


def _annotations(with_invalid: bool) -> list[dict[str, Any]]:
    tri = [4.0, 4.0, 30.0, 6.0, 12.0, 28.0]
    square = [36.0, 20.0, 50.0, 20.0, 50.0, 34.0, 36.0, 34.0]
    part2 = [40.0, 2.0, 52.0, 2.0, 46.0, 12.0]
    rle = mask_utils.encode(np.asfortranarray(_rect_mask(48, 64, 10, 8, 30, 30)))
    rle_str = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
    crowd_mask = _rect_mask(48, 64, 36, 20, 60, 44)
    crowd = mask_utils.encode(np.asfortranarray(crowd_mask))
    crowd_rle = {"size": crowd["size"], "counts": crowd["counts"].decode("ascii")}
    uncompressed = {"size": [36, 30], "counts": _uncompressed_counts(_rect_mask(36, 30, 2, 3, 20, 30))}
    anns = [
        {"id": 10, "image_id": 1, "category_id": 7, "bbox": [4.0, 4.0, 26.0, 24.0],
         "area": _poly_area(tri), "iscrowd": 0, "segmentation": [tri]},
        {"id": 11, "image_id": 1, "category_id": 3, "bbox": [36.0, 2.0, 16.0, 32.0],
         "area": _poly_area(square) + _poly_area(part2), "iscrowd": 0, "segmentation": [square, part2]},
        {"id": 20, "image_id": 2, "category_id": 3, "bbox": [10.0, 8.0, 20.0, 22.0],
         "area": 440.0, "iscrowd": 0, "segmentation": rle_str},
        {"id": 21, "image_id": 2, "category_id": 7, "bbox": [36.0, 20.0, 24.0, 24.0],
         "area": float(crowd_mask.sum()), "iscrowd": 1, "segmentation": crowd_rle},
        {"id": 22, "image_id": 2, "category_id": 7, "bbox": [50.0, 1.0, 30.0, 10.0],
         "area": 140.0, "iscrowd": 0, "segmentation": [[50.0, 1.0, 64.0, 1.0, 64.0, 11.0, 50.0, 11.0]]},
        {"id": 23, "image_id": 2, "category_id": 3, "bbox": [2.0, 36.0, 8.0, 8.0],
         "area": 64.0, "iscrowd": 0, "ignore": 1, "segmentation": [[2.0, 36.0, 10.0, 36.0, 10.0, 44.0]]},
        {"id": 90, "image_id": 9, "category_id": 7, "bbox": [2.0, 3.0, 18.0, 27.0],
         "area": 486.0, "iscrowd": 0, "segmentation": uncompressed},
        {"id": 91, "image_id": 9, "category_id": 3, "bbox": [18.5, 1.5, 9.25, 12.75],
         "area": 100.0, "iscrowd": 0, "segmentation": [[18.5, 1.5, 27.75, 1.5, 27.75, 14.25, 18.5, 14.25]]},
    ]  # fmt: skip
    if with_invalid:
        anns += [
            {"id": 30, "image_id": 2, "category_id": 3, "bbox": [5.0, 5.0, 0.0, 10.0],
             "area": 0.0, "iscrowd": 0, "segmentation": []},
            {"id": 31, "image_id": 1, "category_id": 7, "bbox": [5.0, 5.0, -3.0, 4.0],
             "area": 12.0, "iscrowd": 0, "segmentation": []},
            {"id": 32, "image_id": 9, "category_id": 3, "bbox": [4.0, 4.0, 1.0, 0.1],
             "area": 0.1, "iscrowd": 0, "segmentation": []},
            {"id": 33, "image_id": 9, "category_id": 7, "bbox": [2.0, 20.0, 10.0, 10.0],
             "area": 0.0, "iscrowd": 0, "segmentation": []},
            {"id": 34, "image_id": 2, "category_id": 99, "bbox": [20.0, 20.0, 10.0, 10.0],
             "area": 100.0, "iscrowd": 0, "segmentation": []},
            {"id": 35, "image_id": 1, "category_id": 3, "bbox": [20.0, 22.0, 12.0, 12.0],
             "area": 144.0, "iscrowd": 1},
            {"id": 36, "image_id": 9, "category_id": 12, "bbox": [8.0, 16.0, 14.0, 12.0],
             "area": 168.0, "segmentation": [[8.0, 16.0, 22.0, 16.0, 22.0, 28.0, 8.0, 28.0]]},
        ]  # fmt: skip
    return anns


def _jitter(anns: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Move every box (and its polygons) by a seeded offset in quarter pixels; shuffle the list.

    Widths, heights and areas are kept, so each degenerate box stays degenerate.
    """
    rng = np.random.default_rng(seed)
    moved = []
    for ann in anns:
        dx, dy = (rng.integers(-6, 7, size=2) / 4.0).tolist()
        ann = dict(ann)
        x, y, w, h = ann["bbox"]
        ann["bbox"] = [max(x + dx, 0.0), max(y + dy, 0.0), w, h]
        seg = ann.get("segmentation")
        if isinstance(seg, list) and seg:
            dx, dy = ann["bbox"][0] - x, ann["bbox"][1] - y
            ann["segmentation"] = [[v + (dx if i % 2 == 0 else dy) for i, v in enumerate(poly)] for poly in seg]
        moved.append(ann)
    return [moved[i] for i in rng.permutation(len(moved))]


def _draw_image(info: dict[str, Any], anns: list[dict[str, Any]]) -> np.ndarray:
    h, w = info["height"], info["width"]
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx * 4) % 256, (yy * 5) % 256, ((xx + yy) * 3) % 256], axis=-1).astype(np.uint8)
    for k, ann in enumerate(anns):
        color = (40 + 60 * k % 200, 200 - 30 * k % 180, 90 + 45 * k % 160)
        x, y, bw, bh = ann["bbox"]
        cv2.rectangle(img, (int(x), int(y)), (int(x + bw) - 1, int(y + bh) - 1), color, thickness=-1)
    return img


def write_coco_synth(root: str | Path, *, with_invalid: bool = False, jitter_seed: int | None = None) -> CocoSynth:
    """Write the synthetic set below ``root`` and return its paths.

    Args:
        root: target folder (created if needed).
        with_invalid: also write the edge-case annotations (ids 30 to 36, see the module docstring).
        jitter_seed: when given, move boxes by seeded quarter-pixel offsets and shuffle
            the annotation list (see :func:`_jitter`).

    Returns:
        A :class:`CocoSynth` with the annotation file, the image folder and the JSON data.
    """
    root = Path(root)
    img_dir = root / "images"
    anns = _annotations(with_invalid)
    if jitter_seed is not None:
        anns = _jitter(anns, jitter_seed)
    for info in IMAGES:
        path = img_dir / info["file_name"]
        path.parent.mkdir(parents=True, exist_ok=True)
        img = _draw_image(info, [a for a in anns if a["image_id"] == info["id"]])
        if not cv2.imwrite(str(path), img):
            raise OSError(f"could not write synthetic image {path}")
    data = {
        "info": {"description": "visdet synthetic COCO set"},
        "images": [dict(i) for i in IMAGES],
        "annotations": anns,
        "categories": [dict(c) for c in CATEGORIES],
    }
    ann_file = root / "annotations.json"
    ann_file.write_text(json.dumps(data))
    return CocoSynth(root=root, ann_file=ann_file, img_dir=img_dir, classes=CLASSES, data=data)
