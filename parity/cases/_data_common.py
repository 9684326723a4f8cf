"""Shared pieces of the data parity cases: inputs, results dicts for both sides, outputs.

A transform case draws an image ``[H, W, 3]`` uint8, N boxes (some crossing the border),
labels, ignore flags and N random bitmap masks from the case's generator. Both sides get
a ``results`` dict in their own types (mmdet: ``HorizontalBoxes``, ``BitmapMasks``;
visdet: a float32 tensor, a uint8 array) and every output is turned into tensors by the
same :func:`collect`.
"""

from __future__ import annotations

import contextlib
import random
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from parity.cases.base import Tensors

FLIP_CODES = {None: -1, "horizontal": 0, "vertical": 1, "diagonal": 2}
TUPLE_KEYS = ("scale", "ratio_range", "crop_size", "size", "contrast_range", "saturation_range", "scale_factor",
              "img_scale", "center_ratio_range", "min_gt_bbox_wh", "pad_val")  # fmt: skip


def transform_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """JSON lists back to the tuples mmcv expects (``scale=(w, h)``, ``[(w, h), (w, h)]``)."""
    out = dict(cfg)
    for key in TUPLE_KEYS:
        value = out.get(key)
        if isinstance(value, list):
            out[key] = [tuple(v) for v in value] if value and isinstance(value[0], list) else tuple(value)
    if isinstance(out.get("pad_val"), dict):
        out["pad_val"] = {k: tuple(v) if isinstance(v, list) else v for k, v in out["pad_val"].items()}
    return out


def mmdet_transform(cfg: Mapping[str, Any]) -> Any:
    """The reference's transform, built by mmdet's ``TRANSFORMS`` registry."""
    from mmdet.registry import TRANSFORMS
    from mmdet.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    return TRANSFORMS.build(transform_config(cfg))


def visdet_transform(cfg: Mapping[str, Any]) -> Any:
    """visdet's transform, built at the config boundary from the same dict."""
    from visdet.build import build_component

    return build_component("transform", transform_config(cfg))


