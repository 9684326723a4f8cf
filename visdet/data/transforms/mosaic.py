"""``CachedMosaic``: four images (this one and three cached ones) tiled around a random center.

mmdet 3.3's ``CachedMosaic``, draw for draw: every random number comes from numpy's global
RNG in mmdet's order (the cache pop when full, the ``prob`` test, three cache indices, then
the center's x and y), so the same seed gives the same mosaic. As in mmdet, the three
tiles are drawn from the cache without its newest entry (the image itself, see
:data:`~visdet.data.transforms.result_cache.NEWEST_NEVER_DRAWN`).

The output canvas is ``(2 * h, 2 * w)`` for ``img_scale = (w, h)``, filled with
``pad_val``; each tile is resized keeping its ratio to fit ``img_scale`` (cv2 bilinear, the
size truncated with ``int``), then cut to its quadrant. Boxes are scaled and shifted the
same way, clipped to the canvas (``bbox_clip_border``), and the ones that no longer
overlap it are dropped, with their labels, ignore flags and masks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from visdet.data.transforms.crop import boxes_inside
from visdet.data.transforms.image_geometry import imresize
from visdet.data.transforms.resize import clip_boxes_
from visdet.data.transforms.result_cache import (
    REQUIRED_KEYS,
    ResultCache,
    as_mask_structure,
    check_img_scale,
    check_pair,
    like_input,
    require_keys,
)
from visdet.structures.boxes import scale_boxes, translate_boxes

CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")


class CachedMosaic:
    """Mosaic of the current image and three drawn from a cache of earlier ones.

    Args:
        img_scale: ``(w, h)`` of one tile; the mosaic is ``(2 * h, 2 * w)``.
        center_ratio_range: the center is ``(int(U(range) * w), int(U(range) * h))``.
        bbox_clip_border: clip boxes to the mosaic.
        pad_val: fill value of the canvas.
        prob: probability of making a mosaic (once the cache holds more than four images).
        max_cached_images: cache size (at least 4).
        random_pop: when the cache is full, drop a random entry instead of the oldest.

    Until the cache holds five images (the current one included) the results pass
    through unchanged, as in mmdet.
    """

    def __init__(
        self,
        *,
        img_scale: Sequence[int] = (640, 640),
        center_ratio_range: Sequence[float] = (0.5, 1.5),
        bbox_clip_border: bool = True,
        pad_val: float = 114.0,
        prob: float = 1.0,
        max_cached_images: int = 40,
        random_pop: bool = True,
    ) -> None:
        self.img_scale = check_img_scale(img_scale, "CachedMosaic")
        self.center_ratio_range = check_pair(center_ratio_range, "center_ratio_range", "CachedMosaic")
        if not 0 <= prob <= 1:
            raise ValueError(f"CachedMosaic prob must be in [0, 1], got {prob}")
        if max_cached_images < 4:
            raise ValueError(f"CachedMosaic max_cached_images must be >= 4, got {max_cached_images}")
        self.bbox_clip_border = bbox_clip_border
        self.pad_val = pad_val
        self.prob = prob
        self.max_cached_images = max_cached_images
        self.random_pop = random_pop
        self.results_cache = ResultCache(max_size=max_cached_images, random_pop=random_pop)

    def _combine(self, corner: str, center: tuple[int, int], tile_wh: tuple[int, int]) -> tuple[tuple, tuple]:
        """``(paste xyxy in the mosaic, crop xyxy in the tile)`` of one corner (mmdet's arithmetic)."""
        cx, cy = center
        w, h = tile_wh
        full_w, full_h = self.img_scale[0] * 2, self.img_scale[1] * 2
        if corner == "top_left":
            x1, y1, x2, y2 = max(cx - w, 0), max(cy - h, 0), cx, cy
            crop = (w - (x2 - x1), h - (y2 - y1), w, h)
        elif corner == "top_right":
            x1, y1, x2, y2 = cx, max(cy - h, 0), min(cx + w, full_w), cy
            crop = (0, h - (y2 - y1), min(w, x2 - x1), h)
        elif corner == "bottom_left":
            x1, y1, x2, y2 = max(cx - w, 0), cy, cx, min(full_h, cy + h)
            crop = (w - (x2 - x1), 0, w, min(y2 - y1, h))
        else:
            x1, y1, x2, y2 = cx, cy, min(cx + w, full_w), min(full_h, cy + h)
            crop = (0, 0, min(w, x2 - x1), min(y2 - y1, h))
        return (x1, y1, x2, y2), crop

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Cache ``results``, then (when warm and drawn) replace it by a mosaic."""
        require_keys(results, REQUIRED_KEYS, "CachedMosaic")
        self.results_cache.push(results)
        if len(self.results_cache) <= 4:
            return results
        if np.random.uniform(0, 1) > self.prob:
            return results
        tiles = [results] + [self.results_cache[self.results_cache.draw_index()] for _ in range(3)]
        img = results["img"]
        scale_w, scale_h = self.img_scale
        canvas_shape = (int(scale_h * 2), int(scale_w * 2)) + tuple(img.shape[2:3])
        mosaic = np.full(canvas_shape, self.pad_val, dtype=img.dtype)
        center = (
            int(np.random.uniform(*self.center_ratio_range) * scale_w),
            int(np.random.uniform(*self.center_ratio_range) * scale_h),
        )
        with_mask = "gt_masks" in results
        # mmdet passes (2 * w, 2 * h) as the masks' (h, w): the same for a square img_scale
        mask_shape = (int(scale_w * 2), int(scale_h * 2))
        boxes, labels, ignore, masks = [], [], [], []
        for corner, tile in zip(CORNERS, tiles):
            tile_img = tile["img"]
            h_i, w_i = tile_img.shape[:2]
            ratio = min(scale_h / h_i, scale_w / w_i)
            tile_img = imresize(tile_img, (int(w_i * ratio), int(h_i * ratio)))
            (px1, py1, px2, py2), (cx1, cy1, cx2, cy2) = self._combine(corner, center, tile_img.shape[1::-1])
            mosaic[py1:py2, px1:px2] = tile_img[cy1:cy2, cx1:cx2]
            pad_w, pad_h = px1 - cx1, py1 - cy1
            boxes.append(translate_boxes(scale_boxes(tile["gt_bboxes"], (ratio, ratio)), (pad_w, pad_h)))
            labels.append(tile["gt_bboxes_labels"])
            ignore.append(tile["gt_ignore_flags"])
            if with_mask:
                if tile.get("gt_masks") is None:
                    raise ValueError("CachedMosaic: these results have gt_masks, a cached one is without gt_masks")
                tile_masks = as_mask_structure(tile["gt_masks"]).rescale(float(ratio))
                tile_masks = tile_masks.translate(out_shape=mask_shape, offset=pad_w, direction="horizontal")
                masks.append(tile_masks.translate(out_shape=mask_shape, offset=pad_h, direction="vertical"))
        all_boxes = torch.cat(boxes, dim=0)
        if self.bbox_clip_border:
            clip_boxes_(all_boxes, mosaic.shape[:2])
        inside = boxes_inside(all_boxes, mosaic.shape[:2]).numpy()
        results["img"] = mosaic
        results["img_shape"] = mosaic.shape[:2]
        results["gt_bboxes"] = all_boxes[torch.from_numpy(inside)]
        results["gt_bboxes_labels"] = np.concatenate(labels, 0)[inside]
        results["gt_ignore_flags"] = np.concatenate(ignore, 0)[inside]
        if with_mask:
            merged = type(masks[0]).cat(masks)[inside]
            results["gt_masks"] = like_input(merged, results["gt_masks"])
        return results

    def __repr__(self) -> str:
        return (
            f"CachedMosaic(img_scale={self.img_scale}, center_ratio_range={self.center_ratio_range}, "
            f"pad_val={self.pad_val}, prob={self.prob}, max_cached_images={self.max_cached_images}, "
            f"random_pop={self.random_pop})"
        )
