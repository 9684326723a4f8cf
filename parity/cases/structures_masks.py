"""Parity cases for the mask structures: ``BitmapMasks`` and ``PolygonMasks`` against mmdet's.

Both sides build the structure from the same drawn data with the same arguments and
apply one operation each; results are compared as arrays (masks exactly, polygon
vertices and areas within tolerance). Bitmaps are unions of random rectangles with
integer edges plus scattered pixels, so ``crop_and_resize`` meets values of exactly 0.5
(bilinear samples half-way between a 0 and a 1 pixel) and its ``>= 0.5`` threshold is
tested where it is sharpest. Polygons are random star-shaped rings (several per
instance) with float64 vertices, as mmdet's loader gives them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from parity.cases.base import Case, Tensors, register

BITMAP = "structures/masks/bitmap_masks"
POLYGON = "structures/masks/polygon_masks"


# ------------------------------------------------------------------------ inputs
def _bitmaps(n: int, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    masks = torch.zeros(n, h, w, dtype=torch.uint8)
    for i in range(n):
        for _ in range(3):
            x1 = int(torch.randint(0, w - 2, (1,), generator=gen))
            y1 = int(torch.randint(0, h - 2, (1,), generator=gen))
            x2 = int(torch.randint(x1 + 1, w + 1, (1,), generator=gen))
            y2 = int(torch.randint(y1 + 1, h + 1, (1,), generator=gen))
            masks[i, y1:y2, x1:x2] = 1
    flips = torch.rand(n, h, w, generator=gen) < 0.03
    return torch.where(flips, 1 - masks, masks)


def _boxes(k: int, h: int, w: int, gen: torch.Generator, integer: bool) -> torch.Tensor:
    """Boxes that may stick out of the masks, some tiny, some integer-cornered."""
    x1 = torch.rand(k, generator=gen) * (w + 4) - 4
    y1 = torch.rand(k, generator=gen) * (h + 4) - 4
    bw = 0.3 + torch.rand(k, generator=gen) * w * 0.8
    bh = 0.3 + torch.rand(k, generator=gen) * h * 0.8
    boxes = torch.stack([x1, y1, x1 + bw, y1 + bh], dim=1)
    return boxes.round() if integer else boxes


def _bitmap_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    n, (h, w) = p["num"], p["size"]
    out = {"masks": _bitmaps(n, h, w, gen)}
    if "num_boxes" in p:
        k = p["num_boxes"]
        out["boxes"] = _boxes(k, h, w, gen, p.get("integer_boxes", False))
        out["inds"] = torch.randint(0, max(n, 1), (k,), generator=gen)
    return out


def _polygons(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    h, w = p["size"]
    coords, lengths, counts = [], [], []
    for _ in range(p["num"]):
        rings = int(torch.randint(1, 3, (1,), generator=gen))
        counts.append(rings)
        for _ in range(rings):
            verts = int(torch.randint(3, 9, (1,), generator=gen))
            cx = float(torch.rand((), generator=gen)) * w
            cy = float(torch.rand((), generator=gen)) * h
            radius = 2 + torch.rand(verts, generator=gen) * min(h, w) * 0.4
            angle = torch.sort(torch.rand(verts, generator=gen) * 2 * math.pi).values
            xs, ys = cx + radius * torch.cos(angle), cy + radius * torch.sin(angle)
            coords.append(torch.stack([xs, ys], dim=1).reshape(-1))
            lengths.append(2 * verts)
    flat = torch.cat(coords) if coords else torch.zeros(0)
    return {"coords": flat, "lengths": torch.tensor(lengths, dtype=torch.long),
            "counts": torch.tensor(counts, dtype=torch.long)}


def _polygon_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    out = _polygons(p, gen)
    if "num_boxes" in p:
        h, w = p["size"]
        k = p["num_boxes"]
        out["boxes"] = _boxes(k, h, w, gen, integer=False)
        out["inds"] = torch.randint(0, max(p["num"], 1), (k,), generator=gen)
    return out


def _polygon_list(t: Tensors) -> list[list[np.ndarray]]:
    flat = t["coords"].double().numpy()
    rings, start = [], 0
    for n in t["lengths"].tolist():
        rings.append(flat[start : start + n].copy())
        start += n
    out, start = [], 0
    for c in t["counts"].tolist():
        out.append(rings[start : start + c])
        start += c
    return out


# ------------------------------------------------------------------------ outputs
def _bitmap_out(masks: Any) -> Tensors:
    return {"masks": torch.from_numpy(np.ascontiguousarray(masks.masks)),
            "size": torch.tensor([masks.height, masks.width])}


def _polygon_out(masks: Any, raster: bool = False) -> Tensors:
    out: Tensors = {"size": torch.tensor([masks.height, masks.width]),
                    "counts": torch.tensor([len(polys) for polys in masks.masks], dtype=torch.long)}
    if raster:  # vertex order of shapely's output is not part of the contract; the mask is
        out["raster"] = torch.from_numpy(masks.to_ndarray())
        out["areas"] = torch.from_numpy(np.asarray(masks.areas, dtype=np.float64))
    else:
        rings = [ring for polys in masks.masks for ring in polys]
        out["coords"] = torch.from_numpy(np.concatenate(rings)) if rings else torch.zeros(0, dtype=torch.float64)
        out["lengths"] = torch.tensor([len(r) for r in rings], dtype=torch.long)
    return out


def _bitmap_op(cls: Any, p: Mapping[str, Any], t: Tensors) -> Tensors:
    n, (h, w) = p["num"], p["size"]
    masks = cls(t["masks"].numpy().copy(), h, w) if n else cls([], h, w)
    op, args = p["op"], p.get("args", [])
    if op == "crop_and_resize":
        boxes = t["boxes"].to(getattr(torch, p.get("box_dtype", "float32"))).numpy()
        result = masks.crop_and_resize(boxes, tuple(p["out_shape"]), t["inds"].numpy(), device="cpu",
                                       binarize=p.get("binarize", True))
        return _bitmap_out(result)
    if op == "areas":
        return {"areas": torch.from_numpy(np.asarray(masks.areas))}
    if op == "to_tensor":
        return {"tensor": masks.to_tensor(dtype=torch.float32, device="cpu")}
    if op == "getitem":
        return _bitmap_out(masks[np.asarray(args[0], dtype=bool) if isinstance(args[0][0], bool) else
                                 np.asarray(args[0])])
    if op == "crop":
        return _bitmap_out(masks.crop(np.asarray(args[0], dtype=np.int64)))
    if op in ("rescale", "resize", "pad"):
        args = [tuple(a) if isinstance(a, list) else a for a in args]
    if op == "translate":
        return _bitmap_out(masks.translate(tuple(args[0]), *args[1:]))
    return _bitmap_out(getattr(masks, op)(*args))


def _polygon_op(cls: Any, p: Mapping[str, Any], t: Tensors) -> Tensors:
    h, w = p["size"]
    masks = cls(_polygon_list(t), h, w)
    op, args = p["op"], p.get("args", [])
    if op == "crop_and_resize":
        result = masks.crop_and_resize(t["boxes"].double().numpy(), tuple(p["out_shape"]), t["inds"].numpy())
        return _polygon_out(result, raster=True)
    if op == "areas":
        return {"areas": torch.from_numpy(np.asarray(masks.areas, dtype=np.float64))}
    if op == "to_ndarray":
        return {"raster": torch.from_numpy(masks.to_ndarray())}
    if op == "to_bitmap":
        return _bitmap_out(masks.to_bitmap())
    if op == "crop":
        return _polygon_out(masks.crop(np.asarray(args[0], dtype=np.int64)), raster=True)
    if op == "getitem":
        return _polygon_out(masks[np.asarray(args[0])])
    if op in ("rescale", "resize", "translate", "pad"):
        args = [tuple(a) if isinstance(a, list) else a for a in args]
    return _polygon_out(getattr(masks, op)(*args))


def _ref_bitmap(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from mmdet.structures.mask import BitmapMasks

    return _bitmap_op(BitmapMasks, p, t)


def _vis_bitmap(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from visdet.structures import BitmapMasks

    return _bitmap_op(BitmapMasks, p, t)


def _ref_polygon(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from mmdet.structures.mask import PolygonMasks

    return _polygon_op(PolygonMasks, p, t)


def _vis_polygon(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from visdet.structures import PolygonMasks

    return _polygon_op(PolygonMasks, p, t)


# ------------------------------------------------------------------------ cases
_B = {"num": 4, "size": [23, 31]}
_BITMAP_CASES: dict[str, dict[str, Any]] = {
    "rescale_factor": {"op": "rescale", "args": [0.73]},
    "rescale_bound": {"op": "rescale", "args": [[50, 40]]},
    "rescale_empty": {"op": "rescale", "args": [1.6], "num": 0},
    "resize": {"op": "resize", "args": [[17, 40]]},
    "resize_bilinear": {"op": "resize", "args": [[40, 17], "bilinear"]},
    "flip_horizontal": {"op": "flip", "args": ["horizontal"]},
    "flip_vertical": {"op": "flip", "args": ["vertical"]},
    "flip_diagonal": {"op": "flip", "args": ["diagonal"]},
    "pad": {"op": "pad", "args": [[32, 40], 0]},
    "pad_empty": {"op": "pad", "args": [[32, 32], 0], "num": 0},
    "crop": {"op": "crop", "args": [[5, 3, 20, 30]]},
    "crop_outside": {"op": "crop", "args": [[-4, 22, 50, 60]]},
    "expand": {"op": "expand", "args": [40, 45, 6, 9]},
    "translate_same_size": {"op": "translate", "args": [[23, 31], 5]},
    "translate_larger_vertical": {"op": "translate", "args": [[30, 35], -4, "vertical"]},
    "translate_smaller": {"op": "translate", "args": [[20, 8], 3]},
    "areas": {"op": "areas"},
    "to_tensor": {"op": "to_tensor"},
    "getitem_bool": {"op": "getitem", "args": [[True, False, True, True]]},
    "getitem_index": {"op": "getitem", "args": [[3, 0, 0]]},
}
for _name, _extra in _BITMAP_CASES.items():
    register(Case(
        component=BITMAP, name=_name, params={**_B, **_extra}, seed=100 + len(_name),
        make_inputs=_bitmap_inputs, reference=_ref_bitmap, visdet=_vis_bitmap,
        description=f"BitmapMasks.{_extra['op']} {_extra.get('args', '')}",
    ))

_CROP_RESIZE: dict[str, dict[str, Any]] = {
    "crop_and_resize_float_boxes": {"num_boxes": 24, "out_shape": [28, 28]},
    "crop_and_resize_integer_boxes": {"num_boxes": 24, "out_shape": [28, 28], "integer_boxes": True},
    "crop_and_resize_integer_boxes_float64": {"num_boxes": 24, "out_shape": [14, 13], "integer_boxes": True,
                                              "box_dtype": "float64"},
    "crop_and_resize_soft": {"num_boxes": 12, "out_shape": [13, 14], "binarize": False},
    "crop_and_resize_no_boxes": {"num_boxes": 0, "out_shape": [28, 28]},
    "crop_and_resize_no_masks": {"num_boxes": 3, "out_shape": [28, 28], "num": 0},
}
for _name, _extra in _CROP_RESIZE.items():
    register(Case(
        component=BITMAP, name=_name, params={"num": 5, "size": [40, 52], "op": "crop_and_resize", **_extra},
        seed=200 + len(_name), make_inputs=_bitmap_inputs, reference=_ref_bitmap, visdet=_vis_bitmap,
        description="mask targets: RoIAlign of each box's mask, thresholded at 0.5 unless soft",
        live_params=({"integer_boxes": True}, {"integer_boxes": False, "num_boxes": 40}),
    ))

_P = {"num": 4, "size": [37, 45]}
_POLYGON_CASES: dict[str, dict[str, Any]] = {
    "rescale_factor": {"op": "rescale", "args": [0.61]},
    "rescale_bound": {"op": "rescale", "args": [[80, 60]]},
    "resize": {"op": "resize", "args": [[20, 70]]},
    "flip_horizontal": {"op": "flip", "args": ["horizontal"]},
    "flip_vertical": {"op": "flip", "args": ["vertical"]},
    "flip_diagonal": {"op": "flip", "args": ["diagonal"]},
    "pad": {"op": "pad", "args": [[40, 64]]},
    "crop": {"op": "crop", "args": [[6, 4, 30, 25]]},
    "crop_corner": {"op": "crop", "args": [[30, 28, 80, 90]]},
    "translate": {"op": "translate", "args": [[37, 45], 7.5]},
    "translate_vertical": {"op": "translate", "args": [[40, 45], -6, "vertical"]},
    "areas": {"op": "areas"},
    "to_ndarray": {"op": "to_ndarray"},
    "to_bitmap": {"op": "to_bitmap"},
    "getitem": {"op": "getitem", "args": [[2, 0]]},
    "crop_and_resize": {"op": "crop_and_resize", "num_boxes": 10, "out_shape": [28, 28]},
}
for _name, _extra in _POLYGON_CASES.items():
    register(Case(
        component=POLYGON, name=_name, params={**_P, **_extra}, seed=300 + len(_name),
        make_inputs=_polygon_inputs, reference=_ref_polygon, visdet=_vis_polygon,
        exact=("counts", "lengths", "size"),
        description=f"PolygonMasks.{_extra['op']} {_extra.get('args', '')}",
    ))
