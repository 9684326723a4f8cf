"""``YOLOXHSVRandomAug``: random integer shifts of hue, saturation and value.

mmdet 3.3's draws from numpy's global RNG: three gains ``U(-1, 1) * (hue, sat, value)
deltas``, then three on/off switches ``randint(0, 2)``; the product is truncated to int16.
The image goes to OpenCV's HSV of its dtype (hue in ``[0, 180)`` for uint8), the hue
shift wraps modulo 180, saturation and value are clipped to ``[0, 255]``, and the result
comes back to BGR in the image's dtype.

For a uint8 image the three per-channel shifts are applied as 256-entry lookup tables
(``cv2.LUT``), built with the same int16 arithmetic: the same values as shifting the whole
int16 HSV image, without its two full-size int16 copies.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np


def hsv_tables(gains: np.ndarray) -> list[np.ndarray]:
    """uint8 lookup tables ``[256]`` of the hue, saturation and value shifts by int16 ``gains``.

    Entry v of each is what mmdet's int16 arithmetic gives for channel value v: hue
    ``(v + gain) % 180`` (numpy's modulo, never negative), saturation and value
    ``clip(v + gain, 0, 255)``, cast back to uint8.
    """
    values = np.arange(256, dtype=np.int16)
    hue = (values + gains[0]) % 180
    sat = np.clip(values + gains[1], 0, 255)
    val = np.clip(values + gains[2], 0, 255)
    return [table.astype(np.uint8) for table in (hue, sat, val)]


class YOLOXHSVRandomAug:
    """HSV jitter as in YOLOX.

    Args:
        hue_delta: largest hue shift (OpenCV hue units, 180 per turn).
        saturation_delta: largest saturation shift.
        value_delta: largest value shift.
    """

    def __init__(self, *, hue_delta: int = 5, saturation_delta: int = 30, value_delta: int = 30) -> None:
        self.hue_delta = hue_delta
        self.saturation_delta = saturation_delta
        self.value_delta = value_delta

    def _gains(self) -> np.ndarray:
        # mmdet's order: the three magnitudes, then the three switches
        gains = np.random.uniform(-1, 1, 3) * [self.hue_delta, self.saturation_delta, self.value_delta]
        gains *= np.random.randint(0, 2, 3)
        return gains.astype(np.int16)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Shift ``results['img']`` (``[H, W, 3]`` BGR) in HSV; same dtype out."""
        img = results.get("img")
        if img is None:
            raise KeyError("YOLOXHSVRandomAug needs results['img']")
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"YOLOXHSVRandomAug needs an [H, W, 3] BGR image, got shape {img.shape}")
        gains = self._gains()
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        if hsv.dtype == np.uint8:
            hsv = cv2.merge([cv2.LUT(channel, table) for channel, table in zip(cv2.split(hsv), hsv_tables(gains))])
        else:
            hsv = hsv.astype(np.int16)
            hsv[..., 0] = (hsv[..., 0] + gains[0]) % 180
            hsv[..., 1] = np.clip(hsv[..., 1] + gains[1], 0, 255)
            hsv[..., 2] = np.clip(hsv[..., 2] + gains[2], 0, 255)
            hsv = hsv.astype(img.dtype)
        # mmdet writes into the input array (cv2 ``dst=img``); visdet returns a new one
        results["img"] = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        return results

    def __repr__(self) -> str:
        return (
            f"YOLOXHSVRandomAug(hue_delta={self.hue_delta}, saturation_delta={self.saturation_delta}, "
            f"value_delta={self.value_delta})"
        )
