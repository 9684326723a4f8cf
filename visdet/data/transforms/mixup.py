"""``CachedMixUp``: blend the image half and half with one drawn from a cache of earlier ones.

mmdet 3.3's ``CachedMixUp``, draw for draw: numpy's global RNG gives the cache pop when
full, the ``prob`` test, up to ``max_iters`` cache indices (until one has boxes; never the
newest entry, the image itself), the scale jitter, the flip, then the crop's y and x offsets
(``randint`` excluding its upper end, as mmdet calls it).

The drawn image is resized keeping its ratio into an ``img_scale`` canvas filled with
``pad_val`` (top-left), the canvas is resized by the jitter, maybe flipped horizontally,
padded to cover the current image and cropped at a random offset to its size; the output
image is ``uint8(0.5 * img + 0.5 * crop)`` (truncated). Its boxes (scaled, clipped, flipped,
shifted, clipped again) and masks join the current ones; boxes outside the image are dropped.

Quirks kept for parity, all mmdet's: the canvas takes numpy's dtype of ``ones * pad_val``
(float64 for a float, int64 for a tuple of ints), which decides how the jitter resize
rounds; the drawn masks are rescaled with ``int(x + 0.5)`` sizes while the image uses
``int(x)``; the flip mirrors the masks in their own width.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from visdet.data.transforms.crop import boxes_inside
from visdet.data.transforms.flip import flip_boxes
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


def _resize_canvas(canvas: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``imresize`` of the canvas; an int64 canvas (a tuple ``pad_val``) goes through float64.

    OpenCV copies a same-size image of any dtype but cannot interpolate int64, so mmdet
    fails there (a tuple ``pad_val`` with a jitter other than 1); visdet resizes in float64.
    """
    if canvas.shape[1::-1] == tuple(size):
        return canvas.copy()
    if canvas.dtype == np.int64:
        canvas = canvas.astype(np.float64)
    return imresize(canvas, size)


