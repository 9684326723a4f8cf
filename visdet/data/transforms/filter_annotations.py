"""``FilterAnnotations``: drop instances whose box is too small or whose mask is too small.

mmdet 3.3's rule: keep a box when ``width > min_w and height > min_h`` (strict), and/or a
mask when its area ``>= min_gt_mask_area``. ``keep_empty=True`` (the default) means, as in
mmdet, that an item left with no instance is *rejected* (``None``, so the dataset draws
another one); with ``keep_empty=False`` it goes on with no instance left.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from visdet.data.transforms.image_geometry import is_mask_structure

FILTERED_KEYS = ("gt_bboxes", "gt_bboxes_labels", "gt_masks", "gt_ignore_flags")


def _mask_areas(masks: Any) -> np.ndarray:
    if is_mask_structure(masks):
        return masks.areas
    return np.asarray(masks).sum((1, 2))


class FilterAnnotations:
    """Filter instances by box size and/or mask area.

    Args:
        min_gt_bbox_wh: ``(min_w, min_h)``; a box must be strictly larger in both.
        min_gt_mask_area: a mask must have at least this many foreground pixels.
        by_box: filter by box size.
        by_mask: filter by mask area (needs ``gt_masks``).
        keep_empty: reject (``None``) an item where nothing is kept.
    """

    def __init__(
        self,
        *,
        min_gt_bbox_wh: Sequence[float] = (1, 1),
        min_gt_mask_area: int = 1,
        by_box: bool = True,
        by_mask: bool = False,
        keep_empty: bool = True,
    ) -> None:
        if not (by_box or by_mask):
            raise ValueError("FilterAnnotations needs by_box or by_mask (or both)")
        if isinstance(min_gt_bbox_wh, str) or not isinstance(min_gt_bbox_wh, Sequence) or len(min_gt_bbox_wh) != 2:
            raise TypeError(f"FilterAnnotations min_gt_bbox_wh must be (min_w, min_h), got {min_gt_bbox_wh!r}")
        self.min_gt_bbox_wh = tuple(min_gt_bbox_wh)
        self.min_gt_mask_area = min_gt_mask_area
        self.by_box = by_box
        self.by_mask = by_mask
        self.keep_empty = keep_empty

    def __call__(self, results: dict[str, Any]) -> dict[str, Any] | None:
        """Filter ``results`` in place; ``None`` when nothing is kept and ``keep_empty``."""
        boxes = results.get("gt_bboxes")
        if boxes is None:
            raise KeyError(f"FilterAnnotations needs results['gt_bboxes'] (has {sorted(results)})")
        boxes = torch.as_tensor(boxes)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"FilterAnnotations needs gt_bboxes of shape [N, 4], got {tuple(boxes.shape)}")
        if len(boxes) == 0:
            return results
        keep = np.ones(len(boxes), dtype=bool)
        if self.by_box:
            widths, heights = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
            keep &= ((widths > self.min_gt_bbox_wh[0]) & (heights > self.min_gt_bbox_wh[1])).numpy()
        if self.by_mask:
            if results.get("gt_masks") is None:
                raise KeyError("FilterAnnotations(by_mask=True) needs results['gt_masks']")
            keep &= _mask_areas(results["gt_masks"]) >= self.min_gt_mask_area
        if not keep.any() and self.keep_empty:
            return None
        for key in FILTERED_KEYS:
            value = results.get(key)
            if value is None:
                continue
            results[key] = value[torch.from_numpy(keep)] if isinstance(value, torch.Tensor) else value[keep]
        return results

    def __repr__(self) -> str:
        return (
            f"FilterAnnotations(min_gt_bbox_wh={self.min_gt_bbox_wh}, min_gt_mask_area={self.min_gt_mask_area}, "
            f"by_box={self.by_box}, by_mask={self.by_mask}, keep_empty={self.keep_empty})"
        )
