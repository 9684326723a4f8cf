"""``CocoDataset``: COCO-format detection / instance segmentation annotations.

Each data item: ``img_path``, ``img_id``, ``seg_map_path`` (None), ``height``, ``width`` and
``instances``, a list of ``{"bbox": [x1, y1, x2, y2], "bbox_label": int,
"ignore_flag": 0|1, "mask": segmentation}``. Labels are the positions of the file's
categories (in file order, as pycocotools' ``getCatIds``) whose names are in
``metainfo["classes"]``.

The file is checked before use (:func:`check_coco_data`): every problem is a
``ValueError`` naming the file and the offending image, category or annotation id.
Annotations mmdet skips (zero-area boxes, boxes narrower than 1 pixel or
outside the image, ``ignore`` ones, and ones whose ``category_id`` is not among the
file's ``categories``, as in mmdet's own ``tests/data/coco_sample.json``) are skipped
here too, with a warning that counts them and names their ids.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
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


def _is_number(value: Any) -> bool:
    """A finite JSON number (``true``/``false`` are not numbers; NaN and infinities are refused)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_id(value: Any) -> bool:
    """COCO ids are integers; strings are accepted (pycocotools indexes any hashable)."""
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# pycocotools rasterises a polygon through a buffer of about 5 points per pixel of its
# perimeter and decodes an RLE without bounds checks; these limits keep a hostile file
# from allocating gigabytes or writing past a buffer (a real polygon is far shorter).
MAX_POLYGON_PERIMETER = 1_000_000


def _polygon_perimeter(poly: list[float]) -> float:
    """The Chebyshev length of a closed polygon ``[x0, y0, x1, y1, ...]`` (as pycocotools walks it)."""
    xs, ys = poly[0 : len(poly) - 1 : 2], poly[1 : len(poly) : 2]
    total = 0.0
    for k in range(len(xs)):
        total += max(abs(xs[k] - xs[k - 1]), abs(ys[k] - ys[k - 1]))
    return total


def rle_string_counts(counts: str) -> list[int] | None:
    """The run lengths of a compressed COCO RLE string, or ``None`` if it is malformed.

    The format is pycocotools' ``rleFrString``: 6-bit groups (characters ``'0'`` to
    ``'o'``), 5 value bits each, the 0x20 bit continuing the number, the 0x10 bit of the
    last group extending the sign; from the third number on, each is stored as the
    difference to the one two places before.
    """
    runs: list[int] = []
    p, n = 0, len(counts)
    while p < n:
        x = k = 0
        more = True
        while more:
            if p >= n:
                return None  # the string ends inside a number
            c = ord(counts[p]) - 48
            if not 0 <= c < 64:
                return None
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        if x < 0:
            return None
        runs.append(x)
    return runs


def _check_segmentation(ann_file: str, ann_id: Any, seg: Any) -> None:
    """Polygons ``[[x, y, ...], ...]`` of finite numbers, or an RLE ``{"counts", "size": [h, w]}``."""
    if isinstance(seg, list):
        for k, poly in enumerate(seg):
            if not isinstance(poly, list) or not all(_is_number(v) for v in poly):
                _fail(ann_file, f"annotation {ann_id}: segmentation polygon #{k} must be a list of finite numbers")
            if len(poly) >= 4 and _polygon_perimeter(poly) > MAX_POLYGON_PERIMETER:
                _fail(ann_file, f"annotation {ann_id}: segmentation polygon #{k} is longer than "
                                f"{MAX_POLYGON_PERIMETER} pixels (coordinates far outside the image)")  # fmt: skip
        return
    if isinstance(seg, dict) and "counts" in seg and "size" in seg:
        size, counts = seg["size"], seg["counts"]
        if not (isinstance(size, list) and len(size) == 2 and all(_is_count(v) for v in size)):
            _fail(ann_file, f"annotation {ann_id}: RLE 'size' must be [height, width] (ints >= 0), got {size!r}")
        if isinstance(counts, list):
            if not all(_is_count(v) for v in counts):
                _fail(ann_file, f"annotation {ann_id}: uncompressed RLE 'counts' must be non-negative ints")
            runs: list[int] | None = counts
        elif isinstance(counts, str):
            runs = rle_string_counts(counts)
            if runs is None:
                _fail(ann_file, f"annotation {ann_id}: RLE 'counts' is not a valid compressed RLE string")
        else:
            kind = type(counts).__name__
            _fail(ann_file, f"annotation {ann_id}: RLE 'counts' must be a list or a string, got {kind}")
        if sum(runs or []) != size[0] * size[1]:
            _fail(ann_file, f"annotation {ann_id}: RLE run lengths sum to {sum(runs or [])}, "
                            f"not height * width = {size[0] * size[1]}")  # fmt: skip
        return
    _fail(
        ann_file,
        f"annotation {ann_id} has an unknown segmentation format {type(seg).__name__} "
        "(expected polygons [[x, y, ...], ...] or an RLE {'counts', 'size'})",
    )


