"""``CocoMetric``: COCO box / mask / proposal evaluation with pycocotools' ``COCOeval``.

Predictions per image (``Tensor``s or arrays): ``bboxes`` ``[N, 4]`` xyxy in the original
image's pixels, ``scores`` ``[N]``, ``labels`` ``[N]`` (indices into ``classes``), and for
``segm`` ``masks`` ``[N, H, W]`` (bool/uint8, or already COCO RLE dicts). They are written
as COCO result JSON (``<prefix>.bbox.json``, ``<prefix>.segm.json``), read back and
evaluated with the same ``COCOeval`` parameters as mmdet, so the numbers are mmdet's:
keys ``coco/bbox_mAP``, ``coco/bbox_mAP_50``, ..., ``coco/segm_mAP``, ``coco/AR@100``, ...
(rounded to 3 decimals); the unrounded 12-value ``stats`` vector of the last evaluation of
each metric is kept in :attr:`CocoMetric.stats`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os.path as osp
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from visdet.evaluation.coco_tables import STAT_INDEX, classwise_table, round3
from visdet.evaluation.gather import gather_results

logger = logging.getLogger("visdet")

METRICS = ("bbox", "segm", "proposal")
DEFAULT_ITEMS = ("mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l")
DEFAULT_PROPOSAL_ITEMS = ("AR@100", "AR@300", "AR@1000", "AR_s@1000", "AR_m@1000", "AR_l@1000")


def check_segm_ground_truth(coco: COCO, ann_file: str, img_ids: Sequence[Any], cat_ids: Sequence[Any]) -> None:
    """Raise ``ValueError`` naming the file and annotation id for ground truth ``segm`` cannot use.

    ``COCOeval(iouType='segm')`` rasterises every ground-truth annotation of the evaluated
    images and categories with pycocotools' ``annToRLE``. mmdet's metric defines no
    behaviour for the annotations below; pycocotools fails on them deep inside (a
    ``KeyError``, an ``IndexError``, ``TypeError: Argument 'bb' has incorrect type`` or
    "input type is not supported"). visdet names them instead:

    * no ``segmentation``, or an empty one;
    * polygons whose first part has 4 coordinates or fewer (pycocotools reads a first
      part of exactly 4 numbers as a box, and cannot read fewer).

    An RLE whose ``size`` is not its image's is left to pycocotools, as in mmdet (whose own
    ``test_evaluate`` relies on it; ported in ``parity/ported/test_coco_metric.py``).

    Short parts after the first one are fine (pycocotools rasterises them as thin lines),
    and the data pipeline handles short polygons as mmdet's does (``LoadAnnotations``).
    """
    for ann in coco.loadAnns(coco.getAnnIds(imgIds=list(img_ids), catIds=list(cat_ids))):
        seg, ann_id = ann.get("segmentation"), ann.get("id")
        where = f"{ann_file}: annotation {ann_id}"
        if not seg:
            raise ValueError(f"{where} has no segmentation; metric='segm' needs one for every ground-truth instance")
        if isinstance(seg, list) and len(seg[0]) <= 4:
            raise ValueError(
                f"{where}: its first polygon has {len(seg[0])} coordinates; pycocotools cannot rasterise a "
                "first polygon of fewer than 3 points (6 coordinates), which metric='segm' needs"
            )


def _numpy(value: Any) -> Any:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value


def encode_masks(masks: Any) -> list[dict[str, Any]]:
    """Binary masks ``[N, H, W]`` to COCO RLE dicts (``counts`` as str)."""
    rles = []
    for mask in np.asarray(_numpy(masks)):
        rle = mask_utils.encode(np.asfortranarray(mask[:, :, None].astype(np.uint8)))[0]
        rle["counts"] = rle["counts"].decode()
        rles.append(rle)
    return rles


def _xywh(box: np.ndarray) -> list[float]:
    x1, y1, x2, y2 = box.tolist()
    return [x1, y1, x2 - x1, y2 - y1]


class CocoMetric:
    """Evaluate detections against a COCO annotation file.

    Args:
        ann_file: the ground-truth COCO JSON.
        metric: ``bbox``, ``segm``, ``proposal`` or a list of them.
        classwise: also report per-class AP (``coco/<name>_precision``) and log a table.
        proposal_nums: ``COCOeval.params.maxDets`` (AP uses the last one, as in mmdet).
        iou_thrs: IoU thresholds; default ``0.50:0.05:0.95``.
        metric_items: which results to report (names of :data:`STAT_INDEX`).
        format_only: only write the result JSON files (needs ``outfile_prefix``).
        outfile_prefix: where to write ``<prefix>.bbox.json`` / ``.segm.json``; a temporary
            folder when ``None``.
        sort_categories: sort the file's categories by id (mmdet's option).
        prefix: key prefix of the results (default ``"coco"``).
        backend_args: must be ``None``.
    """

    default_prefix = "coco"

    def __init__(
        self,
        *,
        ann_file: str,
        metric: str | Sequence[str] = "bbox",
        classwise: bool = False,
        proposal_nums: Sequence[int] = (100, 300, 1000),
        iou_thrs: Sequence[float] | float | None = None,
        metric_items: Sequence[str] | None = None,
        format_only: bool = False,
        outfile_prefix: str | None = None,
        sort_categories: bool = False,
        prefix: str | None = None,
        backend_args: Mapping[str, Any] | None = None,
        collect_device: str = "cpu",
    ) -> None:
        self.metrics = [metric] if isinstance(metric, str) else list(metric)
        for name in self.metrics:
            if name not in METRICS:
                raise KeyError(f"CocoMetric metric must be in {METRICS}, got {name!r}")
        if format_only and outfile_prefix is None:
            raise ValueError("CocoMetric(format_only=True) needs outfile_prefix")
        if backend_args is not None:
            raise ValueError("backend_args (remote file backends) are not supported")
        for item in metric_items or ():
            if item not in STAT_INDEX:
                raise KeyError(f"metric item {item!r} is not supported; use {list(STAT_INDEX)}")
        if iou_thrs is None:
            iou_thrs = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
        # kept as given, like mmdet: with a list, COCOeval.summarize's `iouThr == p.iouThrs`
        # finds no match, so the AP@0.5 / AP@0.75 entries become -1 (pass an array to avoid it)
        self.iou_thrs = iou_thrs
        self.classwise = classwise
        self.proposal_nums = list(proposal_nums)
        self.metric_items = list(metric_items) if metric_items is not None else None
        self.format_only = format_only
        self.outfile_prefix = outfile_prefix
        self.prefix = prefix or self.default_prefix
        self.ann_file = ann_file
        self._coco = self._load_gt(ann_file, sort_categories)
        self.dataset_meta: dict[str, Any] | None = None
        self.cat_ids: list[int] | None = None
        self.img_ids: list[Any] | None = None
        self.results: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.stats: dict[str, np.ndarray] = {}

    @staticmethod
    def _load_gt(ann_file: str, sort_categories: bool) -> COCO:
        from visdet.data.datasets.coco import read_coco_json

        data = read_coco_json(ann_file, require_annotations=True)
        coco = COCO()
        coco.dataset = data
        with contextlib.redirect_stdout(io.StringIO()):
            coco.createIndex()
        if sort_categories:
            coco.cats = {i: coco.cats[i] for i in sorted(coco.cats)}
            coco.dataset["categories"] = sorted(coco.dataset["categories"], key=lambda c: c["id"])
        return coco

    # ------------------------------------------------------------------ collect
    def process(self, data_batch: Any, data_samples: Sequence[Mapping[str, Any]]) -> None:
        """Keep the predictions of a batch: dicts with ``img_id``, ``ori_shape``, ``pred_instances``."""
        for sample in data_samples:
            pred = sample["pred_instances"]
            get = pred.get if hasattr(pred, "get") else (lambda k, d=None, p=pred: getattr(p, k, d))
            result = {
                "img_id": sample["img_id"],
                "bboxes": np.asarray(_numpy(get("bboxes"))).reshape(-1, 4),
                "scores": np.asarray(_numpy(get("scores"))).reshape(-1),
                "labels": np.asarray(_numpy(get("labels"))).reshape(-1),
            }
            masks = get("masks")
            if masks is not None:
                result["masks"] = masks if isinstance(masks, list) else encode_masks(masks)
            if get("mask_scores") is not None:
                result["mask_scores"] = np.asarray(_numpy(get("mask_scores")))
            gt = {"img_id": sample["img_id"], "height": sample["ori_shape"][0], "width": sample["ori_shape"][1]}
            self.results.append((gt, result))

    def evaluate(self, size: int | None = None) -> dict[str, float]:
        """Evaluate everything passed to :meth:`process` (gathered over ranks), then reset."""
        results = gather_results(self.results, size)
        self.results = []
        if not results:
            warnings.warn("CocoMetric.evaluate called without results", stacklevel=2)
            return {}
        metrics = self.compute_metrics(results)
        return {f"{self.prefix}/{k}": v for k, v in metrics.items()}

    # ------------------------------------------------------------------ compute
    def results2json(self, preds: Sequence[Mapping[str, Any]], outfile_prefix: str) -> dict[str, str]:
        """Write COCO result JSON files; returns ``{"bbox"|"proposal"|"segm": path}``."""
        if self.cat_ids is None:
            raise RuntimeError("CocoMetric.cat_ids is not set; set dataset_meta and call evaluate()")
        boxes_json, segm_json = [], ([] if "masks" in preds[0] else None)
        for idx, pred in enumerate(preds):
            image_id = pred.get("img_id", idx)
            labels, boxes, scores = pred["labels"], pred["bboxes"], pred["scores"]
            for i, label in enumerate(labels):
                if not 0 <= int(label) < len(self.cat_ids):
                    raise ValueError(f"image {image_id}: label {int(label)} outside [0, {len(self.cat_ids)})")
                entry = {"image_id": image_id, "bbox": _xywh(boxes[i]), "score": float(scores[i]),
                         "category_id": self.cat_ids[int(label)]}  # fmt: skip
                boxes_json.append(entry)
            if segm_json is None:
                continue
            mask_scores = pred.get("mask_scores", scores)
            for i, label in enumerate(labels):
                rle = dict(pred["masks"][i])
                if isinstance(rle["counts"], bytes):
                    rle["counts"] = rle["counts"].decode()
                segm_json.append({"image_id": image_id, "bbox": _xywh(boxes[i]), "score": float(mask_scores[i]),
                                  "category_id": self.cat_ids[int(label)], "segmentation": rle})  # fmt: skip
        files = {"bbox": f"{outfile_prefix}.bbox.json", "proposal": f"{outfile_prefix}.bbox.json"}
        with open(files["bbox"], "w") as f:
            json.dump(boxes_json, f)
        if segm_json is not None:
            files["segm"] = f"{outfile_prefix}.segm.json"
            with open(files["segm"], "w") as f:
                json.dump(segm_json, f)
        return files

    def compute_metrics(self, results: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, float]:
        """Write the predictions as JSON and evaluate them (keys without the prefix)."""
        preds = [pred for _, pred in results]
        classes = (self.dataset_meta or {}).get("classes")
        if classes is None:
            raise ValueError("CocoMetric.dataset_meta must hold 'classes' (set it from the dataset's metainfo)")
        if self.cat_ids is None:
            self.cat_ids = self._coco.getCatIds(catNms=list(classes))
        if self.img_ids is None:
            self.img_ids = self._coco.getImgIds()
        with tempfile.TemporaryDirectory() as tmp:
            prefix = self.outfile_prefix or osp.join(tmp, "results")
            files = self.results2json(preds, prefix)
            if self.format_only:
                logger.info("results are saved in %s", osp.dirname(prefix))
                return {}
            return self.evaluate_result_files(files)

    def _load_predictions(self, path: str, iou_type: str) -> list[dict[str, Any]]:
        with open(path) as f:
            try:
                predictions = json.load(f)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: not a JSON file: {err}") from err
        known = set(self._coco.getImgIds())
        for k, pred in enumerate(predictions):
            if pred.get("image_id") not in known:
                raise ValueError(
                    f"{path}: prediction #{k} has image_id {pred.get('image_id')!r}, "
                    f"which is not an image of {self.ann_file}"
                )
            if iou_type == "segm":
                pred.pop("bbox", None)
        return predictions

    def evaluate_result_files(self, result_files: Mapping[str, str]) -> dict[str, float]:
        """Evaluate COCO result JSON files (``{"bbox"|"proposal"|"segm": path}``)."""
        if self.cat_ids is None or self.img_ids is None:
            classes = (self.dataset_meta or {}).get("classes")
            cats = self._coco.getCatIds(catNms=list(classes)) if classes else self._coco.getCatIds()
            self.cat_ids = self.cat_ids or cats
            self.img_ids = self.img_ids or self._coco.getImgIds()
        out: dict[str, float] = {}
        for metric in self.metrics:
            iou_type = "bbox" if metric == "proposal" else metric
            if metric not in result_files:
                raise KeyError(f"{metric} is not in the result files {dict(result_files)}")
            predictions = self._load_predictions(result_files[metric], iou_type)
            if iou_type == "segm":
                check_segm_ground_truth(self._coco, self.ann_file, self.img_ids, self.cat_ids)
            if not predictions:
                # mmdet logs "the testing results of the whole dataset is empty" and stops
                logger.error("the predictions in %s are empty; no %s result", result_files[metric], metric)
                break
            with contextlib.redirect_stdout(io.StringIO()) as printed:
                coco_dt = self._coco.loadRes(predictions)
                coco_eval = COCOeval(self._coco, coco_dt, iou_type)
                coco_eval.params.catIds = self.cat_ids
                coco_eval.params.imgIds = self.img_ids
                coco_eval.params.maxDets = list(self.proposal_nums)
                coco_eval.params.iouThrs = self.iou_thrs
                if metric == "proposal":
                    coco_eval.params.useCats = 0
                coco_eval.evaluate()
                coco_eval.accumulate()
                coco_eval.summarize()
            logger.info("%s", printed.getvalue())
            self.stats[metric] = np.array(coco_eval.stats)
            if metric == "proposal":
                for item in self.metric_items or DEFAULT_PROPOSAL_ITEMS:
                    out[item] = float(f"{coco_eval.stats[STAT_INDEX[item]]:.3f}")
                continue
            if self.classwise:
                names = [self._coco.loadCats(c)[0]["name"] for c in self.cat_ids]
                table, per_class = classwise_table(coco_eval.eval["precision"], names)
                logger.info("per-class %s results:\n%s", metric, table)
                out.update({f"{name}_precision": ap for name, ap in per_class.items()})
            for item in self.metric_items or DEFAULT_ITEMS:
                out[f"{metric}_{item}"] = round3(coco_eval.stats[STAT_INDEX[item]])
        return out
