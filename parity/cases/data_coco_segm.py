"""Parity cases for instance masks through the whole data path, on a COCO file with every
kind of segmentation (:mod:`parity.cases._coco_segm_file`: polygons, compressed and
uncompressed RLE, crowd regions, short polygons, images without annotations).

* ``data/datasets/coco_pipeline/mask_rcnn_*``: ``CocoDataset`` with mmdet's Mask R-CNN
  train pipeline (``LoadAnnotations(with_mask=True)`` with ``poly2mask`` True and False,
  ``Resize(keep_ratio=True)``, ``RandomFlip``, ``PackDetInputs``) and its test pipeline
  (``LoadAnnotations`` after ``Resize``, so masks stay at the original size), compared down
  to the mask structures: their type, ``(height, width)``, bitmap arrays or polygon
  coordinates, for ``gt_instances`` and ``ignored_instances`` of every item.
* ``..._pad_mask_batch``: the train items through ``pseudo_collate`` and
  ``DetDataPreprocessor(pad_mask=True, pad_size_divisor=32, mask_pad_value=0)`` in training;
  the masks of ``gt_instances`` padded to the batch (``ignored_instances`` are not, in both)
  are compared (the batched images have their own case, ``batch_after_det_data_preprocessor``).
* ``evaluation/coco_metric/segm_rle_crowd*``: ``CocoMetric(metric=['bbox', 'segm'])`` on the
  file, with predicted masks made from the ground-truth masks (shifted, with pixel noise,
  some relabelled) plus false positives.

Scales are mmdet's divided by 10 (``(1333, 800)`` -> ``(133, 80)``) to keep goldens small.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from parity.cases._data_common import file_tensors, materialized, seed_numpy
from parity.cases.base import Case, Tensors, register

SCALE = (133, 80)
TRAIN = [
    {"type": "LoadImageFromFile"},
    {"type": "LoadAnnotations", "with_bbox": True, "with_mask": True},
    {"type": "Resize", "scale": SCALE, "keep_ratio": True},
    {"type": "RandomFlip", "prob": 0.5},
    {"type": "PackDetInputs"},
]
TEST = [
    {"type": "LoadImageFromFile"},
    {"type": "Resize", "scale": SCALE, "keep_ratio": True},
    {"type": "LoadAnnotations", "with_bbox": True, "with_mask": True},
    {"type": "PackDetInputs", "meta_keys": ["img_id", "img_path", "ori_shape", "img_shape", "scale_factor"]},
]
PREPROCESSOR = {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "bgr_to_rgb": True,
                "pad_size_divisor": 32, "pad_mask": True, "mask_pad_value": 0}  # fmt: skip
FLIP_CODES = {None: -1, "horizontal": 0, "vertical": 1, "diagonal": 2}
MASK_TYPES = {"BitmapMasks": 0, "PolygonMasks": 1}
GROUPS = ("gt_instances", "ignored_instances")


def _pipeline(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The case's pipeline: ``poly2mask`` set on LoadAnnotations, RandomFlip's ``flip`` merged in."""
    steps = []
    for step in TEST if params["pipeline"] == "test" else TRAIN:
        step = dict(step)
        if step["type"] == "LoadAnnotations":
            step["poly2mask"] = params["poly2mask"]
        if step["type"] == "RandomFlip":
            step.update(params.get("flip", {}))
        if "scale" in step:
            step["scale"] = tuple(step["scale"])
        if "meta_keys" in step:
            step["meta_keys"] = tuple(step["meta_keys"])
        steps.append(step)
    return steps


