"""Parity cases for RTMDet's training transforms (CachedMosaic, CachedMixUp, YOLOXHSVRandomAug,
FilterAnnotations) and RTMDet's two training pipelines, against mmdet 3.3.

A case runs a *sequence* of synthetic items (sizes per item, some without boxes) through one
transform object, or one pipeline of them, after seeding numpy's and python's global RNGs
once: the cached transforms keep state from item to item (cache warm-up, FIFO or random
pops), so every step's results are compared (``s<k>.<key>``; ``s<k>.rejected`` = 1 when a
transform returned ``None``, after which the next item starts afresh, as a dataset would).

Masks are ``BitmapMasks`` (or ``PolygonMasks``) on both sides; bitmaps are compared
bit-packed (``gt_masks_bits``, with each mask's sum and the array shape), which keeps the
goldens small. The pipelines stop before ``PackDetInputs`` (pinned by its
own case) and start after loading (the items are the loaded results).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from parity.cases._data_common import (
    EXACT_STRUCTURE_KEYS,
    collect,
    mmdet_transform,
    reference_results,
    seed_numpy,
    transform_inputs,
    visdet_results,
    visdet_transform,
)
from parity.cases.base import Case, Tensors, register

# (h, w) of the items, in order; the sequences cycle through them
SIZES = ((24, 32), (32, 24), (20, 36), (28, 28), (36, 22), (26, 30), (30, 40), (22, 26))
EXACT = tuple(f"s*.{key}" for key in (*EXACT_STRUCTURE_KEYS, "gt_masks_bits", "gt_masks_sums", "gt_masks_shape"))


def sequence_inputs(params: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    """``params['items']`` synthetic items (image, boxes, labels, ignore flags, masks), ``i<k>.<key>``."""
    counts = params.get("counts") or [params.get("n", 3)] * params["items"]
    out: Tensors = {}
    for k in range(params["items"]):
        h, w = SIZES[k % len(SIZES)]
        drawn = transform_inputs({"h": h, "w": w, "n": counts[k]}, gen)
        out.update({f"i{k}.{key}": value for key, value in drawn.items()})
    return out


def _item(inputs: Tensors, k: int) -> Tensors:
    prefix = f"i{k}."
    return {key[len(prefix) :]: value for key, value in inputs.items() if key.startswith(prefix)}


def _compact(results: Mapping[str, Any] | None) -> Tensors:
    """:func:`collect`, with bitmap masks bit-packed (plus per-mask sums and the shape)."""
    out = collect(results)
    masks = out.pop("gt_masks", None)
    if masks is not None:
        array = masks.numpy()
        out["gt_masks_shape"] = torch.tensor(array.shape, dtype=torch.int64)
        out["gt_masks_sums"] = torch.from_numpy(array.sum((1, 2), dtype=np.int64))
        out["gt_masks_bits"] = torch.from_numpy(np.packbits(array != 0))
    return out


def _run(params: Mapping[str, Any], inputs: Tensors, reference: bool) -> Tensors:
    build = mmdet_transform if reference else visdet_transform
    make_results = reference_results if reference else visdet_results
    transforms = [build(cfg) for cfg in params["cfgs"]]
    seed_numpy(params.get("np_seed", 0))
    out: Tensors = {}
    for k in range(params["items"]):
        item = _item(inputs, k)
        results: dict[str, Any] | None = make_results(item, params.get("with_masks", True), params["mask_struct"])
        for transform in transforms:
            results = transform(results)
            if results is None:
                break
        out.update({f"s{k}.{key}": value for key, value in _compact(results).items()})
    return out


def _ref(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    return _run(params, inputs, reference=True)


def _vis(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    return _run(params, inputs, reference=False)


def _add(component: str, name: str, cfgs: Sequence[dict[str, Any]], items: int, seed: int = 0, **extra: Any) -> None:
    register(
        Case(
            component=f"data/transforms/{component}",
            name=name,
            params={"cfgs": list(cfgs), "items": items, "mask_struct": "bitmap", **extra},
            seed=seed,
            make_inputs=sequence_inputs,
            reference=_ref,
            visdet=_vis,
            exact=EXACT,
            description=f"{' -> '.join(c['type'] for c in cfgs)} over {items} items",
        )
    )


# ---------------------------------------------------------------------- CachedMosaic
_MOSAIC = {"type": "CachedMosaic", "img_scale": [24, 24], "max_cached_images": 5}
_add("cached_mosaic", "fifo_0", [{**_MOSAIC, "random_pop": False}], items=7, seed=0, np_seed=0)
for _s in range(2):
    _add("cached_mosaic", f"random_pop_{_s}", [_MOSAIC], items=7, seed=10 + _s, np_seed=10 + _s)
_add("cached_mosaic", "max4_never_mixes", [{**_MOSAIC, "max_cached_images": 4}], items=6, seed=20, with_masks=False)
_add("cached_mosaic", "prob_half", [{**_MOSAIC, "prob": 0.5}], items=8, seed=21, np_seed=21, with_masks=False)
_add("cached_mosaic", "no_clip_center_range",
     [{**_MOSAIC, "bbox_clip_border": False, "center_ratio_range": [0.2, 1.8], "pad_val": 7}],
     items=7, seed=22, np_seed=22)  # fmt: skip
# non-square tiles: mmdet gives the masks a (2w, 2h) canvas (its quirk, kept)
_add("cached_mosaic", "non_square", [{**_MOSAIC, "img_scale": [28, 20]}], items=6, seed=23, np_seed=23)
_add("cached_mosaic", "polygon_masks", [_MOSAIC], items=6, seed=24, np_seed=24, mask_struct="polygon")
_add("cached_mosaic", "empty_items", [_MOSAIC], items=7, seed=25, np_seed=25, counts=[2, 0, 3, 0, 1, 0, 2])

# ----------------------------------------------------------------------- CachedMixUp
_MIXUP = {"type": "CachedMixUp", "img_scale": [24, 24], "max_cached_images": 3}
for _s in range(2):
    _add("cached_mixup", f"fifo_{_s}", [{**_MIXUP, "random_pop": False}], items=5, seed=30 + _s, np_seed=_s)
for _s in range(2):
    _add("cached_mixup", f"random_pop_{_s}", [_MIXUP], items=6, seed=32 + _s, np_seed=10 + _s)
_add("cached_mixup", "rtmdet_tuple_pad", [{**_MIXUP, "ratio_range": [1.0, 1.0], "pad_val": [114, 114, 114]}],
     items=5, seed=34, np_seed=4)  # fmt: skip
_add("cached_mixup", "prob_half_no_clip", [{**_MIXUP, "prob": 0.5, "bbox_clip_border": False, "flip_ratio": 0.2}],
     items=6, seed=35, np_seed=5, with_masks=False)  # fmt: skip
_add("cached_mixup", "large_canvas", [{**_MIXUP, "img_scale": [48, 40], "ratio_range": [0.8, 1.6]}],
     items=5, seed=36, np_seed=6)  # fmt: skip
_add("cached_mixup", "empty_cached", [{**_MIXUP, "max_iters": 2, "max_cached_images": 4}],
     items=6, seed=37, np_seed=7, counts=[0, 0, 2, 0, 0, 1])  # fmt: skip
_add("cached_mixup", "polygon_masks", [_MIXUP], items=5, seed=38, np_seed=8, mask_struct="polygon")

# ----------------------------------------------------------------- YOLOXHSVRandomAug
for _s in range(3):
    _add("yolox_hsv", f"seed_{_s}", [{"type": "YOLOXHSVRandomAug"}], items=3, seed=40 + _s, np_seed=_s,
         with_masks=False)  # fmt: skip
_add("yolox_hsv", "large_deltas", [{"type": "YOLOXHSVRandomAug", "hue_delta": 60, "saturation_delta": 200,
     "value_delta": 150}], items=3, seed=43, np_seed=3, with_masks=False)  # fmt: skip

# ----------------------------------------------------------------- FilterAnnotations
_add("filter_annotations", "by_box", [{"type": "FilterAnnotations", "min_gt_bbox_wh": [6, 4]}], items=3, seed=50)
_add("filter_annotations", "by_mask", [{"type": "FilterAnnotations", "by_box": False, "by_mask": True,
     "min_gt_mask_area": 380}], items=3, seed=51)  # fmt: skip
_add("filter_annotations", "by_box_and_mask", [{"type": "FilterAnnotations", "min_gt_bbox_wh": [3, 3],
     "by_mask": True, "min_gt_mask_area": 60}], items=3, seed=52, mask_struct="polygon")  # fmt: skip
_add("filter_annotations", "reject_or_keep_empty",
     [{"type": "FilterAnnotations", "min_gt_bbox_wh": [100, 100]}], items=2, seed=53, counts=[2, 0])  # fmt: skip
_add("filter_annotations", "keep_empty_false",
     [{"type": "FilterAnnotations", "min_gt_bbox_wh": [100, 100], "keep_empty": False}], items=2, seed=53)  # fmt: skip

# ------------------------------------------------- RTMDet's pipelines (reduced sizes)
# rtmdet_tiny_8xb32-300e_coco.py with 640 -> 24 (1280 -> 48); RTMDet-Ins adds masks
# (poly2mask=False: polygons), recompute_bbox/allow_negative_crop and FilterAnnotations.
_TAIL = [
    {"type": "YOLOXHSVRandomAug"},
    {"type": "RandomFlip", "prob": 0.5},
    {"type": "Pad", "size": [24, 24], "pad_val": {"img": [114, 114, 114]}},
]
_STAGE1 = [
    {"type": "CachedMosaic", "img_scale": [24, 24], "pad_val": 114.0, "max_cached_images": 5, "random_pop": False},
    {"type": "RandomResize", "scale": [48, 48], "ratio_range": [0.1, 2.0], "keep_ratio": True},
    {"type": "RandomCrop", "crop_size": [24, 24]},
    *_TAIL,
    {"type": "CachedMixUp", "img_scale": [24, 24], "ratio_range": [1.0, 1.0], "max_cached_images": 3,
     "random_pop": False, "pad_val": [114, 114, 114], "prob": 0.5},
]  # fmt: skip
_STAGE2 = [
    {"type": "RandomResize", "scale": [24, 24], "ratio_range": [0.1, 2.0], "keep_ratio": True},
    {"type": "RandomCrop", "crop_size": [24, 24]},
    *_TAIL,
]
_INS_CROP = {"type": "RandomCrop", "crop_size": [24, 24], "recompute_bbox": True, "allow_negative_crop": True}
_FILTER = {"type": "FilterAnnotations", "min_gt_bbox_wh": [1, 1]}
_INS_STAGE1 = [
    {"type": "CachedMosaic", "img_scale": [24, 24], "pad_val": 114.0, "max_cached_images": 5},
    {"type": "RandomResize", "scale": [48, 48], "ratio_range": [0.5, 2.0], "keep_ratio": True},
    _INS_CROP,
    *_TAIL,
    {"type": "CachedMixUp", "img_scale": [24, 24], "ratio_range": [1.0, 1.0], "max_cached_images": 4,
     "pad_val": [114, 114, 114]},
    _FILTER,
]  # fmt: skip
_INS_STAGE2 = [
    {"type": "RandomResize", "scale": [24, 24], "ratio_range": [0.5, 2.0], "keep_ratio": True},
    _INS_CROP,
    _FILTER,
    *_TAIL,
]
_add("rtmdet_pipeline", "stage1", _STAGE1, items=8, seed=60, np_seed=60, with_masks=False)
_add("rtmdet_pipeline", "stage1_seed2", _STAGE1, items=8, seed=61, np_seed=61, with_masks=False)
_add("rtmdet_pipeline", "stage2", _STAGE2, items=5, seed=62, np_seed=62, with_masks=False)
_add("rtmdet_pipeline", "ins_stage1_polygons", _INS_STAGE1, items=8, seed=63, np_seed=63, mask_struct="polygon")
_add("rtmdet_pipeline", "ins_stage1_bitmaps", _INS_STAGE1, items=7, seed=64, np_seed=64, mask_struct="bitmap")
_add("rtmdet_pipeline", "ins_stage2_polygons", _INS_STAGE2, items=5, seed=65, np_seed=65, mask_struct="polygon")


# ------------------------------- RTMDet's pipelines over a COCO file, load to pack
# CocoDataset (mmdet's / visdet's) with the whole pipeline, LoadImageFromFile to
# PackDetInputs, on the COCO file with every kind of segmentation (polygons, RLE, crowd,
# empty images; parity.cases._coco_segm_file). The items are read twice over, so the caches
# warm up and pop; a rejected item is redrawn by the dataset (numpy's RNG), as in training.
_LOAD = [{"type": "LoadImageFromFile"}, {"type": "LoadAnnotations", "with_bbox": True}]
_LOAD_INS = [{"type": "LoadImageFromFile"},
             {"type": "LoadAnnotations", "with_bbox": True, "with_mask": True, "poly2mask": False}]  # fmt: skip
_PACK = [{"type": "PackDetInputs"}]
_COCO_PIPELINES = {
    "det_stage1": _LOAD + _STAGE1 + _PACK,
    "det_stage2": _LOAD + _STAGE2 + _PACK,
    "ins_stage1_polygons": _LOAD_INS + _INS_STAGE1 + _PACK,
    "ins_stage1_bitmaps": [_LOAD_INS[0], {**_LOAD_INS[1], "poly2mask": True}] + _INS_STAGE1 + _PACK,
    "ins_stage2_polygons": _LOAD_INS + _INS_STAGE2 + _PACK,
}


def coco_dataset(kwargs: Mapping[str, Any], steps: list[dict[str, Any]], reference: bool) -> Any:
    """mmdet's ``CocoDataset`` (``reference``) or visdet's, with the pipeline ``steps`` (configs)."""
    import warnings

    if reference:
        from mmdet.datasets import CocoDataset
        from mmdet.utils import register_all_modules

        register_all_modules(init_default_scope=True)
        return CocoDataset(**kwargs, pipeline=steps)
    from visdet.build import build_pipeline
    from visdet.data.datasets import CocoDataset as VisdetCocoDataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return VisdetCocoDataset(**kwargs, pipeline=build_pipeline(steps))


def _coco_run(params: Mapping[str, Any], inputs: Tensors, reference: bool) -> Tensors:
    from parity.cases._data_common import transform_config
    from parity.cases.data_coco_segm import coco_file, dataset_kwargs, packed_outputs

    steps = [transform_config(step) for step in params["steps"]]
    with coco_file(inputs) as f:
        dataset = coco_dataset(dataset_kwargs({"pipeline": "train"}, f), steps, reference)
        seed_numpy(int(inputs["np_seed"]))
        items = [dataset[k % len(dataset)] for k in range(params["items"])]
    return packed_outputs(items)


def _coco_ref(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    return _coco_run(params, inputs, reference=True)


def _coco_vis(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    return _coco_run(params, inputs, reference=False)


def _register_coco_cases() -> None:
    from parity.cases.data_coco_segm import EXACT as COCO_EXACT
    from parity.cases.data_coco_segm import coco_inputs

    for k, (name, steps) in enumerate(_COCO_PIPELINES.items()):
        register(Case(
            component="data/datasets/coco_pipeline", name=f"rtmdet_{name}",
            params={"steps": steps, "items": 10}, seed=170 + k,
            make_inputs=coco_inputs, reference=_coco_ref, visdet=_coco_vis, exact=COCO_EXACT,
            description=f"CocoDataset with RTMDet's {name} pipeline (reduced sizes), 10 items",
        ))  # fmt: skip


_register_coco_cases()
