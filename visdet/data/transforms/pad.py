"""``Pad``: pad the image (and masks) at the bottom and right.

Sets ``pad_shape`` (the padded image's full shape), ``pad_fixed_size``,
``pad_size_divisor`` and ``img_shape`` (the padded ``(H, W)``, as mmcv does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from visdet.data.transforms.image_geometry import BORDER_MODES, impad, is_mask_structure


class Pad:
    """Pad to a fixed ``size``, to a multiple of ``size_divisor``, or to a square.

    Args:
        size: fixed ``(w, h)`` to pad to.
        size_divisor: pad height and width up to multiples of this.
        pad_to_square: pad to ``max(h, w)`` on both sides (then ``size_divisor`` applies
            on top when given).
        pad_val: a number for the image, or a dict with ``img``, ``seg`` and ``masks``
            entries (defaults 0, 255 and 0).
        padding_mode: ``constant|edge|reflect|symmetric``.
    """

    def __init__(
        self,
        *,
        size: Sequence[int] | None = None,
        size_divisor: int | None = None,
        pad_to_square: bool = False,
        pad_val: float | Mapping[str, Any] | None = None,
        padding_mode: str = "constant",
    ) -> None:
        if pad_val is None:
            pad_val = {"img": 0, "seg": 255}
        elif not isinstance(pad_val, Mapping):
            pad_val = {"img": pad_val, "seg": 255}
        if pad_to_square:
            if size is not None:
                raise ValueError("Pad: size must be None with pad_to_square=True")
        elif (size is None) == (size_divisor is None):
            raise ValueError("Pad needs exactly one of `size` and `size_divisor`")
        if padding_mode not in BORDER_MODES:
            raise ValueError(f"padding_mode must be one of {sorted(BORDER_MODES)}, got {padding_mode!r}")
        self.size = tuple(size) if size is not None else None
        self.size_divisor = size_divisor
        self.pad_to_square = pad_to_square
        self.pad_val = dict(pad_val)
        self.padding_mode = padding_mode

    def _target_shape(self, img: np.ndarray) -> tuple[int, int]:
        shape = None
        if self.pad_to_square:
            longest = max(img.shape[:2])
            shape = (longest, longest)
        if self.size_divisor is not None:
            if shape is None:
                shape = (img.shape[0], img.shape[1])
            d = self.size_divisor
            shape = (int(np.ceil(shape[0] / d)) * d, int(np.ceil(shape[1] / d)) * d)
        elif self.size is not None:
            shape = (self.size[1], self.size[0])
        return shape

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Pad ``results`` in place and return it."""
        img = results["img"]
        pad_val = self.pad_val.get("img", 0)
        if isinstance(pad_val, int) and img.ndim == 3:
            # cv2 fills only the first channel with a scalar; mmcv repeats it per channel
            pad_val = tuple(pad_val for _ in range(img.shape[2]))
        padded = impad(img, shape=self._target_shape(img), pad_val=pad_val, padding_mode=self.padding_mode)
        results["img"] = padded
        results["pad_shape"] = padded.shape
        results["pad_fixed_size"] = self.size
        results["pad_size_divisor"] = self.size_divisor
        results["img_shape"] = padded.shape[:2]
        masks = results.get("gt_masks")
        if masks is not None:
            out_shape = padded.shape[:2]
            mask_val = self.pad_val.get("masks", 0)
            if is_mask_structure(masks):
                results["gt_masks"] = masks.pad(out_shape, pad_val=mask_val)
            elif len(masks) == 0:
                results["gt_masks"] = np.empty((0, *out_shape), dtype=np.uint8)
            else:
                results["gt_masks"] = np.stack([impad(m, shape=out_shape, pad_val=mask_val) for m in masks])
        return results

    def __repr__(self) -> str:
        return (
            f"Pad(size={self.size}, size_divisor={self.size_divisor}, "
            f"pad_to_square={self.pad_to_square}, pad_val={self.pad_val})"
        )