def check_coco_data(data: Any, ann_file: str, *, require_annotations: bool = True) -> dict[str, Any]:
    """Check the structure and types of a parsed COCO file; raise ``ValueError`` naming the file and id.

    What is checked (what a malformed or hostile file would otherwise turn into a raw
    ``KeyError``/``TypeError`` deep inside the loader, or a silently wrong label):
    ``images``/``categories``/``annotations`` are lists of objects; ids are ints or
    strings, unique per list; ``file_name`` and category ``name`` are strings; image
    ``height``/``width`` are positive finite numbers; every annotation refers to a
    listed image, has a ``category_id`` (an id; one that ``categories`` does not list is
    skipped with a warning, as mmdet does), a ``bbox`` of 4 finite numbers, a finite
    ``area`` and, if any, a well-formed segmentation (polygons of finite numbers no
    longer than :data:`MAX_POLYGON_PERIMETER`; an RLE whose run lengths add up to
    its ``size``, since pycocotools decodes without bounds checks). Odd but
    valid values (negative, zero-sized or out-of-image boxes, polygons of fewer than 3
    points) pass and are handled as mmdet handles them.
    """
    if not isinstance(data, dict):
        _fail(ann_file, f"top level must be a JSON object, got {type(data).__name__}")
    keys = ["images", "categories"] + (["annotations"] if require_annotations else [])
    for key in keys:
        if key not in data:
            _fail(ann_file, f"missing the '{key}' list")
    for key in ("images", "categories", "annotations"):
        if key in data and not isinstance(data[key], list):
            _fail(ann_file, f"'{key}' must be a list, got {type(data[key]).__name__}")
    img_ids: set[Any] = set()
    for i, img in enumerate(data["images"]):
        if not isinstance(img, dict):
            _fail(ann_file, f"image #{i} must be an object, got {type(img).__name__}")
        for key in ("id", "file_name", "height", "width"):
            if key not in img:
                _fail(ann_file, f"image #{i} (id={img.get('id')}) has no '{key}'")
        if not _is_id(img["id"]):
            _fail(ann_file, f"image #{i}: 'id' must be an int or a string, got {img['id']!r}")
        if img["id"] in img_ids:
            _fail(ann_file, f"image id {img['id']} appears twice")
        img_ids.add(img["id"])
        if not isinstance(img["file_name"], str) or not img["file_name"]:
            _fail(ann_file, f"image id {img['id']}: 'file_name' must be a non-empty string, got {img['file_name']!r}")
        for key in ("height", "width"):
            if not _is_number(img[key]) or img[key] <= 0:
                _fail(ann_file, f"image id {img['id']}: '{key}' must be a positive number, got {img[key]!r}")
    cat_ids: set[Any] = set()
    for i, cat in enumerate(data["categories"]):
        if not isinstance(cat, dict) or "id" not in cat or "name" not in cat:
            _fail(ann_file, f"category #{i} needs 'id' and 'name', got {cat}")
        if not _is_id(cat["id"]):
            _fail(ann_file, f"category #{i}: 'id' must be an int or a string, got {cat['id']!r}")
        if cat["id"] in cat_ids:
            _fail(ann_file, f"category id {cat['id']} appears twice")
        cat_ids.add(cat["id"])
        if not isinstance(cat["name"], str):
            _fail(ann_file, f"category id {cat['id']}: 'name' must be a string, got {cat['name']!r}")
    ann_ids: set[Any] = set()
    for i, ann in enumerate(data.get("annotations", [])):
        if not isinstance(ann, dict):
            _fail(ann_file, f"annotation #{i} must be an object, got {type(ann).__name__}")
        ann_id = ann.get("id")
        if ann_id is None:
            _fail(ann_file, f"annotation #{i} has no 'id'")
        if not _is_id(ann_id):
            _fail(ann_file, f"annotation #{i}: 'id' must be an int or a string, got {ann_id!r}")
        if ann_id in ann_ids:
            _fail(ann_file, f"annotation ids are not unique: {ann_id} appears twice")
        ann_ids.add(ann_id)
        image_id = ann.get("image_id")
        if not _is_id(image_id) or image_id not in img_ids:
            _fail(ann_file, f"annotation {ann_id} refers to unknown image_id {image_id}")
        if "category_id" not in ann:
            _fail(ann_file, f"annotation {ann_id} has no 'category_id'")
        if not _is_id(ann["category_id"]):
            got = ann["category_id"]
            _fail(ann_file, f"annotation {ann_id}: 'category_id' must be an int or a string, got {got!r}")
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
            _fail(ann_file, f"annotation {ann_id} needs 'bbox' [x, y, w, h] of finite numbers, got {bbox!r}")
        if "area" not in ann:
            _fail(ann_file, f"annotation {ann_id} has no 'area'")
        if not _is_number(ann["area"]):
            _fail(ann_file, f"annotation {ann_id}: 'area' must be a finite number, got {ann['area']!r}")
        seg = ann.get("segmentation")
        if seg:
            _check_segmentation(ann_file, ann_id, seg)
    return data


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
    """Read and check a COCO annotation file (:func:`check_coco_data`).

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is not JSON or not a well-formed COCO file; the message
            names the file and the image, category or annotation id.
    """
    try:
        with open(ann_file, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"COCO annotation file {ann_file!r} does not exist") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{ann_file}: not a JSON file: {err}") from err
    except RecursionError as err:
        raise ValueError(f"{ann_file}: not a JSON file: nested too deeply") from err
    return check_coco_data(data, ann_file, require_annotations=require_annotations)


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
        names: dict[str, Any] = {}
        for cat in data["categories"]:
            if cat["name"] in classes and names.setdefault(cat["name"], cat["id"]) != cat["id"]:
                raise ValueError(
                    f"{self.ann_file}: categories {names[cat['name']]} and {cat['id']} are both named "
                    f"{cat['name']!r}; a class name must map to one category"
                )
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
