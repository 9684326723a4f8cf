"""Parity cases for the COCO dataset (data list, full pipeline) and the COCO metric.

The inputs are files: the synthetic COCO set (:mod:`visdet.testing.coco_synth`, its
boxes moved and its annotations shuffled by a seed drawn from the case's generator) is
written once and its bytes (annotation JSON, PNG and JPEG images) become the case's
``file.*`` inputs, stored in the golden. Each side writes those bytes into its own fresh
temporary folder and reads them with its own ``CocoDataset`` / ``CocoMetric``.
Metric predictions are the ground-truth boxes jittered by generator noise, plus random
false positives (some of the class without ground truth); masks fill each predicted box.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from parity.cases._data_common import file_tensors, materialized, seed_numpy
from parity.cases.base import Case, Tensors, register

PREDS_PER_IMAGE = 6


def _coco_files(params: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    """The bytes of a synthetic COCO set whose jitter seed is drawn from ``gen``."""
    from visdet.testing.coco_synth import write_coco_synth

    jitter_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    with tempfile.TemporaryDirectory(prefix="visdet-coco-synth-") as tmp:
        write_coco_synth(tmp, with_invalid=params.get("with_invalid", False), jitter_seed=jitter_seed)
        return file_tensors(Path(tmp))


@contextlib.contextmanager
def _synth(inputs: Tensors) -> Iterator[Any]:
    """The stored COCO set written to a fresh folder: root, ann_file, img_dir, classes, data."""
    from visdet.testing.coco_synth import CLASSES

    with materialized(inputs) as root:
        ann_file = root / "annotations.json"
        yield SimpleNamespace(root=root, ann_file=ann_file, img_dir=root / "images", classes=CLASSES,
                              data=json.loads(ann_file.read_text()))  # fmt: skip


def _text(values: list[str]) -> torch.Tensor:
    return torch.tensor(list("\n".join(values).encode()), dtype=torch.uint8)



def _dataset_kwargs(params: Mapping[str, Any], synth: Any) -> dict[str, Any]:
    kwargs = {
        "ann_file": str(synth.ann_file),
        "metainfo": {"classes": tuple(params.get("classes", synth.classes))},
        "data_prefix": {"img": str(synth.img_dir) + "/"},
        "test_mode": params.get("test_mode", False),
    }
    if "filter_cfg" in params:
        kwargs["filter_cfg"] = dict(params["filter_cfg"])
    if "indices" in params:
        kwargs["indices"] = params["indices"]
    return kwargs


def _data_list_outputs(data_list: list[dict[str, Any]], root: str) -> Tensors:
    boxes, labels, flags, has_mask, counts = [], [], [], [], []
    for info in data_list:
        counts.append(len(info["instances"]))
        for inst in info["instances"]:
            boxes.append([float(v) for v in inst["bbox"]])
            labels.append(inst["bbox_label"])
            flags.append(inst["ignore_flag"])
            has_mask.append(int("mask" in inst))
    return {
        "img_id": torch.tensor([info["img_id"] for info in data_list]),
        "height": torch.tensor([info["height"] for info in data_list]),
        "width": torch.tensor([info["width"] for info in data_list]),
        "num_instances": torch.tensor(counts, dtype=torch.int64),
        "bboxes": torch.tensor(boxes, dtype=torch.float64).reshape(-1, 4),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "ignore_flag": torch.tensor(flags, dtype=torch.int64),
        "has_mask": torch.tensor(has_mask, dtype=torch.int64),
        "img_path": _text([info["img_path"].replace(root, "<root>") for info in data_list]),
    }


def _dataset_ref(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.datasets import CocoDataset

    with _synth(inputs) as synth:
        dataset = CocoDataset(**_dataset_kwargs(params, synth), pipeline=[])
        return _data_list_outputs([dataset.get_data_info(i) for i in range(len(dataset))], str(synth.root))


def _dataset_vis(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.data.datasets import CocoDataset

    with _synth(inputs) as synth, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = CocoDataset(**_dataset_kwargs(params, synth), pipeline=[])
        return _data_list_outputs([dataset.get_data_info(i) for i in range(len(dataset))], str(synth.root))


DATASET_EXACT = ("img_id", "height", "width", "num_instances", "labels", "ignore_flag", "has_mask", "img_path")
for _name, _extra in {
    "default": {"with_invalid": True},
    "filter_empty_min_size": {"filter_cfg": {"filter_empty_gt": True, "min_size": 32}},
    "filter_test_mode": {"filter_cfg": {"filter_empty_gt": True}, "test_mode": True},
    "class_subset": {"classes": ["bird", "cat"], "filter_cfg": {"filter_empty_gt": True}},
    "indices": {"indices": 2},
}.items():
    register(Case(
        component="data/datasets/coco", name=_name, params=_extra, seed=len(_name),
        make_inputs=_coco_files, reference=_dataset_ref, visdet=_dataset_vis, exact=DATASET_EXACT,
        description="CocoDataset data_list on the synthetic COCO set (seeded jitter and order)",
    ))  # fmt: skip

# --------------------------------------------------------------------- full pipeline
PIPELINE = [
    {"type": "LoadImageFromFile"},
    {"type": "LoadAnnotations", "with_bbox": True, "with_mask": True},
    {"type": "Resize", "scale": (80, 60), "keep_ratio": True},
    {"type": "RandomFlip", "prob": 0.5},
    {"type": "Pad", "size_divisor": 16},
    {"type": "PackDetInputs"},
]


def _pipeline_inputs(params: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    return {**_coco_files(params, gen), "np_seed": torch.randint(0, 2**31 - 1, (1,), generator=gen)}


def _pipeline_outputs(dataset: Any, np_seed: int) -> Tensors:
    from parity.cases.data_transforms import _packed

    seed_numpy(np_seed)
    out: Tensors = {}
    for i in range(len(dataset)):
        packed = dataset[i]
        out.update({f"item{i}.{k}": v for k, v in _packed(packed).items()})
        out[f"item{i}.flip"] = torch.tensor(int(packed["data_samples"].metainfo["flip"]))
    return out


def _pipeline_ref(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.datasets import CocoDataset
    from mmdet.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    with _synth(inputs) as synth:
        dataset = CocoDataset(**_dataset_kwargs(params, synth), pipeline=PIPELINE)
        return _pipeline_outputs(dataset, int(inputs["np_seed"]))


def _pipeline_vis(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.build import build_pipeline
    from visdet.data.datasets import CocoDataset

    with _synth(inputs) as synth:
        dataset = CocoDataset(**_dataset_kwargs(params, synth), pipeline=build_pipeline(PIPELINE))
        return _pipeline_outputs(dataset, int(inputs["np_seed"]))


register(Case(
    component="data/datasets/coco_pipeline", name="load_resize_flip_pad_pack",
    params={"test_mode": True}, seed=4,
    make_inputs=_pipeline_inputs, reference=_pipeline_ref, visdet=_pipeline_vis,
    exact=tuple(f"item{i}.{k}" for i in range(4) for k in (
        "inputs", "flip", "meta.img_shape", "gt_instances.labels", "gt_instances.masks",
        "ignored_instances.labels", "ignored_instances.masks")),
    description="CocoDataset with Load/LoadAnnotations(masks)/Resize/RandomFlip/Pad/Pack",
))  # fmt: skip


# ------------------------------------------------------------------------ CocoMetric
def _metric_inputs(params: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    n = 4 * PREDS_PER_IMAGE
    return {
        **_coco_files(params, gen),
        "jitter": torch.rand(n, 4, generator=gen) * 4.0 - 2.0,
        "random_boxes": torch.rand(n, 4, generator=gen),
        "scores": torch.rand(n, generator=gen),
        "labels": torch.randint(0, 3, (n,), generator=gen),
        "use_gt": torch.rand(n, generator=gen) < 0.6,
    }


def _predictions(synth: Any, inputs: Tensors, empty: bool) -> list[dict[str, Any]]:
    """Per image: GT boxes (jittered) for ``use_gt`` slots, random boxes elsewhere."""
    data, name_of = synth.data, {c["id"]: c["name"] for c in synth.data["categories"]}
    samples = []
    for k, img in enumerate(data["images"]):
        h, w = img["height"], img["width"]
        gts = [a for a in data["annotations"] if a["image_id"] == img["id"]]
        sl = slice(k * PREDS_PER_IMAGE, (k + 1) * PREDS_PER_IMAGE)
        boxes, labels = [], []
        for j, (use, rnd, jit, lab) in enumerate(zip(inputs["use_gt"][sl], inputs["random_boxes"][sl],
                                                      inputs["jitter"][sl], inputs["labels"][sl])):  # fmt: skip
            if use and j < len(gts):
                x, y, bw, bh = gts[j]["bbox"]
                boxes.append((torch.tensor([x, y, x + bw, y + bh]) + jit).tolist())
                labels.append(list(synth.classes).index(name_of[gts[j]["category_id"]]))
            else:
                x1, y1 = float(rnd[0]) * w * 0.7, float(rnd[1]) * h * 0.7
                boxes.append([x1, y1, x1 + 2 + float(rnd[2]) * w * 0.3, y1 + 2 + float(rnd[3]) * h * 0.3])
                labels.append(int(lab))
        keep = 0 if empty else len(boxes)
        bboxes = torch.tensor(boxes, dtype=torch.float32)[:keep].reshape(-1, 4)
        masks = torch.zeros(keep, h, w, dtype=torch.bool)
        for i, (x1, y1, x2, y2) in enumerate(bboxes.round().long().tolist()):
            masks[i, max(y1, 0) : y2, max(x1, 0) : x2] = True
        samples.append({
            "img_id": img["id"], "ori_shape": (h, w),
            "pred_instances": {"bboxes": bboxes, "scores": inputs["scores"][sl][:keep].clone(),
                               "labels": torch.tensor(labels, dtype=torch.int64)[:keep], "masks": masks},
        })  # fmt: skip
    return samples


def _metric_kwargs(params: Mapping[str, Any], synth: Any) -> dict[str, Any]:
    kwargs = {k: v for k, v in params.items() if k not in ("empty",)}
    if "proposal_nums" in kwargs:
        kwargs["proposal_nums"] = tuple(kwargs["proposal_nums"])
    return {"ann_file": str(synth.ann_file), **kwargs}


def _metric_outputs(results: Mapping[str, float], stats: list[np.ndarray]) -> Tensors:
    keys = sorted(results)
    out: Tensors = {
        "num_results": torch.tensor(len(keys)),
        "result_keys": _text(keys),
        "result_values": torch.tensor([float(results[k]) for k in keys], dtype=torch.float64),
    }
    for i, s in enumerate(stats):
        out[f"stats.{i}"] = torch.tensor(np.asarray(s), dtype=torch.float64)
    return out


def _run_metric(
    metric_cls: Any, params: Mapping[str, Any], synth: Any, samples: list[dict[str, Any]],
    reference_module: Any = None,
) -> Tensors:
    """Process ``samples`` and evaluate; the stats of each COCOeval run are returned too.

    On the reference side (``reference_module``: mmdet's coco_metric module) the stats are
    captured from its ``COCOeval.summarize``; visdet keeps them in ``metric.stats``.
    """
    captured: list[np.ndarray] = []
    original = None
    if reference_module is not None:
        original = reference_module.COCOeval

        class CapturingCOCOeval(original):  # type: ignore[misc, valid-type]
            def summarize(self) -> None:
                super().summarize()
                captured.append(np.array(self.stats))

        reference_module.COCOeval = CapturingCOCOeval
    try:
        metric = metric_cls(**_metric_kwargs(params, synth))
        metric.dataset_meta = {"classes": synth.classes}
        metric.process({}, samples)
        results = metric.evaluate(size=len(samples))
    finally:
        if reference_module is not None:
            reference_module.COCOeval = original
    if reference_module is None:
        captured = [metric.stats[m] for m in metric.metrics if m in metric.stats]
    return _metric_outputs(results, captured)


def _metric_ref(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    import mmdet.evaluation.metrics.coco_metric as module

    with _synth(inputs) as synth:
        samples = _predictions(synth, inputs, params.get("empty", False))
        return _run_metric(module.CocoMetric, params, synth, samples, reference_module=module)


def _metric_vis(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.evaluation import CocoMetric

    with _synth(inputs) as synth:
        return _run_metric(CocoMetric, params, synth, _predictions(synth, inputs, params.get("empty", False)))


for _name, _extra in {
    "bbox": {"metric": "bbox"},
    "bbox_segm_classwise": {"metric": ["bbox", "segm"], "classwise": True},
    "proposal": {"metric": "proposal", "proposal_nums": [1, 3, 6]},
    "bbox_iou_half_items": {"metric": "bbox", "iou_thrs": [0.5], "metric_items": ["mAP", "mAP_50", "AR@100"]},
    "bbox_small_maxdets": {"metric": "bbox", "proposal_nums": [1, 2, 3]},
    "empty_predictions": {"metric": "bbox", "empty": True},
}.items():
    register(Case(
        component="evaluation/coco_metric", name=_name, params=_extra,
        seed=len(_name), make_inputs=_metric_inputs, reference=_metric_ref, visdet=_metric_vis,
        exact=("num_results", "result_keys"), description="CocoMetric on the synthetic COCO set",
    ))  # fmt: skip


# ----------------------------------------------- packed batch after DetDataPreprocessor
PREPROCESSOR = {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "bgr_to_rgb": True,
                "pad_size_divisor": 32}  # fmt: skip


def _batch_outputs(batch: torch.Tensor, metas: list[Mapping[str, Any]]) -> Tensors:
    out: Tensors = {"batch_inputs": batch.contiguous()}
    for i, meta in enumerate(metas):
        out[f"meta{i}.batch_input_shape"] = torch.tensor(meta["batch_input_shape"])
        out[f"meta{i}.pad_shape"] = torch.tensor(meta["pad_shape"])
        out[f"meta{i}.img_shape"] = torch.tensor(meta["img_shape"])
    return out


def _batch_ref(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.datasets import CocoDataset
    from mmdet.models.data_preprocessors import DetDataPreprocessor
    from mmdet.utils import register_all_modules
    from mmengine.dataset import pseudo_collate

    register_all_modules(init_default_scope=True)
    with _synth(inputs) as synth:
        dataset = CocoDataset(**_dataset_kwargs(params, synth), pipeline=PIPELINE)
        seed_numpy(int(inputs["np_seed"]))
        data = pseudo_collate([dataset[i] for i in range(len(dataset))])
    out = DetDataPreprocessor(**PREPROCESSOR)(data, training=False)
    return _batch_outputs(out["inputs"], [sample.metainfo for sample in out["data_samples"]])


def _batch_vis(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.build import build_pipeline
    from visdet.data.collate import pseudo_collate
    from visdet.data.datasets import CocoDataset
    from visdet.models.data_preprocessors import DetDataPreprocessor

    with _synth(inputs) as synth:
        dataset = CocoDataset(**_dataset_kwargs(params, synth), pipeline=build_pipeline(PIPELINE))
        seed_numpy(int(inputs["np_seed"]))
        data = pseudo_collate([dataset[i] for i in range(len(dataset))])
    metas = [dict(sample.metainfo) for sample in data["data_samples"]]
    batch, metas = DetDataPreprocessor(**PREPROCESSOR)(list(data["inputs"]), metas)
    return _batch_outputs(batch, metas)


register(Case(
    component="data/datasets/coco_pipeline", name="batch_after_det_data_preprocessor",
    params={"test_mode": True}, seed=5,
    make_inputs=_pipeline_inputs, reference=_batch_ref, visdet=_batch_vis,
    exact=tuple(f"meta{i}.{k}" for i in range(4) for k in ("batch_input_shape", "pad_shape", "img_shape")),
    description="dataset pipeline -> pseudo_collate -> DetDataPreprocessor (normalise, BGR->RGB, pad to 32)",
))  # fmt: skip
