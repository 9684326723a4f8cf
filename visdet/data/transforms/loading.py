"""Loading transforms: the image file and the annotations of one data item.

A pipeline works on a ``results`` dict in mmdet's shape. After these two transforms it holds
``img`` (``np.ndarray[H, W, 3]`` uint8 BGR, or float32 with ``to_float32``), ``img_shape``
and ``ori_shape`` (``(H, W)``), ``gt_bboxes`` (``Tensor[N, 4]`` float32, absolute xyxy),
``gt_bboxes_labels`` (``np.ndarray[N]`` int64), ``gt_ignore_flags`` (``np.ndarray[N]``
bool) and, with masks, ``gt_masks`` (``np.ndarray[N, H, W]`` uint8).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch
from pycocotools import mask as mask_utils

from visdet.data.transforms.image_header import check_image_size
from visdet.structures import BitmapMasks, PolygonMasks

COLOR_TYPES: dict[str, int] = {
    "color": cv2.IMREAD_COLOR,
    "grayscale": cv2.IMREAD_GRAYSCALE,
    "unchanged": cv2.IMREAD_UNCHANGED,
    "color_ignore_orientation": cv2.IMREAD_IGNORE_ORIENTATION | cv2.IMREAD_COLOR,
    "grayscale_ignore_orientation": cv2.IMREAD_IGNORE_ORIENTATION | cv2.IMREAD_GRAYSCALE,
}


class LoadImageFromFile:
    """Read ``results['img_path']`` with ``cv2.imdecode`` (BGR channel order, as mmcv).

    Args:
        to_float32: convert the image to float32 (otherwise uint8).
        color_type: one of :data:`COLOR_TYPES` (``"color"`` gives ``[H, W, 3]``).
        ignore_empty: return ``None`` (skip the item) instead of raising when the file
            is missing or cannot be decoded.

    Errors name the file and ``img_id``: ``FileNotFoundError`` for a file that cannot be
    read, ``ValueError`` for one that is empty, truncated or not an image, and (even with
    ``ignore_empty``) for one whose header declares more than
    :data:`~visdet.data.transforms.image_header.MAX_IMAGE_PIXELS` pixels, which is
    refused before anything is decoded. EXIF orientation is applied (``"color"``), 16-bit
    images become 8-bit and alpha is dropped, as with mmcv's cv2 backend.
        imdecode_backend: only ``"cv2"`` is supported.
        backend_args: accepted for config compatibility; must be ``None`` (local files).
    """

    def __init__(
        self,
        *,
        to_float32: bool = False,
        color_type: str = "color",
        ignore_empty: bool = False,
        imdecode_backend: str = "cv2",
        backend_args: dict[str, Any] | None = None,
    ) -> None:
        if color_type not in COLOR_TYPES:
            raise ValueError(f"color_type must be one of {sorted(COLOR_TYPES)}, got {color_type!r}")
        if imdecode_backend != "cv2":
            raise ValueError(f"only imdecode_backend='cv2' is supported, got {imdecode_backend!r}")
        if backend_args is not None:
            raise ValueError("backend_args (remote file backends) are not supported; use local paths")
        self.to_float32 = to_float32
        self.color_type = color_type
        self.ignore_empty = ignore_empty

    def __call__(self, results: dict[str, Any]) -> dict[str, Any] | None:
        """Add ``img``, ``img_shape`` and ``ori_shape`` to ``results``."""
        path = results["img_path"]
        try:
            with open(path, "rb") as f:
                content = f.read()
        except OSError as err:
            if self.ignore_empty:
                return None
            raise FileNotFoundError(f"cannot read image file {path!r} (img_id={results.get('img_id')}): {err}") from err
        check_image_size(content, path)  # before decoding: a small file may declare a huge image
        try:
            # cv2.imdecode asserts on an empty buffer; treat that like an undecodable file
            img = cv2.imdecode(np.frombuffer(content, np.uint8), COLOR_TYPES[self.color_type]) if content else None
        except cv2.error:  # OpenCV refuses some corrupt headers with an exception rather than None
            img = None
        if img is None or img.size == 0:
            if self.ignore_empty:
                return None
            raise ValueError(
                f"cannot decode image file {path!r} (img_id={results.get('img_id')}): "
                "it is empty, truncated or not an image"
            )
        if self.to_float32:
            img = img.astype(np.float32)
        results["img"] = img
        results["img_shape"] = img.shape[:2]
        results["ori_shape"] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return f"LoadImageFromFile(to_float32={self.to_float32}, color_type={self.color_type!r})"


def polygons_or_rle_to_mask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """Rasterise COCO polygons, an uncompressed RLE or a compressed RLE to ``uint8[H, W]``."""
    if isinstance(segmentation, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation["counts"], list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    return mask_utils.decode(rle)


def _is_valid_rle(segmentation: dict[str, Any]) -> bool:
    return (
        segmentation.get("counts") is not None
        and segmentation.get("size") is not None
        and isinstance(segmentation["counts"], (list, str))
    )


class LoadAnnotations:
    """Turn ``results['instances']`` (from a dataset) into ground-truth arrays.

    Args:
        with_bbox: load ``gt_bboxes`` (``Tensor[N, 4]`` float32) and ``gt_ignore_flags``.
        with_label: load ``gt_bboxes_labels`` (int64).
        with_mask: load ``gt_masks`` at ``ori_shape``: ``BitmapMasks`` (polygons and RLE
            decoded) when ``poly2mask``, else ``PolygonMasks`` (as mmdet).
        poly2mask: decode masks to bitmaps (``True``) or keep polygons (``False``; an RLE
            instance then becomes ignored with an empty polygon, mmdet's behaviour).
        with_seg: semantic segmentation maps are not supported; must be ``False``.
        box_type: ``"hbox"`` (horizontal boxes) or ``None``; both give a float32 tensor.
        backend_args: must be ``None``.

    Instances whose mask has no usable polygon (fewer than 3 points) or an unusable RLE
    become ignored (``gt_ignore_flags`` True) with an empty mask, as in mmdet.
    """

    def __init__(
        self,
        *,
        with_bbox: bool = True,
        with_label: bool = True,
        with_mask: bool = False,
        poly2mask: bool = True,
        with_seg: bool = False,
        box_type: str | None = "hbox",
        backend_args: dict[str, Any] | None = None,
    ) -> None:
        if with_seg:
            raise ValueError("with_seg=True (semantic maps) is not supported")
        if box_type not in ("hbox", None):
            raise ValueError(f"box_type must be 'hbox' or None, got {box_type!r}")
        if backend_args is not None:
            raise ValueError("backend_args (remote file backends) are not supported")
        self.with_bbox = with_bbox
        self.with_label = with_label
        self.with_mask = with_mask
        self.poly2mask = poly2mask

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Add the requested ground-truth fields to ``results``."""
        instances = results.get("instances", [])
        if self.with_bbox:
            boxes = [inst["bbox"] for inst in instances]
            results["gt_bboxes"] = torch.tensor(np.array(boxes, dtype=np.float32).reshape(-1, 4), dtype=torch.float32)
            results["gt_ignore_flags"] = np.array([inst["ignore_flag"] for inst in instances], dtype=bool)
        if self.with_label:
            labels = [inst["bbox_label"] for inst in instances]
            results["gt_bboxes_labels"] = np.array(labels, dtype=np.int64)
        if self.with_mask:
            self._load_masks(results, instances)
        return results

    def _load_masks(self, results: dict[str, Any], instances: list[dict[str, Any]]) -> None:
        height, width = results["ori_shape"]
        masks, ignore_flags = [], []
        for inst in instances:
            segmentation = inst.get("mask")
            if segmentation is None:
                raise KeyError(f"instance of img_id={results.get('img_id')} has no 'mask' but with_mask=True")
            if isinstance(segmentation, list):
                segmentation = [np.array(poly) for poly in segmentation if len(poly) % 2 == 0 and len(poly) >= 6]
                if not segmentation:
                    inst["ignore_flag"] = 1
                    segmentation = [np.zeros(6)]
            elif not self.poly2mask:  # mmdet: PolygonMasks take polygons only; an RLE is ignored
                inst["ignore_flag"] = 1
                segmentation = [np.zeros(6)]
            elif not (isinstance(segmentation, dict) and _is_valid_rle(segmentation)):
                inst["ignore_flag"] = 1
                segmentation = [np.zeros(6)]
            if not self.poly2mask:
                masks.append(segmentation)
                ignore_flags.append(inst["ignore_flag"])
                continue
            mask = polygons_or_rle_to_mask(segmentation, height, width)
            if mask.shape != (height, width):  # an RLE keeps its own 'size'
                # mmdet fails here with a reshape error; CocoDataset already names the annotation id
                raise ValueError(
                    f"img_id={results.get('img_id')} ({results.get('img_path')}): an RLE mask of size "
                    f"{list(mask.shape)} on an image of [height, width] {[height, width]}"
                )
            masks.append(mask)
            ignore_flags.append(inst["ignore_flag"])
        results["gt_ignore_flags"] = np.array(ignore_flags, dtype=bool)
        if not self.poly2mask:
            results["gt_masks"] = PolygonMasks(masks, height, width)
        elif masks:
            results["gt_masks"] = BitmapMasks(np.stack(masks).astype(np.uint8), height, width)
        else:
            results["gt_masks"] = BitmapMasks(np.zeros((0, height, width), dtype=np.uint8), height, width)

    def __repr__(self) -> str:
        return (
            f"LoadAnnotations(with_bbox={self.with_bbox}, with_label={self.with_label}, "
            f"with_mask={self.with_mask}, poly2mask={self.poly2mask})"
        )
