"""``CocoDataset``: COCO-format detection / instance segmentation annotations.

Each data item: ``img_path``, ``img_id``, ``seg_map_path`` (None), ``height``, ``width`` and
``instances``, a list of ``{"bbox": [x1, y1, x2, y2], "bbox_label": int,
"ignore_flag": 0|1, "mask": segmentation}``. Labels are the positions of the file's
categories (in file order, as pycocotools' ``getCatIds``) whose names are in
``metainfo["classes"]``.

The file is checked before use: errors name the file and the offending image or
annotation id. Annotations mmdet skips (zero-area boxes, boxes narrower than 1 pixel or
outside the image, ``ignore`` ones, and ones whose ``category_id`` is not among the
file's ``categories``, as in mmdet's own ``tests/data/coco_sample.json``) are skipped
here too, with a warning that counts them and names their ids.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os.path as osp
import warnings
from typing import Any

from pycocotools.coco import COCO

from visdet.data.datasets.base_det_dataset import BaseDetDataset
from visdet.data.datasets.coco_classes import COCO_CLASSES


class CocoAnnotationWarning(UserWarning):
    """Annotations of a COCO file were skipped (invalid boxes)."""


def _fail(ann_file: str, message: str) -> None:
    raise ValueError(f"{ann_file}: {message}")


def _check_rle_size(ann_file: str, ann: dict[str, Any], img_info: dict[str, Any]) -> None:
    """Raise unless an RLE mask has its image's size.

    mmdet decodes such an RLE at its own size and fails later with a reshape error. The
    metric's ground truth is not checked here (pycocotools does not either).
    """
    seg = ann["segmentation"]
    if not isinstance(seg, dict):
        return
    size, height, width = seg.get("size"), img_info["height"], img_info["width"]
    if not (isinstance(size, (list, tuple)) and [int(v) for v in size] == [int(height), int(width)]):
        _fail(ann_file, f"annotation {ann['id']}: RLE size {size!r} does not match image "
                        f"{ann['image_id']}'s [height, width] [{height}, {width}]")  # fmt: skip


def read_coco_json(ann_file: str, *, require_annotations: bool = True) -> dict[str, Any]:
    """Read and check a COCO annotation file; raise ``ValueError`` naming the file and id."""
    try:
        with open(ann_file, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"COCO annotation file {ann_file!r} does not exist") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{ann_file}: not a JSON file: {err}") from err
    if not isinstance(data, dict):
        _fail(ann_file, f"top level must be a JSON object, got {type(data).__name__}")
    keys = ["images", "categories"] + (["annotations"] if require_annotations else [])
    for key in keys:
        if key not in data:
            _fail(ann_file, f"missing the '{key}' list")
        if not isinstance(data[key], list):
            _fail(ann_file, f"'{key}' must be a list, got {type(data[key]).__name__}")
    img_ids: set[Any] = set()
    for i, img in enumerate(data["images"]):
        for key in ("id", "file_name", "height", "width"):
            if key not in img:
                _fail(ann_file, f"image #{i} (id={img.get('id')}) has no '{key}'")
        if img["id"] in img_ids:
            _fail(ann_file, f"image id {img['id']} appears twice")
        img_ids.add(img["id"])
    for i, cat in enumerate(data["categories"]):
        if "id" not in cat or "name" not in cat:
            _fail(ann_file, f"category #{i} needs 'id' and 'name', got {cat}")
    ann_ids: set[Any] = set()
    for i, ann in enumerate(data.get("annotations", [])):
        ann_id = ann.get("id")
        if ann_id is None:
            _fail(ann_file, f"annotation #{i} has no 'id'")
        if ann_id in ann_ids:
            _fail(ann_file, f"annotation ids are not unique: {ann_id} appears twice")
        ann_ids.add(ann_id)
        if ann.get("image_id") not in img_ids:
            _fail(ann_file, f"annotation {ann_id} refers to unknown image_id {ann.get('image_id')}")
        if "category_id" not in ann:
            _fail(ann_file, f"annotation {ann_id} has no 'category_id'")
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            _fail(ann_file, f"annotation {ann_id} needs 'bbox' [x, y, w, h], got {bbox!r}")
        if "area" not in ann:
            _fail(ann_file, f"annotation {ann_id} has no 'area'")
        seg = ann.get("segmentation")
        if seg and not (
            isinstance(seg, list) or (isinstance(seg, dict) and "counts" in seg and "size" in seg)
        ):
            _fail(
                ann_file,
                f"annotation {ann_id} has an unknown segmentation format {type(seg).__name__} "
                "(expected polygons [[x, y, ...], ...] or an RLE {'counts', 'size'})",
            )
    return data


class CocoDataset(BaseDetDataset):
    """COCO detection dataset (see the module docstring for the item format)."""

    METAINFO = {"classes": COCO_CLASSES}

    def load_data_list(self) -> list[dict[str, Any]]:
        """Parse ``ann_file`` into one dict per image, in the file's image order."""
        data = read_coco_json(self.ann_file, require_annotations=not self.test_mode)
        coco = COCO()
        coco.dataset = data
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            coco.createIndex()
        classes = self._metainfo.get("classes")
        if classes is None:
            raise ValueError(f"{type(self).__name__} needs metainfo['classes'] ({self.ann_file})")
        self.cat_ids = coco.getCatIds(catNms=list(classes))
        self.cat2label = {cat_id: i for i, cat_id in enumerate(self.cat_ids)}
        self.cat_img_map = copy.deepcopy(dict(coco.catToImgs))
        skipped: list[Any] = []
        data_list = []
        for img_id in coco.getImgIds():
            img_info = coco.loadImgs([img_id])[0]
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[img_id]))
            data_list.append(self._parse_image(img_info, anns, skipped))
        known = {cat["id"] for cat in data["categories"]}
        invalid = set(skipped)
        dangling = [
            ann["id"]
            for ann in data.get("annotations", [])
            if ann["category_id"] not in known and ann["id"] not in invalid and not ann.get("ignore", False)
        ]
        for ids, why in (
            (skipped, "a zero-area box, a side < 1 pixel or no overlap with the image"),
            (dangling, "a category_id that 'categories' does not list"),
        ):
            if ids:
                shown = ", ".join(str(i) for i in ids[:20]) + (" ..." if len(ids) > 20 else "")
                warnings.warn(
                    f"{self.ann_file}: skipped {len(ids)} annotation(s) with {why} (ann ids: {shown})",
                    CocoAnnotationWarning,
                    stacklevel=2,
                )
        return data_list

    def _parse_image(
        self, img_info: dict[str, Any], anns: list[dict[str, Any]], skipped: list[Any]
    ) -> dict[str, Any]:
        file_name = img_info["file_name"]
        seg_prefix = self.data_prefix.get("seg")
        info: dict[str, Any] = {
            "img_path": osp.join(self.data_prefix.get("img", ""), file_name),
            "img_id": img_info["id"],
            "seg_map_path": (
                osp.join(seg_prefix, file_name.rsplit(".", 1)[0] + self.seg_map_suffix)
                if seg_prefix
                else None
            ),
            "height": img_info["height"],
            "width": img_info["width"],
        }
        instances = []
        for ann in anns:
            if ann.get("ignore", False):
                continue
            x1, y1, w, h = ann["bbox"]
            inter_w = max(0, min(x1 + w, img_info["width"]) - max(x1, 0))
            inter_h = max(0, min(y1 + h, img_info["height"]) - max(y1, 0))
            if inter_w * inter_h == 0 or ann["area"] <= 0 or w < 1 or h < 1:
                skipped.append(ann["id"])
                continue
            if ann["category_id"] not in self.cat2label:
                continue  # a category of the file that is not among metainfo["classes"]
            instance = {
                "ignore_flag": 1 if ann.get("iscrowd", False) else 0,
                "bbox": [x1, y1, x1 + w, y1 + h],
                "bbox_label": self.cat2label[ann["category_id"]],
            }
            if ann.get("segmentation"):
                instance["mask"] = ann["segmentation"]
                _check_rle_size(self.ann_file, ann, img_info)
            instances.append(instance)
        info["instances"] = instances
        return info

    def filter_data(self) -> list[dict[str, Any]]:
        """Drop images without ground truth (``filter_empty_gt``) or smaller than ``min_size``."""
        if self.test_mode or self.filter_cfg is None:
            return self.data_list
        filter_empty_gt = self.filter_cfg.get("filter_empty_gt", False)
        min_size = self.filter_cfg.get("min_size", 0)
        ids_with_ann = {info["img_id"] for info in self.data_list}
        ids_in_cat: set[Any] = set()
        for cat_id in self.cat_ids:
            ids_in_cat |= set(self.cat_img_map.get(cat_id, []))
        ids_in_cat &= ids_with_ann
        return [
            info
            for info in self.data_list
            if not (filter_empty_gt and info["img_id"] not in ids_in_cat)
            and min(info["width"], info["height"]) >= min_size
        ]
