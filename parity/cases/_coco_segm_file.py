"""A small COCO instance-segmentation file for the mask pipeline and ``segm`` metric cases.

Every kind of ``segmentation`` a COCO reader meets, on five images of different sizes
(PNG and JPEG), two of them without any annotation:

* polygons: one part, several parts, a part of only 2 points and a part with an odd
  number of coordinates after a valid one, a polygon reaching past the image border,
  and (unless ``short_only_polygon=False``) an instance whose only polygon has 2 points
  (mmdet's loader drops the short parts and turns an instance with none left into an
  ignored one; pycocotools cannot rasterise it, so the metric cases leave it out);
* compressed RLE (``counts`` a string) and uncompressed RLE (``counts`` a list of run
  lengths), with ``iscrowd`` 0;
* crowd annotations (``iscrowd=1``) as uncompressed RLE (as COCO's own crowd regions
  are written) and as compressed RLE.

Shapes (ellipses, star polygons) are drawn from a ``numpy`` generator seeded by the
case, so each seed gives another file with the same structure. ``bbox`` and ``area``
come from the decoded masks, as in COCO. Categories have non-contiguous ids listed
out of order. The goldens store the written bytes (see ``parity/cases/_data_common.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_utils

CLASSES = ("person", "car", "kite")
CATEGORIES = [{"id": 5, "name": "person"}, {"id": 2, "name": "car"}, {"id": 9, "name": "kite"}]
IMAGES = [
    {"id": 1, "file_name": "p1.png", "height": 48, "width": 64},
    {"id": 2, "file_name": "j2.jpg", "height": 40, "width": 52},
    {"id": 3, "file_name": "p3.png", "height": 36, "width": 30},
    {"id": 4, "file_name": "empty4.png", "height": 32, "width": 40},
    {"id": 6, "file_name": "empty6.jpg", "height": 30, "width": 44},
]
# (annotation id, image id, category id, kind): the kinds are written by _segmentation
LAYOUT = [
    (101, 1, 5, "polygon"),
    (102, 1, 2, "polygon_parts"),
    (103, 1, 9, "rle_compressed"),
    (104, 1, 5, "polygon_2_points"),
    (105, 1, 2, "polygon_with_short_and_odd_parts"),
    (201, 2, 5, "rle_uncompressed"),
    (202, 2, 2, "crowd_rle_uncompressed"),
    (203, 2, 9, "polygon"),
    (204, 2, 5, "polygon_past_border"),
    (301, 3, 2, "crowd_rle_compressed"),
    (302, 3, 5, "polygon"),
    (303, 3, 9, "rle_compressed"),
]


def uncompressed_counts(mask: np.ndarray) -> list[int]:
    """COCO's uncompressed RLE of a binary mask: column-major run lengths, zeros first."""
    flat = mask.flatten(order="F")
    edges = np.concatenate([[0], np.flatnonzero(flat[1:] != flat[:-1]) + 1, [len(flat)]])
    runs = np.diff(edges).tolist()
    return ([0] + runs) if flat[0] else runs


def _star(rng: np.random.Generator, h: int, w: int, points: int) -> list[float]:
    """A star-shaped polygon inside the image, as ``[x0, y0, x1, y1, ...]`` (quarter pixels)."""
    cx, cy = rng.uniform(0.3 * w, 0.7 * w), rng.uniform(0.3 * h, 0.7 * h)
    angles = np.sort(rng.uniform(0, 2 * np.pi, points))
    radii = rng.uniform(0.15, 0.3, points) * min(h, w)
    xs = np.clip(cx + radii * np.cos(angles), 0, w - 1)
    ys = np.clip(cy + radii * np.sin(angles), 0, h - 1)
    return [float(np.round(v * 4) / 4) for pair in zip(xs, ys) for v in pair]