def coco_inputs(params: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    """The file's bytes (written with a seed drawn from ``gen``) and the numpy seed of the random steps."""
    from parity.cases._coco_segm_file import write_coco_segm_file

    file_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    with tempfile.TemporaryDirectory(prefix="visdet-coco-segm-") as tmp:
        write_coco_segm_file(tmp, file_seed, short_only_polygon="metric" not in params)
        files = file_tensors(Path(tmp))
    return {**files, "np_seed": torch.randint(0, 2**31 - 1, (1,), generator=gen)}


@contextlib.contextmanager
def coco_file(inputs: Tensors) -> Iterator[Any]:
    from parity.cases._coco_segm_file import CLASSES

    with materialized(inputs) as root:
        ann_file = root / "annotations.json"
        yield SimpleNamespace(root=root, ann_file=ann_file, classes=CLASSES, data=json.loads(ann_file.read_text()))


def dataset_kwargs(params: Mapping[str, Any], f: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "ann_file": str(f.ann_file),
        "metainfo": {"classes": f.classes},
        "data_prefix": {"img": str(f.root / "images") + "/"},
        "test_mode": params["pipeline"] == "test",
    }
    if params.get("filter_cfg") is not None:
        kwargs["filter_cfg"] = dict(params["filter_cfg"])
    return kwargs


def mask_outputs(prefix: str, masks: Any) -> Tensors:
    """A mask structure as tensors: type (0 bitmap, 1 polygon), ``(height, width)``, content."""
    kind = type(masks).__name__
    out: Tensors = {
        f"{prefix}.type": torch.tensor(MASK_TYPES[kind]),
        f"{prefix}.hw": torch.tensor([int(masks.height), int(masks.width)]),
        f"{prefix}.len": torch.tensor(len(masks)),
    }
    if kind == "BitmapMasks":
        out[f"{prefix}.bitmap"] = torch.from_numpy(np.ascontiguousarray(masks.masks))
        return out
    polygons = [np.asarray(p) for inst in masks.masks for p in inst]
    out[f"{prefix}.polygon_counts"] = torch.tensor([len(inst) for inst in masks.masks], dtype=torch.int64)
    out[f"{prefix}.polygon_sizes"] = torch.tensor([p.size for p in polygons], dtype=torch.int64)
    out[f"{prefix}.polygon_dtypes"] = torch.tensor([p.dtype.itemsize for p in polygons], dtype=torch.int64)
    flat = [p.astype(np.float64).ravel() for p in polygons]
    out[f"{prefix}.polygons"] = torch.from_numpy(np.concatenate(flat) if flat else np.zeros(0))
    return out


def _sample_outputs(prefix: str, sample: Any, with_masks_only: bool = False) -> Tensors:
    out: Tensors = {}
    for group in GROUPS:
        instances = getattr(sample, group)
        masks = instances.get("masks")
        if masks is not None:
            out.update(mask_outputs(f"{prefix}.{group}.masks", masks))
        if with_masks_only:
            continue
        for field in ("bboxes", "labels"):
            value = instances.get(field)
            if value is not None:
                out[f"{prefix}.{group}.{field}"] = torch.as_tensor(getattr(value, "tensor", value)).clone()
    if with_masks_only:
        return out
    meta = sample.metainfo
    out[f"{prefix}.meta.img_id"] = torch.tensor(meta["img_id"])
    for key in ("img_shape", "ori_shape"):
        out[f"{prefix}.meta.{key}"] = torch.tensor([int(v) for v in meta[key]])
    out[f"{prefix}.meta.scale_factor"] = torch.tensor([float(v) for v in meta["scale_factor"]], dtype=torch.float64)
    if "flip" in meta:
        out[f"{prefix}.meta.flip"] = torch.tensor(int(meta["flip"]))
        out[f"{prefix}.meta.flip_direction"] = torch.tensor(FLIP_CODES[meta.get("flip_direction")])
    return out


def _items(dataset: Any, np_seed: int) -> list[dict[str, Any]]:
    seed_numpy(np_seed)
    return [dataset[i] for i in range(len(dataset))]


def packed_outputs(items: list[dict[str, Any]]) -> Tensors:
    out: Tensors = {"num_items": torch.tensor(len(items))}
    for i, packed in enumerate(items):
        out[f"item{i}.inputs"] = packed["inputs"].contiguous()
        out.update(_sample_outputs(f"item{i}", packed["data_samples"]))
    return out


def _reference_dataset(params: Mapping[str, Any], f: Any) -> Any:
    from mmdet.datasets import CocoDataset
    from mmdet.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    return CocoDataset(**dataset_kwargs(params, f), pipeline=_pipeline(params))


def _visdet_dataset(params: Mapping[str, Any], f: Any) -> Any:
    import warnings

    from visdet.build import build_pipeline
    from visdet.data.datasets import CocoDataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CocoDataset(**dataset_kwargs(params, f), pipeline=build_pipeline(_pipeline(params)))


def _pipeline_ref(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    with coco_file(inputs) as f:
        return packed_outputs(_items(_reference_dataset(params, f), int(inputs["np_seed"])))


def _pipeline_vis(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    with coco_file(inputs) as f:
        return packed_outputs(_items(_visdet_dataset(params, f), int(inputs["np_seed"])))


# everything but box coordinates, scale factors and polygon coordinates is exact (fnmatch patterns)
EXACT = ("num_items", "batch_input_shape", "item*.inputs", "item*.meta.img_id", "item*.meta.img_shape",
         "item*.meta.ori_shape", "item*.meta.flip", "item*.meta.flip_direction", "item*.labels",
         *(f"item*.masks.{k}" for k in ("type", "hw", "len", "bitmap", "polygon_counts", "polygon_sizes",
                                        "polygon_dtypes")))  # fmt: skip


FILTER_MMDET = {"filter_empty_gt": True, "min_size": 32}  # mmdet's coco_instance.py train_dataloader
_PIPELINE_CASES = {
    # every image, the empty ones included; RandomFlip(prob=0.5) seeded
    "mask_rcnn_train_bitmap": {"pipeline": "train", "poly2mask": True, "filter_cfg": None},
    # poly2mask=False: PolygonMasks, RLE instances ignored; a seeded choice of the three flip directions
    "mask_rcnn_train_polygon": {"pipeline": "train", "poly2mask": False, "filter_cfg": {"filter_empty_gt": True},
                                "flip": {"prob": [0.3, 0.3, 0.3], "direction": ["horizontal", "vertical", "diagonal"]}},
    # mmdet's own filter (images without annotations and the 30-pixel-wide one dropped), flip always
    "mask_rcnn_train_bitmap_mmdet_filter": {"pipeline": "train", "poly2mask": True, "filter_cfg": FILTER_MMDET,
                                            "flip": {"prob": 1.0}},
    "mask_rcnn_test_bitmap": {"pipeline": "test", "poly2mask": True},
    "mask_rcnn_test_polygon": {"pipeline": "test", "poly2mask": False},
}  # fmt: skip
for _k, (_name, _params) in enumerate(_PIPELINE_CASES.items()):
    register(Case(
        component="data/datasets/coco_pipeline", name=_name, params=_params, seed=120 + _k,
        make_inputs=coco_inputs, reference=_pipeline_ref, visdet=_pipeline_vis, exact=EXACT,
        description="CocoDataset + mmdet's Mask R-CNN pipeline on polygons, RLE and crowd annotations; "
                    "mask structures compared",
    ))  # fmt: skip


# ------------------------------------------------ pseudo_collate + DetDataPreprocessor(pad_mask)
def _batch_ref(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.data_preprocessors import DetDataPreprocessor
    from mmengine.dataset import pseudo_collate

    with coco_file(inputs) as f:
        data = pseudo_collate(_items(_reference_dataset(params, f), int(inputs["np_seed"])))
    out = DetDataPreprocessor(**PREPROCESSOR)(data, training=True)
    result: Tensors = {"num_items": torch.tensor(len(out["inputs"]))}
    for i, sample in enumerate(out["data_samples"]):
        result.update(_sample_outputs(f"item{i}", sample, with_masks_only=True))
        result["batch_input_shape"] = torch.tensor(sample.metainfo["batch_input_shape"])
    return result


def _batch_vis(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.data.collate import pseudo_collate
    from visdet.models.data_preprocessors import DetDataPreprocessor

    with coco_file(inputs) as f:
        data = pseudo_collate(_items(_visdet_dataset(params, f), int(inputs["np_seed"])))
    pre = DetDataPreprocessor(**PREPROCESSOR)
    batch, metas = pre(list(data["inputs"]), [dict(s.metainfo) for s in data["data_samples"]])
    gts = pre.pad_gt_masks([s.gt_instances for s in data["data_samples"]], metas)
    result: Tensors = {"num_items": torch.tensor(len(batch))}
    for i, (sample, gt, meta) in enumerate(zip(data["data_samples"], gts, metas)):
        padded = SimpleNamespace(gt_instances=gt, ignored_instances=sample.ignored_instances)
        result.update(_sample_outputs(f"item{i}", padded, with_masks_only=True))
        result["batch_input_shape"] = torch.tensor(meta["batch_input_shape"])
    return result


for _k, _name in enumerate(("mask_rcnn_train_bitmap", "mask_rcnn_train_polygon")):
    register(Case(
        component="data/datasets/coco_pipeline", name=f"{_name}_pad_mask_batch", params=_PIPELINE_CASES[_name],
        seed=130 + _k, make_inputs=coco_inputs, reference=_batch_ref, visdet=_batch_vis, exact=EXACT,
        description="the Mask R-CNN train items -> pseudo_collate -> DetDataPreprocessor(pad_mask=True, "
                    "pad_size_divisor=32, mask_pad_value=0) in training: gt masks padded to the batch",
    ))  # fmt: skip


# --------------------------------------------------------------- CocoMetric bbox + segm
PREDS_PER_IMAGE = 6


def _metric_inputs(params: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    from parity.cases._coco_segm_file import IMAGES

    n = len(IMAGES) * PREDS_PER_IMAGE
    return {
        **coco_inputs(params, gen),
        "jitter": torch.rand(n, 4, generator=gen) * 3.0 - 1.5,
        "shift": torch.randint(-2, 3, (n, 2), generator=gen),
        "random_boxes": torch.rand(n, 4, generator=gen),
        "scores": torch.rand(n, generator=gen),
        "labels": torch.randint(0, 3, (n,), generator=gen),
        "keep_label": torch.rand(n, generator=gen) < 0.8,
        "noise_seed": torch.randint(0, 2**31 - 1, (1,), generator=gen),
    }


def _shifted(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    out = np.zeros_like(mask)
    h, w = mask.shape
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = mask[max(-dy, 0) : h - max(dy, 0),
                                                                        max(-dx, 0) : w - max(dx, 0)]  # fmt: skip
    return out


def _predictions(f: Any, inputs: Tensors) -> list[dict[str, Any]]:
    """Per image: each ground truth's mask (decoded by pycocotools, shifted, 8% of the
    pixels in its box flipped) with its jittered box, label kept with probability 0.8; the remaining
    slots are random boxes filled as masks. Shared by both sides (inputs, not code under test)."""
    import contextlib as _contextlib
    import io

    from pycocotools.coco import COCO

    with _contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(f.ann_file))
    rng = np.random.default_rng(int(inputs["noise_seed"]))
    label_of = {c["id"]: list(f.classes).index(c["name"]) for c in f.data["categories"]}
    samples = []
    for k, img in enumerate(f.data["images"]):
        h, w = img["height"], img["width"]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
        masks, boxes, labels = [], [], []
        for j in range(PREDS_PER_IMAGE):
            s = k * PREDS_PER_IMAGE + j
            if j < len(anns):
                dx, dy = (int(v) for v in inputs["shift"][s])
                mask = _shifted(coco.annToMask(anns[j]), dx, dy)
                x, y, bw, bh = anns[j]["bbox"]
                noise = np.zeros_like(mask)
                noise[int(y) : int(y + bh), int(x) : int(x + bw)] = rng.random((h, w))[int(y) : int(y + bh),
                                                                                       int(x) : int(x + bw)] < 0.08
                mask ^= noise
                boxes.append((torch.tensor([x, y, x + bw, y + bh]) + inputs["jitter"][s]).tolist())
                labels.append(label_of[anns[j]["category_id"]] if inputs["keep_label"][s] else int(inputs["labels"][s]))
            else:
                rnd = inputs["random_boxes"][s]
                x1, y1 = float(rnd[0]) * w * 0.7, float(rnd[1]) * h * 0.7
                box = [x1, y1, x1 + 2 + float(rnd[2]) * w * 0.3, y1 + 2 + float(rnd[3]) * h * 0.3]
                mask = np.zeros((h, w), dtype=np.uint8)
                bx1, by1, bx2, by2 = (int(round(v)) for v in box)
                mask[by1:by2, bx1:bx2] = 1
                boxes.append(box)
                labels.append(int(inputs["labels"][s]))
            masks.append(mask)
        sl = slice(k * PREDS_PER_IMAGE, (k + 1) * PREDS_PER_IMAGE)
        samples.append({
            "img_id": img["id"], "ori_shape": (h, w),
            "pred_instances": {"bboxes": torch.tensor(boxes, dtype=torch.float32),
                               "scores": inputs["scores"][sl].clone(),
                               "labels": torch.tensor(labels, dtype=torch.int64),
                               "masks": torch.from_numpy(np.stack(masks)).bool()},
        })  # fmt: skip
    return samples


def _metric_ref(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    import mmdet.evaluation.metrics.coco_metric as module

    from parity.cases.data_coco import _run_metric

    with coco_file(inputs) as f:
        return _run_metric(module.CocoMetric, params, f, _predictions(f, inputs), reference_module=module)


def _metric_vis(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from parity.cases.data_coco import _run_metric
    from visdet.evaluation import CocoMetric

    with coco_file(inputs) as f:
        return _run_metric(CocoMetric, params, f, _predictions(f, inputs))


for _k, (_name, _params) in enumerate({
    "segm_rle_crowd": {"metric": ["bbox", "segm"]},
    "segm_rle_crowd_classwise": {"metric": ["bbox", "segm"], "classwise": True},
    "segm_rle_crowd_segm_only_items": {"metric": "segm", "metric_items": ["mAP", "mAP_50", "mAP_s", "AR@100"]},
}.items()):
    register(Case(
        component="evaluation/coco_metric", name=_name, params=_params, seed=140 + _k,
        make_inputs=_metric_inputs, reference=_metric_ref, visdet=_metric_vis, exact=("num_results", "result_keys"),
        description="CocoMetric bbox+segm on polygons, compressed/uncompressed RLE and crowd ground truth",
    ))  # fmt: skip
