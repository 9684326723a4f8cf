"""``RandomFlip``: flip the image, boxes and masks horizontally, vertically or both.

The direction is drawn with ``np.random.choice`` over ``directions + [None]`` (the same
single draw as mmcv), so a seeded numpy RNG picks the same flips as the reference.
Sets ``flip`` (bool), ``flip_direction`` (str or None) and composes ``homography_matrix``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from visdet.data.transforms.image_geometry import FLIP_DIRECTIONS, imflip, is_mask_structure
from visdet.data.transforms.resize import compose_homography


def flip_boxes(boxes: torch.Tensor, img_shape: tuple[int, int], direction: str) -> torch.Tensor:
    """Flip ``Tensor[N, 4]`` xyxy boxes inside an image of shape ``(h, w)``."""
    h, w = img_shape
    flipped = boxes.clone()
    if direction in ("horizontal", "diagonal"):
        flipped[:, 0] = w - boxes[:, 2]
        flipped[:, 2] = w - boxes[:, 0]
    if direction in ("vertical", "diagonal"):
        flipped[:, 1] = h - boxes[:, 3]
        flipped[:, 3] = h - boxes[:, 1]
    return flipped


def _flip_matrix(direction: str, h: int, w: int) -> np.ndarray:
    sx = -1 if direction in ("horizontal", "diagonal") else 1
    sy = -1 if direction in ("vertical", "diagonal") else 1
    tx = w if sx < 0 else 0
    ty = h if sy < 0 else 0
    return np.array([[sx, 0, tx], [0, sy, ty], [0, 0, 1]], dtype=np.float32)


class RandomFlip:
    """Flip with probability ``prob``.

    Args:
        prob: total flip probability (a float, split evenly over the directions), or one
            probability per direction (a list summing to at most 1).
        direction: one of ``horizontal|vertical|diagonal`` or a list of them.

    When ``results`` already holds ``flip`` (test-time augmentation), the recorded
    ``flip_direction`` is applied instead of drawing one.
    """

    def __init__(self, *, prob: float | Sequence[float], direction: str | Sequence[str] = "horizontal") -> None:
        directions = [direction] if isinstance(direction, str) else list(direction)
        unknown = [d for d in directions if d not in FLIP_DIRECTIONS]
        if unknown:
            raise ValueError(f"flip direction must be in {FLIP_DIRECTIONS}, got {unknown}")
        if isinstance(prob, (list, tuple)):
            if len(prob) != len(directions):
                raise ValueError(f"RandomFlip got {len(prob)} probabilities for {len(directions)} directions")
            if not 0 <= sum(prob) <= 1:
                raise ValueError(f"RandomFlip probabilities must sum to [0, 1], got {list(prob)}")
        elif isinstance(prob, float):
            if not 0 <= prob <= 1:
                raise ValueError(f"RandomFlip prob must be in [0, 1], got {prob}")
        else:
            raise TypeError(f"RandomFlip prob must be a float or a list of floats, got {prob!r}")
        self.prob = prob
        self.direction = direction

    def _choose_direction(self) -> str | None:
        directions: list[str | None]
        directions = [self.direction] if isinstance(self.direction, str) else list(self.direction)
        directions.append(None)
        if isinstance(self.prob, (list, tuple)):
            probs = list(self.prob) + [1 - sum(self.prob)]
        else:
            single = self.prob / (len(directions) - 1)
            probs = [single] * (len(directions) - 1) + [1.0 - self.prob]
        return np.random.choice(directions, p=probs)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Flip ``results`` in place (or not) and return it."""
        if "flip" not in results:
            direction = self._choose_direction()
        else:
            direction = results["flip_direction"]
        if direction is None:
            results["flip"] = False
            results["flip_direction"] = None
            return results
        results["flip"] = True
        results["flip_direction"] = direction
        results["img"] = imflip(results["img"], direction)
        img_shape = results["img"].shape[:2]
        if results.get("gt_bboxes") is not None:
            results["gt_bboxes"] = flip_boxes(results["gt_bboxes"], img_shape, direction)
        masks = results.get("gt_masks")
        if is_mask_structure(masks):
            results["gt_masks"] = masks.flip(direction)
        elif masks is not None and len(masks):
            results["gt_masks"] = np.stack([imflip(m, direction) for m in masks])
        compose_homography(results, _flip_matrix(direction, *img_shape))
        return results

    def __repr__(self) -> str:
        return f"RandomFlip(prob={self.prob}, direction={self.direction!r})"