def _ellipse(rng: np.random.Generator, h: int, w: int, scale: float = 0.25) -> np.ndarray:
    mask = np.zeros((h, w), dtype=np.uint8)
    center = (int(rng.integers(w // 4, 3 * w // 4)), int(rng.integers(h // 4, 3 * h // 4)))
    axes = (int(rng.integers(3, max(4, int(w * scale)))), int(rng.integers(3, max(4, int(h * scale)))))
    cv2.ellipse(mask, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, thickness=-1)
    return mask


def _compressed(mask: np.ndarray) -> dict[str, Any]:
    rle = mask_utils.encode(np.asfortranarray(mask))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _segmentation(kind: str, rng: np.random.Generator, h: int, w: int) -> Any:
    if kind == "polygon":
        return [_star(rng, h, w, int(rng.integers(5, 9)))]
    if kind == "polygon_parts":
        return [_star(rng, h, w, 6), _star(rng, h, w, 4)]
    if kind == "polygon_2_points":
        return [_star(rng, h, w, 2)]
    if kind == "polygon_with_short_and_odd_parts":
        return [_star(rng, h, w, 5), _star(rng, h, w, 2), _star(rng, h, w, 4)[:7]]
    if kind == "polygon_past_border":
        poly = _star(rng, h, w, 6)
        return [[v + (w * 0.6 if i % 2 == 0 else 0.0) for i, v in enumerate(poly)]]
    if kind == "rle_compressed":
        return _compressed(_ellipse(rng, h, w))
    if kind == "rle_uncompressed":
        return {"size": [h, w], "counts": uncompressed_counts(_ellipse(rng, h, w))}
    if kind == "crowd_rle_uncompressed":
        return {"size": [h, w], "counts": uncompressed_counts(_ellipse(rng, h, w, scale=0.45))}
    if kind == "crowd_rle_compressed":
        return _compressed(_ellipse(rng, h, w, scale=0.45))
    raise ValueError(f"unknown segmentation kind {kind!r}")


def _bbox_and_area(segmentation: Any, h: int, w: int) -> tuple[list[float], float]:
    """COCO's ``bbox`` (x, y, w, h of the decoded mask) and ``area`` (its pixel count)."""
    if isinstance(segmentation, list):
        valid = [p for p in segmentation if len(p) >= 6]
        if not valid:  # only a 2-point polygon: the box of its points, area 1 (still a valid annotation)
            xs, ys = segmentation[0][0::2], segmentation[0][1::2]
            return [min(xs), min(ys), max(max(xs) - min(xs), 1.0), max(max(ys) - min(ys), 1.0)], 1.0
        rle = mask_utils.merge(mask_utils.frPyObjects(valid, h, w))
    elif isinstance(segmentation["counts"], list):
        rle = mask_utils.frPyObjects(segmentation, h, w)
    else:
        rle = segmentation
    return [float(v) for v in mask_utils.toBbox(rle)], float(mask_utils.area(rle))


def _draw(info: dict[str, Any], anns: list[dict[str, Any]]) -> np.ndarray:
    h, w = info["height"], info["width"]
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx * 3) % 256, (yy * 6) % 256, ((xx * 2 + yy) * 2) % 256], axis=-1).astype(np.uint8)
    for k, ann in enumerate(anns):
        x, y, bw, bh = (int(v) for v in ann["bbox"])
        color = (50 + 47 * k % 200, 220 - 35 * k % 190, 80 + 53 * k % 170)
        cv2.rectangle(img, (x, y), (x + bw - 1, y + bh - 1), color, thickness=-1)
    return img


def write_coco_segm_file(root: str | Path, seed: int, *, short_only_polygon: bool = True) -> dict[str, Any]:
    """Write ``<root>/annotations.json`` and ``<root>/images/*``; return the JSON data."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    sizes = {img["id"]: (img["height"], img["width"]) for img in IMAGES}
    anns = []
    for ann_id, img_id, cat_id, kind in LAYOUT:
        h, w = sizes[img_id]
        segmentation = _segmentation(kind, rng, h, w)
        bbox, area = _bbox_and_area(segmentation, h, w)
        if kind == "polygon_2_points" and not short_only_polygon:
            continue  # drawn all the same, so the other annotations keep their shapes
        anns.append({"id": ann_id, "image_id": img_id, "category_id": cat_id, "bbox": bbox, "area": area,
                     "iscrowd": int(kind.startswith("crowd")), "segmentation": segmentation})  # fmt: skip
    for info in IMAGES:
        path = root / "images" / info["file_name"]
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), _draw(info, [a for a in anns if a["image_id"] == info["id"]])):
            raise OSError(f"could not write {path}")
    data = {"info": {"description": "visdet parity COCO segmentation file"}, "images": [dict(i) for i in IMAGES],
            "annotations": anns, "categories": [dict(c) for c in CATEGORIES]}  # fmt: skip
    (root / "annotations.json").write_text(json.dumps(data))
    return data
