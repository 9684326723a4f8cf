"""Parity cases for DETR's training augmentation (``RandomChoice``, ``RandomChoiceResize``,
``RandomCrop(crop_type='absolute_range', allow_negative_crop=True)``) against mmcv 2.1 / mmdet 3.3.

* ``data/transforms/random_choice_resize`` and ``data/transforms/random_choice``: one
  transform object over a sequence of synthetic items (numpy's global RNG seeded once, so
  each item takes the next draws), with bitmap or polygon masks; ``s<k>.scale_idx`` is the
  scale drawn.
* ``data/datasets/coco_pipeline/detr_*``: ``CocoDataset`` (``filter_empty_gt=False``, as the
  DETR configs) with the whole train pipeline of ``deformable-detr_r50_16xb2-50e_coco.py``
  (DINO's is the same), ``LoadImageFromFile`` to ``PackDetInputs``, on the COCO file of
  :mod:`parity.cases._coco_segm_file` read twice over; several numpy seeds, so both branches
  of the ``RandomChoice`` are taken and the crop branch leaves some images without a box.
  The packed items also carry ``scale_idx`` (the last resize's draw) and
  ``homography_matrix`` (flip, resize, crop and resize composed). Scales are mmdet's
  divided by 16 and rounded down (``(480, 1333)`` -> ``(30, 83)``, the crop's
  ``(384, 600)`` -> ``(24, 37)``) to keep the goldens small; the full-size pipeline read
  from mmdet's own config file is compared live (``parity/test_detr_pipeline_live.py``).

Nested transform configs reach mmcv with tuples where mmcv asserts tuples
(``RandomChoiceResize.scales``), as a Python config writes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from parity.cases._data_common import reference_results, seed_numpy, visdet_results
from parity.cases.base import Case, Tensors, register
from parity.cases.data_transforms_rtmdet import EXACT as SEQUENCE_EXACT
from parity.cases.data_transforms_rtmdet import _compact, _item, coco_dataset, sequence_inputs


def python_config(cfg: Any) -> Any:
    """A JSON-shaped transform config as mmdet's Python configs write it: pairs as tuples, nested."""
    if isinstance(cfg, Mapping):
        out = {key: python_config(value) for key, value in cfg.items()}
        for key in ("scales", "crop_size", "scale"):
            value = out.get(key)
            if isinstance(value, list):
                out[key] = [tuple(v) for v in value] if value and isinstance(value[0], list) else tuple(value)
        return out
    if isinstance(cfg, list):
        return [python_config(value) for value in cfg]
    return cfg


def _build(cfg: Mapping[str, Any], reference: bool) -> Any:
    if reference:
        from mmdet.registry import TRANSFORMS
        from mmdet.utils import register_all_modules

        register_all_modules(init_default_scope=True)
        return TRANSFORMS.build(python_config(cfg))
    from visdet.build import build_component

    return build_component("transform", python_config(cfg))


def _run(params: Mapping[str, Any], inputs: Tensors, reference: bool) -> Tensors:
    make_results = reference_results if reference else visdet_results
    transform = _build(params["cfg"], reference)
    seed_numpy(params["np_seed"])
    out: Tensors = {}
    for k in range(params["items"]):
        results = transform(make_results(_item(inputs, k), params["with_masks"], params["mask_struct"]))
        out.update({f"s{k}.{key}": value for key, value in _compact(results).items()})
        if results is not None and "scale_idx" in results:
            out[f"s{k}.scale_idx"] = torch.tensor(int(results["scale_idx"]))
    return out