def transform_inputs(params: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    """Image, boxes, labels, ignore flags and masks of one synthetic item."""
    h, w, n = params.get("h", 40), params.get("w", 56), params.get("n", 5)
    img = torch.randint(0, 256, (h, w, 3), generator=gen, dtype=torch.uint8)
    xy = torch.rand(n, 2, generator=gen) * torch.tensor([w * 0.9, h * 0.9])
    wh = torch.rand(n, 2, generator=gen) * torch.tensor([w * 0.5, h * 0.5]) + 1.0
    boxes = torch.cat([xy, xy + wh], dim=1).to(torch.float32)
    labels = torch.randint(0, 3, (n,), generator=gen, dtype=torch.int64)
    ignore = torch.rand(n, generator=gen) < 0.3
    masks = (torch.rand(n, h, w, generator=gen) < 0.5).to(torch.uint8)
    return {"img": img, "boxes": boxes, "labels": labels, "ignore": ignore, "masks": masks}


def box_polygons(boxes: torch.Tensor) -> list[list[np.ndarray]]:
    """Polygons of each box (its rectangle; every other instance adds a triangle inside it)."""
    out = []
    for i, (x1, y1, x2, y2) in enumerate(boxes.double().tolist()):
        polygons = [np.array([x1, y1, x2, y1, x2, y2, x1, y2])]
        if i % 2 == 0:
            polygons.append(np.array([x1, y1, (x1 + x2) / 2, y2, x2, (y1 + y2) / 2]))
        out.append(polygons)
    return out


def mask_structure(inputs: Tensors, kind: str, reference: bool) -> Any:
    """The inputs' masks as ``BitmapMasks`` or (from the boxes) ``PolygonMasks`` of either side."""
    if reference:
        from mmdet.structures.mask import BitmapMasks, PolygonMasks
    else:
        from visdet.structures import BitmapMasks, PolygonMasks
    h, w = inputs["img"].shape[:2]
    if kind == "bitmap":
        return BitmapMasks(inputs["masks"].numpy().copy(), h, w)
    if kind == "polygon":
        return PolygonMasks(box_polygons(inputs["boxes"]), h, w)
    raise ValueError(f"unknown mask structure {kind!r}")


def visdet_results(inputs: Tensors, with_masks: bool = True, mask_struct: str | None = None) -> dict[str, Any]:
    """The inputs as a visdet pipeline ``results`` dict (masks as an array, or a structure)."""
    img = inputs["img"].numpy().copy()
    results = {
        "img": img,
        "img_shape": img.shape[:2],
        "ori_shape": img.shape[:2],
        "gt_bboxes": inputs["boxes"].clone(),
        "gt_bboxes_labels": inputs["labels"].numpy().copy(),
        "gt_ignore_flags": inputs["ignore"].numpy().copy(),
    }
    if with_masks and mask_struct is not None:
        results["gt_masks"] = mask_structure(inputs, mask_struct, reference=False)
    elif with_masks:
        results["gt_masks"] = inputs["masks"].numpy().copy()
    return results


def reference_results(inputs: Tensors, with_masks: bool = True, mask_struct: str | None = None) -> dict[str, Any]:
    """The inputs as an mmdet pipeline ``results`` dict."""
    from mmdet.structures.bbox import HorizontalBoxes
    from mmdet.structures.mask import BitmapMasks

    results = visdet_results(inputs, with_masks=False)
    results["gt_bboxes"] = HorizontalBoxes(inputs["boxes"].clone())
    if with_masks and mask_struct is not None:
        results["gt_masks"] = mask_structure(inputs, mask_struct, reference=True)
    elif with_masks:
        h, w = results["img_shape"]
        results["gt_masks"] = BitmapMasks(inputs["masks"].numpy().copy(), h, w)
    return results


def seed_numpy(seed: int) -> None:
    """Seed the global numpy and ``random`` RNGs (the transforms draw from numpy's)."""
    np.random.seed(seed)
    random.seed(seed)


def _boxes_tensor(value: Any) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else value.tensor


def _masks_array(value: Any) -> np.ndarray:
    return value if isinstance(value, np.ndarray) else value.masks


def collect(results: Mapping[str, Any] | None, structure_hw: bool = True) -> Tensors:
    """Tensors of everything a transform may set (``rejected`` = 1 for a ``None`` result).

    ``structure_hw=False`` leaves out a mask structure's (height, width): for the cases whose
    two sides hold masks in different containers (mmdet ``BitmapMasks``, visdet an array).
    """
    if results is None:
        return {"rejected": torch.tensor(1)}
    out: Tensors = {"rejected": torch.tensor(0)}
    if "img" in results:
        out["img"] = torch.from_numpy(np.ascontiguousarray(results["img"]))
    for key in ("img_shape", "ori_shape", "pad_shape", "scale"):
        if results.get(key) is not None:
            out[key] = torch.tensor([int(v) for v in results[key]], dtype=torch.int64)
    if results.get("scale_factor") is not None:
        out["scale_factor"] = torch.tensor([float(v) for v in results["scale_factor"]], dtype=torch.float64)
    if results.get("homography_matrix") is not None:
        out["homography_matrix"] = torch.from_numpy(np.asarray(results["homography_matrix"]))
    if "flip" in results:
        out["flip"] = torch.tensor(int(results["flip"]))
        out["flip_direction"] = torch.tensor(FLIP_CODES[results.get("flip_direction")])
    if results.get("gt_bboxes") is not None:
        out["gt_bboxes"] = _boxes_tensor(results["gt_bboxes"]).clone()
    masks = results.get("gt_masks")
    if structure_hw and masks is not None and not isinstance(masks, np.ndarray):
        out["gt_masks_hw"] = torch.tensor([masks.height, masks.width], dtype=torch.int64)
    if masks is not None and type(masks).__name__ == "PolygonMasks":
        polygons = [np.asarray(p, dtype=np.float64).ravel() for inst in masks.masks for p in inst]
        out["gt_polygon_counts"] = torch.tensor([len(inst) for inst in masks.masks], dtype=torch.int64)
        out["gt_polygon_sizes"] = torch.tensor([len(p) for p in polygons], dtype=torch.int64)
        out["gt_polygons"] = torch.from_numpy(np.concatenate(polygons) if polygons else np.zeros(0))
    elif masks is not None:
        out["gt_masks"] = torch.from_numpy(np.ascontiguousarray(_masks_array(results["gt_masks"])))
    for key in ("gt_bboxes_labels", "gt_ignore_flags"):
        if results.get(key) is not None:
            out[key] = torch.from_numpy(np.asarray(results[key]).copy())
    return out


EXACT_TRANSFORM_KEYS = (
    "rejected",
    "img",
    "img_shape",
    "ori_shape",
    "pad_shape",
    "scale",
    "flip",
    "flip_direction",
    "gt_masks",
    "gt_bboxes_labels",
    "gt_ignore_flags",
)
# with mask structures: their (height, width) and the polygon layout are exact too
EXACT_STRUCTURE_KEYS = (*EXACT_TRANSFORM_KEYS, "gt_masks_hw", "gt_polygon_counts", "gt_polygon_sizes")  # fmt: skip


FILE_PREFIX = "file."


def _bytes_tensor(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def file_tensors(root: Path) -> Tensors:
    """Every file below ``root`` as a uint8 tensor keyed ``file.<relative path>``.

    Goldens store the bytes of the files a case reads (COCO JSON, encoded images), so
    the frozen reference output is always compared on the very bytes it was computed
    from, whatever later happens to the code that first wrote them.
    """
    files = sorted(path for path in root.rglob("*") if path.is_file())
    return {FILE_PREFIX + path.relative_to(root).as_posix(): _bytes_tensor(path.read_bytes()) for path in files}


@contextlib.contextmanager
def materialized(inputs: Mapping[str, torch.Tensor]) -> Iterator[Path]:
    """Write the ``file.*`` inputs into a fresh temporary folder; yield it; remove it after."""
    with tempfile.TemporaryDirectory(prefix="visdet-parity-") as tmp:
        root = Path(tmp)
        for key, value in inputs.items():
            if key.startswith(FILE_PREFIX):
                path = root / key[len(FILE_PREFIX) :]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(value.numpy().tobytes())
        yield root
