"""Parity cases for the data transforms (Resize, RandomResize, RandomFlip, Pad, RandomCrop,
PhotoMetricDistortion, LoadImageFromFile, PackDetInputs) against mmdet/mmcv.

Each case gives a transform config in mmdet's shape; the reference builds it with mmdet's
``TRANSFORMS`` registry, visdet with ``visdet.build.build_component("transform", ...)``, from
the same dict. Random transforms run after seeding numpy's global RNG with ``np_seed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from parity.cases._data_common import (
    EXACT_STRUCTURE_KEYS,
    EXACT_TRANSFORM_KEYS,
    FILE_PREFIX,
    collect,
    materialized,
    mmdet_transform,
    reference_results,
    seed_numpy,
    transform_inputs,
    visdet_results,
    visdet_transform,
)
from parity.cases.base import Case, Tensors, register


def _ref(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    transform = mmdet_transform(params["cfg"])
    results = reference_results(inputs, params.get("with_masks", True), params.get("mask_struct"))
    seed_numpy(params.get("np_seed", 0))
    return collect(transform(results), structure_hw=params.get("mask_struct") is not None)


def _vis(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    transform = visdet_transform(params["cfg"])
    results = visdet_results(inputs, params.get("with_masks", True), params.get("mask_struct"))
    seed_numpy(params.get("np_seed", 0))
    return collect(transform(results), structure_hw=params.get("mask_struct") is not None)


def _add(
    component: str, name: str, cfg: dict[str, Any], seed: int = 0, exact: tuple = EXACT_TRANSFORM_KEYS, **extra: Any
) -> None:
    register(
        Case(
            component=f"data/transforms/{component}",
            name=name,
            params={"cfg": cfg, **extra},
            seed=seed,
            make_inputs=transform_inputs,
            reference=_ref,
            visdet=_vis,
            exact=exact,
            description=f"{cfg['type']} {cfg}",
        )
    )


# ---------------------------------------------------------------------------- Resize
_add("resize", "keep_ratio_up", {"type": "Resize", "scale": [80, 60], "keep_ratio": True})
_add("resize", "keep_ratio_down", {"type": "Resize", "scale": [30, 20], "keep_ratio": True}, seed=1)
_add("resize", "fixed_scale", {"type": "Resize", "scale": [45, 33], "keep_ratio": False}, seed=2)
_add("resize", "int_scale", {"type": "Resize", "scale": 48}, seed=3)
_add("resize", "scale_factor", {"type": "Resize", "scale_factor": 1.7}, seed=4)
_add("resize", "scale_factor_keep_ratio", {"type": "Resize", "scale_factor": 0.6, "keep_ratio": True}, seed=5)
_add("resize", "no_clip", {"type": "Resize", "scale": [70, 30], "clip_object_border": False}, seed=6)
for _interp in ("nearest", "bicubic", "area", "lanczos"):
    _add("resize", f"interp_{_interp}", {"type": "Resize", "scale": [37, 61], "interpolation": _interp}, seed=7)
_add("resize", "no_boxes", {"type": "Resize", "scale": [60, 50], "keep_ratio": True}, seed=8, n=0)

# ---------------------------------------------------------------------- RandomResize
_add("random_resize", "ratio_range",
     {"type": "RandomResize", "scale": [56, 40], "ratio_range": [0.5, 2.0], "keep_ratio": True}, np_seed=3)
_add("random_resize", "two_scales",
     {"type": "RandomResize", "scale": [[60, 40], [90, 70]], "keep_ratio": True}, seed=1, np_seed=5)
_add("random_resize", "two_scales_no_ratio",
     {"type": "RandomResize", "scale": [[60, 40], [90, 70]], "keep_ratio": False}, seed=2, np_seed=11)  # fmt: skip

# ------------------------------------------------------------------------ RandomFlip
for _k, _direction in enumerate(("horizontal", "vertical", "diagonal")):
    _add("flip", _direction, {"type": "RandomFlip", "prob": 1.0, "direction": _direction}, seed=_k)
for _np_seed in range(3):
    _add("flip", f"choice_{_np_seed}",
         {"type": "RandomFlip", "prob": [0.3, 0.3, 0.3], "direction": ["horizontal", "vertical", "diagonal"]},
         seed=10 + _np_seed, np_seed=_np_seed)  # fmt: skip
_add("flip", "prob_half", {"type": "RandomFlip", "prob": 0.5}, seed=20, np_seed=7)
_add("flip", "never", {"type": "RandomFlip", "prob": 0.0}, seed=21)

# ------------------------------------------------------------------------------- Pad
_add("pad", "size_divisor", {"type": "Pad", "size_divisor": 32})
_add("pad", "fixed_size", {"type": "Pad", "size": [64, 48]}, seed=1)
_add("pad", "to_square", {"type": "Pad", "pad_to_square": True}, seed=2)
_add("pad", "to_square_divisor", {"type": "Pad", "pad_to_square": True, "size_divisor": 32}, seed=3)
_add("pad", "pad_val_int", {"type": "Pad", "size_divisor": 16, "pad_val": 114}, seed=4)
_add("pad", "pad_val_dict", {"type": "Pad", "size_divisor": 16, "pad_val": {"img": [1, 2, 3], "masks": 7}}, seed=5)
_add("pad", "edge_mode", {"type": "Pad", "size": [70, 50], "padding_mode": "edge"}, seed=6)

# ----------------------------------------- mask structures (BitmapMasks / PolygonMasks)
_MASK_STRUCT_CFGS = {
    "resize_keep_ratio": {"type": "Resize", "scale": [80, 60], "keep_ratio": True},
    "resize_fixed": {"type": "Resize", "scale": [45, 33], "keep_ratio": False},
    "random_resize": {"type": "RandomResize", "scale": [56, 40], "ratio_range": [0.5, 2.0], "keep_ratio": True},
    "flip_horizontal": {"type": "RandomFlip", "prob": 1.0, "direction": "horizontal"},
    "flip_vertical": {"type": "RandomFlip", "prob": 1.0, "direction": "vertical"},
    "flip_diagonal": {"type": "RandomFlip", "prob": 1.0, "direction": "diagonal"},
    "pad_val_dict": {"type": "Pad", "size_divisor": 16, "pad_val": {"img": [1, 2, 3], "masks": 7}},
    "crop": {"type": "RandomCrop", "crop_size": [20, 24]},
    "crop_recompute_bbox": {"type": "RandomCrop", "crop_size": [24, 30], "recompute_bbox": True},
    "crop_negative": {"type": "RandomCrop", "crop_size": [6, 6], "allow_negative_crop": True},
    "photometric": {"type": "PhotoMetricDistortion"},
}
for _k, (_name, _cfg) in enumerate(_MASK_STRUCT_CFGS.items()):
    for _struct in ("bitmap", "polygon"):
        _add("mask_structures", f"{_struct}_{_name}", _cfg, seed=40 + _k, np_seed=_k, mask_struct=_struct,
             exact=EXACT_STRUCTURE_KEYS)  # fmt: skip

# ------------------------------------------------------------------------ RandomCrop
for _np_seed in range(3):
    _add("crop", f"absolute_{_np_seed}", {"type": "RandomCrop", "crop_size": [20, 24]}, seed=_np_seed, np_seed=_np_seed)
_add("crop", "absolute_range", {"type": "RandomCrop", "crop_size": [10, 30], "crop_type": "absolute_range"},
     seed=5, np_seed=5)  # fmt: skip
_add("crop", "relative", {"type": "RandomCrop", "crop_size": [0.5, 0.7], "crop_type": "relative"}, seed=6, np_seed=6)
_add("crop", "relative_range", {"type": "RandomCrop", "crop_size": [0.3, 0.5], "crop_type": "relative_range"},
     seed=7, np_seed=7)  # fmt: skip
_add("crop", "recompute_bbox", {"type": "RandomCrop", "crop_size": [24, 30], "recompute_bbox": True}, seed=8, np_seed=8)
_add("crop", "tiny_may_reject", {"type": "RandomCrop", "crop_size": [3, 3]}, seed=9, np_seed=9, n=1)
_add("crop", "tiny_negative_ok", {"type": "RandomCrop", "crop_size": [3, 3], "allow_negative_crop": True},
     seed=9, np_seed=9, n=1)  # fmt: skip

# ------------------------------------------------------------- PhotoMetricDistortion
for _np_seed in range(4):
    _add("photometric", f"seed_{_np_seed}", {"type": "PhotoMetricDistortion"}, seed=_np_seed, np_seed=_np_seed)


# ------------------------------------------------------------------- LoadImageFromFile
def _load_inputs(params: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    """The drawn image, encoded once (PNG or JPEG); the golden keeps the encoded bytes."""
    import cv2

    ok, encoded = cv2.imencode(params["ext"], transform_inputs(params, gen)["img"].numpy())
    if not ok:
        raise RuntimeError(f"could not encode a {params['ext']} image")
    return {f"{FILE_PREFIX}img{params['ext']}": torch.from_numpy(encoded.reshape(-1).copy())}


def _load(params: Mapping[str, Any], inputs: Tensors, transform: Any) -> Tensors:
    with materialized(inputs) as root:
        return collect(transform({"img_path": str(root / f"img{params['ext']}")}))


def _load_ref(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    return _load(params, inputs, mmdet_transform(params["cfg"]))


def _load_vis(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    return _load(params, inputs, visdet_transform(params["cfg"]))


for _ext in (".png", ".jpg"):
    for _color in ("color", "grayscale", "unchanged"):
        for _float in (False, True):
            register(Case(
                component="data/transforms/load_image",
                name=f"{_ext[1:]}_{_color}_{'f32' if _float else 'u8'}",
                params={"cfg": {"type": "LoadImageFromFile", "color_type": _color, "to_float32": _float}, "ext": _ext},
                make_inputs=_load_inputs, reference=_load_ref, visdet=_load_vis,
                exact=("rejected", "img", "img_shape", "ori_shape"),
            ))  # fmt: skip


# ---------------------------------------------------------------------- PackDetInputs
def _packed(packed: Mapping[str, Any]) -> Tensors:
    sample = packed["data_samples"]
    out: Tensors = {"inputs": packed["inputs"].contiguous()}
    for group in ("gt_instances", "ignored_instances"):
        instances = getattr(sample, group)
        for field in ("bboxes", "labels", "masks"):
            value = instances.get(field) if hasattr(instances, "get") else None
            if value is None:
                continue
            value = getattr(value, "tensor", value)
            value = getattr(value, "masks", value)
            out[f"{group}.{field}"] = torch.as_tensor(np.asarray(value) if not torch.is_tensor(value) else value)
    meta = sample.metainfo
    out["meta.img_shape"] = torch.tensor(meta["img_shape"])
    out["meta.scale_factor"] = torch.tensor(meta["scale_factor"], dtype=torch.float64)
    return out


def _pack_ref(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    results = reference_results(inputs)
    results["scale_factor"] = (1.0, 1.0)
    return _packed(mmdet_transform(params["cfg"])(results))


def _pack_vis(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    results = visdet_results(inputs)
    results["scale_factor"] = (1.0, 1.0)
    return _packed(visdet_transform(params["cfg"])(results))


register(Case(
    component="data/transforms/pack", name="default_meta",
    params={"cfg": {"type": "PackDetInputs"}, "n": 6},
    make_inputs=transform_inputs, reference=_pack_ref, visdet=_pack_vis,
    exact=("inputs", "gt_instances.labels", "ignored_instances.labels", "gt_instances.masks",
           "ignored_instances.masks", "meta.img_shape"),
))  # fmt: skip