def _ref(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    return _run(params, inputs, reference=True)


def _vis(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    return _run(params, inputs, reference=False)


def _add(component: str, name: str, cfg: dict[str, Any], items: int, seed: int, **extra: Any) -> None:
    params = {"cfg": cfg, "items": items, "np_seed": seed, "with_masks": True, "mask_struct": "bitmap", **extra}
    register(Case(
        component=f"data/transforms/{component}", name=name, params=params, seed=seed,
        make_inputs=sequence_inputs, reference=_ref, visdet=_vis, exact=(*SEQUENCE_EXACT, "s*.scale_idx"),
        description=f"{cfg['type']} over {items} items (numpy seeded once)",
    ))  # fmt: skip


# ------------------------------------------------------------------ RandomChoiceResize
_SCALES = [[30, 83], [40, 83], [50, 83]]
_add("random_choice_resize", "keep_ratio", {"type": "RandomChoiceResize", "scales": _SCALES, "keep_ratio": True},
     items=6, seed=300)  # fmt: skip
_add("random_choice_resize", "fixed_shape_polygons",
     {"type": "RandomChoiceResize", "scales": [[20, 30], [36, 24], [28, 28], [44, 18]], "keep_ratio": False},
     items=6, seed=301, mask_struct="polygon")  # fmt: skip
_add("random_choice_resize", "one_pair_no_clip",
     {"type": "RandomChoiceResize", "scales": [26, 30], "keep_ratio": True, "clip_object_border": False,
      "interpolation": "nearest"}, items=3, seed=302)  # fmt: skip

# ---------------------------------------------------------------------- RandomChoice
_BRANCHES = [
    [{"type": "RandomChoiceResize", "scales": _SCALES, "keep_ratio": True}],
    [
        {"type": "RandomChoiceResize", "scales": [[25, 262], [31, 262], [37, 262]], "keep_ratio": True},
        {"type": "RandomCrop", "crop_type": "absolute_range", "crop_size": [24, 37], "allow_negative_crop": True},
        {"type": "RandomChoiceResize", "scales": _SCALES, "keep_ratio": True},
    ],
]
_SMALL_CROP = [{**step, "crop_size": [6, 10]} if step["type"] == "RandomCrop" else step for step in _BRANCHES[1]]
_add("random_choice", "detr_small_crop_loses_boxes",
     {"type": "RandomChoice", "transforms": [_BRANCHES[0], _SMALL_CROP], "prob": [0.25, 0.75]},
     items=8, seed=314, counts=[1, 2, 1, 1, 2, 1, 1, 1])  # fmt: skip
for _s in range(3):
    _add("random_choice", f"detr_branches_{_s}", {"type": "RandomChoice", "transforms": _BRANCHES},
         items=8, seed=310 + _s, mask_struct="polygon" if _s == 2 else "bitmap")  # fmt: skip
_add("random_choice", "prob_three_candidates",
     {"type": "RandomChoice", "prob": [0.2, 0.5, 0.3],
      "transforms": [[{"type": "RandomFlip", "prob": 1.0, "direction": "vertical"}],
                     {"type": "Resize", "scale": [20, 16]},  # a candidate written as one transform
                     [{"type": "RandomCrop", "crop_size": [4, 4]}]]},  # may reject (allow_negative_crop False)
     items=8, seed=313, counts=[1, 3, 1, 2, 1, 3, 1, 2])  # fmt: skip


# --------------------------------------------- the DETR train pipeline over a COCO file
def detr_train_pipeline(divisor: int = 16, crop_size: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """``deformable-detr_r50_16xb2-50e_coco.py``'s ``train_pipeline``, sizes divided by ``divisor``.

    ``crop_size`` replaces the crop's ``(384, 600) // divisor`` (a smaller crop loses every box more often).
    """

    def pairs(values: Sequence[tuple[int, int]]) -> list[list[int]]:
        return [[w // divisor, h // divisor] for w, h in values]

    small = pairs([(s, 1333) for s in range(480, 801, 32)])
    crop = list(crop_size or [384 // divisor, 600 // divisor])
    return [
        {"type": "LoadImageFromFile"},
        {"type": "LoadAnnotations", "with_bbox": True},
        {"type": "RandomFlip", "prob": 0.5},
        {"type": "RandomChoice", "transforms": [
            [{"type": "RandomChoiceResize", "scales": small, "keep_ratio": True}],
            [{"type": "RandomChoiceResize", "scales": pairs([(400, 4200), (500, 4200), (600, 4200)]),
              "keep_ratio": True},
             {"type": "RandomCrop", "crop_type": "absolute_range", "crop_size": crop,
              "allow_negative_crop": True},
             {"type": "RandomChoiceResize", "scales": small, "keep_ratio": True}],
        ]},
        {"type": "PackDetInputs", "meta_keys": ["img_id", "img_path", "ori_shape", "img_shape", "scale_factor", "flip",
                                                "flip_direction", "scale_idx", "homography_matrix"]},
    ]  # fmt: skip


def packed_with_draws(items: list[dict[str, Any]]) -> Tensors:
    """:func:`packed_outputs` of the items plus each one's ``scale_idx`` and ``homography_matrix``."""
    from parity.cases.data_coco_segm import packed_outputs

    out = packed_outputs(items)
    for i, packed in enumerate(items):
        meta = packed["data_samples"].metainfo
        out[f"item{i}.meta.scale_idx"] = torch.tensor(int(meta["scale_idx"]))
        out[f"item{i}.meta.homography_matrix"] = torch.from_numpy(np.asarray(meta["homography_matrix"]))
    return out


def _coco_run(params: Mapping[str, Any], inputs: Tensors, reference: bool) -> Tensors:
    from parity.cases.data_coco_segm import coco_file, dataset_kwargs

    with coco_file(inputs) as f:
        kwargs = dataset_kwargs({"pipeline": "train", "filter_cfg": {"filter_empty_gt": False}}, f)
        dataset = coco_dataset(kwargs, python_config(params["steps"]), reference)
        seed_numpy(int(inputs["np_seed"]))
        items = [dataset[k % len(dataset)] for k in range(params["items"])]
    return packed_with_draws(items)


def _coco_ref(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    return _coco_run(params, inputs, reference=True)


def _coco_vis(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    return _coco_run(params, inputs, reference=False)


def _register_coco_cases() -> None:
    from parity.cases.data_coco_segm import EXACT as COCO_EXACT
    from parity.cases.data_coco_segm import coco_inputs

    for k in range(4):
        register(Case(
            component="data/datasets/coco_pipeline", name=f"detr_train_seed{k}",
            params={"steps": detr_train_pipeline(), "items": 10}, seed=320 + k,
            make_inputs=coco_inputs, reference=_coco_ref, visdet=_coco_vis,
            exact=(*COCO_EXACT, "item*.meta.scale_idx"),
            description="CocoDataset with Deformable DETR's / DINO's train pipeline (sizes / 16), 10 items",
        ))  # fmt: skip
    # crops of 4-6 pixels: some images with boxes are left with none (kept: allow_negative_crop)
    register(Case(
        component="data/datasets/coco_pipeline", name="detr_train_small_crop",
        params={"steps": detr_train_pipeline(crop_size=[4, 6]), "items": 10}, seed=324,
        make_inputs=coco_inputs, reference=_coco_ref, visdet=_coco_vis, exact=(*COCO_EXACT, "item*.meta.scale_idx"),
        description="CocoDataset with DETR's train pipeline, crops of 4-6 pixels (boxes lost), 10 items",
    ))  # fmt: skip


_register_coco_cases()
