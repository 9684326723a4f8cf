"""``RandomCrop``: crop a random window; drop the objects that fall outside it.

Random draws use numpy's global RNG in mmdet's order (crop size, then the y and x
offsets), so a seeded numpy RNG crops the same window as the reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from visdet.data.transforms.image_geometry import is_mask_structure, mask_structure_boxes
from visdet.data.transforms.resize import clip_boxes_, compose_homography

CROP_TYPES = ("relative_range", "relative", "absolute", "absolute_range")


def boxes_inside(boxes: torch.Tensor, img_shape: tuple[int, int]) -> torch.Tensor:
    """``Tensor[N]`` bool: whether each xyxy box overlaps the image ``(h, w)`` at all."""
    h, w = img_shape
    return (boxes[:, 0] < w) & (boxes[:, 1] < h) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def masks_to_boxes(masks: np.ndarray) -> torch.Tensor:
    """Tight xyxy boxes (``Tensor[N, 4]`` float32) around ``uint8[N, H, W]`` masks; 0 if empty."""
    boxes = np.zeros((len(masks), 4), dtype=np.float32)
    for i, mask in enumerate(masks):
        xs = np.where(mask.any(axis=0))[0]
        ys = np.where(mask.any(axis=1))[0]
        if len(xs) and len(ys):
            boxes[i] = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    return torch.from_numpy(boxes)


class RandomCrop:
    """Crop a random window of ``crop_size``.

    Args:
        crop_size: ``(w, h)`` in pixels for ``absolute``; ``(min, max)`` side lengths for
            ``absolute_range``; ``(w_frac, h_frac)`` for ``relative``; and, as in mmdet,
            ``(h_frac, w_frac)`` lower bounds for ``relative_range``.
        crop_type: one of :data:`CROP_TYPES`.
        allow_negative_crop: keep a crop that contains no box (otherwise return ``None``,
            so the dataset draws another item).
        recompute_bbox: recompute boxes from the cropped masks.
        bbox_clip_border: clip boxes to the crop.
    """

    def __init__(
        self,
        *,
        crop_size: Sequence[float],
        crop_type: str = "absolute",
        allow_negative_crop: bool = False,
        recompute_bbox: bool = False,
        bbox_clip_border: bool = True,
    ) -> None:
        if crop_type not in CROP_TYPES:
            raise ValueError(f"crop_type must be one of {CROP_TYPES}, got {crop_type!r}")
        if crop_type in ("absolute", "absolute_range"):
            if not (crop_size[0] > 0 and crop_size[1] > 0):
                raise ValueError(f"crop_size must be positive, got {crop_size}")
            if not all(isinstance(v, int) for v in crop_size):
                raise TypeError(f"crop_size must be ints for {crop_type!r}, got {crop_size}")
            if crop_type == "absolute_range" and crop_size[0] > crop_size[1]:
                raise ValueError(f"absolute_range crop_size must be (min, max), got {crop_size}")
        elif not (0 < crop_size[0] <= 1 and 0 < crop_size[1] <= 1):
            raise ValueError(f"relative crop_size must be in (0, 1], got {crop_size}")
        self.crop_size = tuple(crop_size)
        self.crop_type = crop_type
        self.allow_negative_crop = allow_negative_crop
        self.recompute_bbox = recompute_bbox
        self.bbox_clip_border = bbox_clip_border

    def _crop_size(self, h: int, w: int) -> tuple[int, int]:
        size = self.crop_size
        if self.crop_type == "absolute":
            return min(size[1], h), min(size[0], w)
        if self.crop_type == "absolute_range":
            crop_h = np.random.randint(min(h, size[0]), min(h, size[1]) + 1)
            crop_w = np.random.randint(min(w, size[0]), min(w, size[1]) + 1)
            return crop_h, crop_w
        if self.crop_type == "relative":
            crop_w, crop_h = size
            return int(h * crop_h + 0.5), int(w * crop_w + 0.5)
        fractions = np.asarray(size, dtype=np.float32)
        crop_h, crop_w = fractions + np.random.rand(2) * (1 - fractions)
        return int(h * crop_h + 0.5), int(w * crop_w + 0.5)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any] | None:
        """Crop ``results`` in place; ``None`` when no box survives and that is not allowed."""
        img = results["img"]
        crop_h, crop_w = self._crop_size(*img.shape[:2])
        margin_h = max(img.shape[0] - crop_h, 0)
        margin_w = max(img.shape[1] - crop_w, 0)
        offset_h = np.random.randint(0, margin_h + 1)
        offset_w = np.random.randint(0, margin_w + 1)
        y1, y2 = offset_h, offset_h + crop_h
        x1, x2 = offset_w, offset_w + crop_w
        translation = np.array([[1, 0, -offset_w], [0, 1, -offset_h], [0, 0, 1]], dtype=np.float32)
        compose_homography(results, translation)
        img = img[y1:y2, x1:x2, ...]
        results["img"] = img
        results["img_shape"] = img.shape[:2]
        boxes = results.get("gt_bboxes")
        if boxes is None:
            return results
        offset = torch.tensor([offset_w, offset_h], dtype=boxes.dtype).repeat(2)
        boxes = boxes - offset
        if self.bbox_clip_border:
            clip_boxes_(boxes, img.shape[:2])
        valid = boxes_inside(boxes, img.shape[:2]).numpy()
        if not valid.any() and not self.allow_negative_crop:
            return None
        results["gt_bboxes"] = boxes[torch.from_numpy(valid)]
        for key in ("gt_ignore_flags", "gt_bboxes_labels"):
            if results.get(key) is not None:
                results[key] = results[key][valid]
        masks = results.get("gt_masks")
        if is_mask_structure(masks):  # mmdet: select the kept instances, then crop
            kept = masks[valid.nonzero()[0].tolist()]
            results["gt_masks"] = kept.crop(np.asarray([x1, y1, x2, y2]))
            if self.recompute_bbox:
                results["gt_bboxes"] = mask_structure_boxes(results["gt_masks"])
        elif masks is not None:
            masks = masks[valid.nonzero()[0]]
            cx1, cx2 = np.clip([x1, x2], 0, masks.shape[2])
            cy1, cy2 = np.clip([y1, y2], 0, masks.shape[1])
            mask_w, mask_h = max(cx2 - cx1, 1), max(cy2 - cy1, 1)
            results["gt_masks"] = np.ascontiguousarray(masks[:, cy1 : cy1 + mask_h, cx1 : cx1 + mask_w])
            if self.recompute_bbox:
                results["gt_bboxes"] = masks_to_boxes(results["gt_masks"])
        return results

    def __repr__(self) -> str:
        return f"RandomCrop(crop_size={self.crop_size}, crop_type={self.crop_type!r})"
