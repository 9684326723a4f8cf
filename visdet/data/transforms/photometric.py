"""``PhotoMetricDistortion``: random brightness, contrast, saturation, hue and channel swap.

All eleven random values are drawn up front from numpy's global RNG in mmdet's order
(mode, five flags, four magnitudes, a channel permutation), so a seeded numpy RNG gives
the reference's distortion. The image comes out float32 ``[H, W, 3]`` (BGR in, BGR out).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np


class PhotoMetricDistortion:
    """Apply each distortion with probability 0.5, contrast either first or last.

    Args:
        brightness_delta: brightness shift drawn from ``U(-delta, delta)``.
        contrast_range: contrast factor range ``(lower, upper)``.
        saturation_range: saturation factor range ``(lower, upper)``.
        hue_delta: hue shift in degrees drawn from ``U(-delta, delta)``.
    """

    def __init__(
        self,
        *,
        brightness_delta: int = 32,
        contrast_range: Sequence[float] = (0.5, 1.5),
        saturation_range: Sequence[float] = (0.5, 1.5),
        hue_delta: int = 18,
    ) -> None:
        self.brightness_delta = brightness_delta
        self.contrast_lower, self.contrast_upper = contrast_range
        self.saturation_lower, self.saturation_upper = saturation_range
        self.hue_delta = hue_delta

    def _draw(self) -> dict[str, Any]:
        rng = np.random
        # the order of these draws is mmdet's; changing it changes every augmented image
        flags = {name: rng.randint(2) for name in ("mode", "brightness", "contrast", "saturation", "hue", "swap")}
        flags["delta"] = rng.uniform(-self.brightness_delta, self.brightness_delta)
        flags["alpha"] = rng.uniform(self.contrast_lower, self.contrast_upper)
        flags["saturation_value"] = rng.uniform(self.saturation_lower, self.saturation_upper)
        flags["hue_value"] = rng.uniform(-self.hue_delta, self.hue_delta)
        flags["permutation"] = rng.permutation(3)
        return flags

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Distort ``results['img']`` (any dtype; becomes float32)."""
        if "img" not in results:
            raise KeyError("PhotoMetricDistortion needs results['img']")
        img = results["img"].astype(np.float32)
        draw = self._draw()
        if draw["brightness"]:
            img += draw["delta"]
        if draw["mode"] == 1 and draw["contrast"]:
            img *= draw["alpha"]
        img = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        if draw["saturation"]:
            img[..., 1] *= draw["saturation_value"]
            # float32 HSV saturation lives in [0, 1]; mmdet clips only when it was increased
            if draw["saturation_value"] > 1:
                img[..., 1] = img[..., 1].clip(0, 1)
        if draw["hue"]:
            img[..., 0] += draw["hue_value"]
            img[..., 0][img[..., 0] > 360] -= 360
            img[..., 0][img[..., 0] < 0] += 360
        img = cv2.cvtColor(img, cv2.COLOR_HSV2BGR)
        if draw["mode"] == 0 and draw["contrast"]:
            img *= draw["alpha"]
        if draw["swap"]:
            img = img[..., draw["permutation"]]
        results["img"] = img
        return results

    def __repr__(self) -> str:
        return (
            f"PhotoMetricDistortion(brightness_delta={self.brightness_delta}, "
            f"contrast_range={(self.contrast_lower, self.contrast_upper)}, "
            f"saturation_range={(self.saturation_lower, self.saturation_upper)}, "
            f"hue_delta={self.hue_delta})"
        )