class CachedMixUp:
    """MixUp with an image drawn from a cache of earlier results.

    Args:
        img_scale: ``(w, h)`` of the canvas the drawn image is fitted into.
        ratio_range: scale jitter ``U(range)`` of the canvas.
        flip_ratio: the canvas is flipped when ``U(0, 1) > flip_ratio``.
        pad_val: fill value (a number or one per channel).
        max_iters: draws to find a cached image with boxes.
        bbox_clip_border: clip boxes to the canvas and to the image.
        max_cached_images: cache size (at least 2).
        random_pop: when the cache is full, drop a random entry instead of the oldest.
        prob: probability of mixing (once the cache holds two images).
    """

    def __init__(
        self,
        *,
        img_scale: Sequence[int] = (640, 640),
        ratio_range: Sequence[float] = (0.5, 1.5),
        flip_ratio: float = 0.5,
        pad_val: float | Sequence[float] = 114.0,
        max_iters: int = 15,
        bbox_clip_border: bool = True,
        max_cached_images: int = 20,
        random_pop: bool = True,
        prob: float = 1.0,
    ) -> None:
        self.dynamic_scale = check_img_scale(img_scale, "CachedMixUp")
        self.ratio_range = check_pair(ratio_range, "ratio_range", "CachedMixUp")
        if max_cached_images < 2:
            raise ValueError(f"CachedMixUp max_cached_images must be >= 2, got {max_cached_images}")
        if not 0 <= prob <= 1:
            raise ValueError(f"CachedMixUp prob must be in [0, 1], got {prob}")
        if max_iters < 1:
            raise ValueError(f"CachedMixUp max_iters must be >= 1, got {max_iters}")
        self.flip_ratio = flip_ratio
        self.pad_val = tuple(pad_val) if isinstance(pad_val, Sequence) else pad_val
        self.max_iters = max_iters
        self.bbox_clip_border = bbox_clip_border
        self.max_cached_images = max_cached_images
        self.random_pop = random_pop
        self.prob = prob
        self.results_cache = ResultCache(max_size=max_cached_images, random_pop=random_pop)

    def _draw_index(self) -> int:
        index = 0
        for _ in range(self.max_iters):
            index = self.results_cache.draw_index()
            if len(self.results_cache[index]["gt_bboxes"]) != 0:
                break
        return index

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Cache ``results``, then (when warm and drawn) mix it with a cached image."""
        require_keys(results, REQUIRED_KEYS, "CachedMixUp")
        if results["img"].ndim != 3 or results["img"].shape[2] != 3:
            raise ValueError(f"CachedMixUp needs an [H, W, 3] image, got shape {results['img'].shape}")
        self.results_cache.push(results)
        if len(self.results_cache) <= 1:
            return results
        if np.random.uniform(0, 1) > self.prob:
            return results
        drawn = self.results_cache[self._draw_index()]
        if len(drawn["gt_bboxes"]) == 0:
            return results
        with_mask = "gt_masks" in results
        if with_mask and drawn.get("gt_masks") is None:
            raise ValueError("CachedMixUp: these results have gt_masks, the drawn cached one is without gt_masks")
        jitter = np.random.uniform(*self.ratio_range)
        is_flip = np.random.uniform(0, 1) > self.flip_ratio

        drawn_img = drawn["img"]
        scale_w, scale_h = self.dynamic_scale
        canvas = np.ones((scale_h, scale_w, 3), dtype=drawn_img.dtype) * self.pad_val
        ratio = min(scale_h / drawn_img.shape[0], scale_w / drawn_img.shape[1])
        fitted = imresize(drawn_img, (int(drawn_img.shape[1] * ratio), int(drawn_img.shape[0] * ratio)))
        canvas[: fitted.shape[0], : fitted.shape[1]] = fitted
        ratio *= jitter
        canvas = _resize_canvas(canvas, (int(canvas.shape[1] * jitter), int(canvas.shape[0] * jitter)))
        if is_flip:
            canvas = canvas[:, ::-1, :]

        img = results["img"]
        origin_h, origin_w = canvas.shape[:2]
        target_h, target_w = img.shape[:2]
        padded = (np.ones((max(origin_h, target_h), max(origin_w, target_w), 3)) * self.pad_val).astype(np.uint8)
        padded[:origin_h, :origin_w] = canvas
        y_offset = np.random.randint(0, padded.shape[0] - target_h) if padded.shape[0] > target_h else 0
        x_offset = np.random.randint(0, padded.shape[1] - target_w) if padded.shape[1] > target_w else 0
        cropped = padded[y_offset : y_offset + target_h, x_offset : x_offset + target_w]

        boxes = scale_boxes(drawn["gt_bboxes"], (ratio, ratio))
        if with_mask:
            masks = as_mask_structure(drawn["gt_masks"]).rescale(ratio)
        if self.bbox_clip_border:
            clip_boxes_(boxes, (origin_h, origin_w))
        if is_flip:
            boxes = flip_boxes(boxes, (origin_h, origin_w), "horizontal")
            if with_mask:
                masks = masks.flip()
        boxes = translate_boxes(boxes, (-x_offset, -y_offset))
        if with_mask:
            masks = masks.translate(out_shape=(target_h, target_w), offset=-x_offset, direction="horizontal")
            masks = masks.translate(out_shape=(target_h, target_w), offset=-y_offset, direction="vertical")
        if self.bbox_clip_border:
            clip_boxes_(boxes, (target_h, target_w))

        mixed = 0.5 * img.astype(np.float32) + 0.5 * cropped.astype(np.float32)
        all_boxes = torch.cat([results["gt_bboxes"], boxes], dim=0)
        inside = boxes_inside(all_boxes, (target_h, target_w)).numpy()
        labels = np.concatenate((results["gt_bboxes_labels"], drawn["gt_bboxes_labels"]), axis=0)
        ignore = np.concatenate((results["gt_ignore_flags"], drawn["gt_ignore_flags"]), axis=0)
        if with_mask:
            merged = type(masks).cat([as_mask_structure(results["gt_masks"]), masks])[inside]
            results["gt_masks"] = like_input(merged, results["gt_masks"])
        results["img"] = mixed.astype(np.uint8)
        results["img_shape"] = mixed.shape[:2]
        results["gt_bboxes"] = all_boxes[torch.from_numpy(inside)]
        results["gt_bboxes_labels"] = labels[inside]
        results["gt_ignore_flags"] = ignore[inside]
        return results

    def __repr__(self) -> str:
        return (
            f"CachedMixUp(dynamic_scale={self.dynamic_scale}, ratio_range={self.ratio_range}, "
            f"flip_ratio={self.flip_ratio}, pad_val={self.pad_val}, max_iters={self.max_iters}, "
            f"bbox_clip_border={self.bbox_clip_border}, max_cached_images={self.max_cached_images}, "
            f"random_pop={self.random_pop}, prob={self.prob})"
        )
