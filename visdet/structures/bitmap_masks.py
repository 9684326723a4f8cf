"""``BitmapMasks``: N instance masks as one ``np.ndarray[N, H, W]`` (mmdet 3.3 semantics).

Shapes: N masks of ``height x width`` pixels; boxes ``[x1, y1, x2, y2]`` absolute pixels.
Sizes follow mmcv: ``out_shape`` is ``(h, w)``, a rescale ``scale`` a factor or a
``(long_edge, short_edge)`` bound. Every operation returns a new object and keeps the
mask dtype (uint8 from the loader, bool from thresholds); an empty set keeps its size.

Same operations, argument names and results as mmdet's ``BitmapMasks`` (rescale, resize,
flip, pad, crop, crop_and_resize, expand, translate, areas, to_ndarray, to_tensor, cat),
so the data pipeline and the mask head read the same. ``crop_and_resize`` pools with
:func:`visdet.ops.roi_align_ordered.roi_align_avg_ordered`, bit-exact with mmcv's RoIAlign,
because its result is thresholded at 0.5.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from visdet.ops.image_geometry import FLIP_DIRECTIONS, imflip, impad, imrescale, imresize, imtranslate, rescale_size
from visdet.ops.roi_align_ordered import roi_align_avg_ordered

# mmdet's crop_and_resize: RoIAlign at scale 1, adaptive sampling, aligned, threshold 0.5
BINARIZE_THRESHOLD = 0.5


def _check_box(bbox: Any, name: str) -> np.ndarray:
    if not isinstance(bbox, np.ndarray) or bbox.ndim != 1 or bbox.shape[0] != 4:
        raise ValueError(f"{name} must be an np.ndarray [x1, y1, x2, y2], got {bbox!r}")
    if not np.issubdtype(bbox.dtype, np.integer):
        raise TypeError(f"{name} must hold integer pixel coordinates (it slices the masks), got {bbox.dtype}")
    return bbox


class BitmapMasks:
    """Instance masks as bitmaps.

    Args:
        masks: ``np.ndarray[N, H, W]`` or a list of ``np.ndarray[H, W]`` (any dtype; an
            empty input becomes ``uint8[0, H, W]``).
        height: H.
        width: W.

    Example:
        >>> m = BitmapMasks(np.ones((2, 4, 6), np.uint8), 4, 6)
        >>> m.pad((8, 8)).masks.shape, m.areas.tolist()
        ((2, 8, 8), [24, 24])
    """

    def __init__(self, masks: np.ndarray | Sequence[np.ndarray], height: int, width: int) -> None:
        self.height = int(height)
        self.width = int(width)
        if len(masks) == 0:
            self.masks = np.empty((0, self.height, self.width), dtype=np.uint8)
            return
        if isinstance(masks, np.ndarray):
            if masks.ndim != 3:
                raise ValueError(f"BitmapMasks needs an (N, H, W) array, got shape {masks.shape}")
        elif isinstance(masks, (list, tuple)):
            if not all(isinstance(m, np.ndarray) and m.ndim == 2 for m in masks):
                raise ValueError("BitmapMasks needs a list of (H, W) arrays")
        else:
            raise TypeError(f"BitmapMasks needs an np.ndarray or a list of them, got {type(masks).__name__}")
        stacked = np.stack(masks)
        if stacked.shape[1:] != (self.height, self.width):
            raise ValueError(
                f"BitmapMasks of shape {stacked.shape[1:]} do not match height={self.height}, width={self.width}"
            )
        self.masks = stacked

    # ------------------------------------------------------------ container
    def __getitem__(self, index: Any) -> BitmapMasks:
        """Masks selected by an int, slice, index array or bool array."""
        return BitmapMasks(self.masks[index].reshape(-1, self.height, self.width), self.height, self.width)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.masks)

    def __len__(self) -> int:
        return len(self.masks)

    def __repr__(self) -> str:
        return f"BitmapMasks(num_masks={len(self)}, height={self.height}, width={self.width})"

    @classmethod
    def cat(cls, masks: Sequence[BitmapMasks]) -> BitmapMasks:
        """Concatenate several ``BitmapMasks`` of the same size."""
        if not isinstance(masks, Sequence) or isinstance(masks, BitmapMasks):
            raise TypeError(f"BitmapMasks.cat takes a sequence of BitmapMasks, got {type(masks).__name__}")
        if len(masks) == 0:
            raise ValueError("BitmapMasks.cat: masks should not be an empty list")
        if not all(isinstance(m, cls) for m in masks):
            raise TypeError(f"BitmapMasks.cat: every item must be a {cls.__name__}")
        array = np.concatenate([m.masks for m in masks], axis=0)
        return cls(array, *array.shape[1:])

    # ------------------------------------------------------------ geometry
    def _each(self, fn: Any, empty_shape: tuple[int, int]) -> np.ndarray:
        if len(self) == 0:
            return np.empty((0, *empty_shape), dtype=np.uint8)
        return np.stack([fn(mask) for mask in self.masks])

    def rescale(self, scale: float | tuple[int, int], interpolation: str = "nearest") -> BitmapMasks:
        """Resize keeping the aspect ratio (mmcv's ``imrescale`` of each mask)."""
        (new_w, new_h), _ = rescale_size((self.width, self.height), scale)
        out = self._each(lambda m: imrescale(m, scale, interpolation)[0], (new_h, new_w))
        return BitmapMasks(out, *out.shape[1:])

    def resize(self, out_shape: tuple[int, int], interpolation: str = "nearest") -> BitmapMasks:
        """Resize every mask to ``out_shape = (h, w)``."""
        h, w = int(out_shape[0]), int(out_shape[1])
        return BitmapMasks(self._each(lambda m: imresize(m, (w, h), interpolation), (h, w)), h, w)

    def flip(self, flip_direction: str = "horizontal") -> BitmapMasks:
        """Flip horizontally, vertically or both (``diagonal``)."""
        if flip_direction not in FLIP_DIRECTIONS:
            raise ValueError(f"flip_direction must be one of {FLIP_DIRECTIONS}, got {flip_direction!r}")
        if len(self) == 0:
            return BitmapMasks(self.masks, self.height, self.width)
        return BitmapMasks(np.stack([imflip(m, flip_direction) for m in self.masks]), self.height, self.width)

    def pad(self, out_shape: tuple[int, int], pad_val: float = 0) -> BitmapMasks:
        """Pad at the bottom and right to ``out_shape = (h, w)`` with ``pad_val``."""
        h, w = int(out_shape[0]), int(out_shape[1])
        return BitmapMasks(self._each(lambda m: impad(m, shape=(h, w), pad_val=pad_val), (h, w)), h, w)

    def crop(self, bbox: np.ndarray) -> BitmapMasks:
        """Crop every mask to ``bbox`` (integer ``[x1, y1, x2, y2]``, clipped to the masks).

        As mmdet: the crop is at least 1 x 1 pixel.
        """
        bbox = _check_box(bbox, "crop bbox").copy()
        bbox[0::2] = np.clip(bbox[0::2], 0, self.width)
        bbox[1::2] = np.clip(bbox[1::2], 0, self.height)
        x1, y1, x2, y2 = (int(v) for v in bbox)
        w, h = max(x2 - x1, 1), max(y2 - y1, 1)
        if len(self) == 0:
            return BitmapMasks(np.empty((0, h, w), dtype=np.uint8), h, w)
        return BitmapMasks(self.masks[:, y1 : y1 + h, x1 : x1 + w], h, w)

    def crop_and_resize(
        self,
        bboxes: np.ndarray | Tensor,
        out_shape: tuple[int, int],
        inds: np.ndarray | Tensor,
        device: torch.device | str = "cpu",
        interpolation: str = "bilinear",
        binarize: bool = True,
    ) -> BitmapMasks:
        """Mask ``inds[i]`` pooled over ``bboxes[i]`` into ``out_shape`` (mask targets).

        RoIAlign at scale 1, ``sampling_ratio=0``, ``aligned=True``, in the boxes' dtype
        (the masks are converted to it, as mmdet does); with ``binarize`` the result is
        ``>= 0.5`` (bool), otherwise the pooled fractions.

        Args:
            bboxes: ``[K, 4]`` boxes (array or tensor).
            out_shape: ``(h, w)`` of each result.
            inds: ``[K]`` index of the mask each box crops.
            device: Where the pooling runs.
            interpolation: Unused (mmdet's signature; pooling is always bilinear).
            binarize: Threshold the pooled values at 0.5.

        Returns:
            K masks of ``out_shape``.
        """
        h, w = int(out_shape[0]), int(out_shape[1])
        if len(self) == 0:
            return BitmapMasks(np.empty((0, h, w), dtype=np.uint8), h, w)
        boxes = torch.from_numpy(bboxes).to(device) if isinstance(bboxes, np.ndarray) else bboxes.to(device)
        index = torch.from_numpy(inds).to(device) if isinstance(inds, np.ndarray) else inds.to(device)
        if boxes.dim() != 2 or boxes.shape[1] != 4 or index.shape != (boxes.shape[0],):
            raise ValueError(
                f"crop_and_resize needs bboxes [K, 4] and inds [K], got {tuple(boxes.shape)} and {tuple(index.shape)}"
            )
        if boxes.shape[0] == 0:
            return BitmapMasks([], h, w)
        if bool((index < 0).any()) or bool((index >= len(self)).any()):
            raise IndexError(f"crop_and_resize: inds must lie in [0, {len(self)}), got {index.tolist()}")
        # each RoI reads its own mask: mmdet stacks masks[inds] and numbers the RoIs 0..K-1;
        # pointing the RoIs' image index at inds reads the same pixels without the copy
        rois = torch.cat([index.to(boxes.dtype)[:, None], boxes], dim=1)
        gt = torch.from_numpy(self.masks).to(device=device, dtype=boxes.dtype)[:, None]
        pooled = roi_align_avg_ordered(gt, rois, (h, w), 1.0, 0, True).squeeze(1)
        values = (pooled >= BINARIZE_THRESHOLD) if binarize else pooled
        return BitmapMasks(values.cpu().numpy(), h, w)

    def expand(self, expanded_h: int, expanded_w: int, top: int, left: int) -> BitmapMasks:
        """Place the masks at ``(top, left)`` of a zero canvas ``expanded_h x expanded_w`` (uint8, as mmdet)."""
        out = np.zeros((len(self), expanded_h, expanded_w), dtype=np.uint8)
        out[:, top : top + self.height, left : left + self.width] = self.masks
        return BitmapMasks(out, expanded_h, expanded_w)

    def translate(
        self,
        out_shape: tuple[int, int],
        offset: float,
        direction: str = "horizontal",
        border_value: float = 0,
        interpolation: str = "bilinear",
    ) -> BitmapMasks:
        """Shift by ``offset`` pixels into a canvas of ``out_shape``.

        mmdet's order: the masks are first cut or zero-extended to ``out_shape``, then shifted.
        """
        h, w = int(out_shape[0]), int(out_shape[1])
        if len(self) == 0:
            return BitmapMasks(np.empty((0, h, w), dtype=np.uint8), h, w)
        masks = self.masks
        if masks.shape[-2:] != (h, w):
            canvas = np.zeros((len(masks), h, w), dtype=masks.dtype)
            min_h, min_w = min(h, masks.shape[1]), min(w, masks.shape[2])
            canvas[:, :min_h, :min_w] = masks[:, :min_h, :min_w]
            masks = canvas
        moved = imtranslate(masks.transpose((1, 2, 0)), offset, direction, border_value, interpolation)
        if moved.ndim == 2:
            moved = moved[:, :, None]
        return BitmapMasks(moved.transpose((2, 0, 1)).astype(self.masks.dtype), h, w)

    # ------------------------------------------------------------ conversion
    @property
    def areas(self) -> np.ndarray:
        """``[N]`` number of foreground pixels of each mask."""
        return self.masks.sum((1, 2))

    def to_ndarray(self) -> np.ndarray:
        """The ``[N, H, W]`` array itself."""
        return self.masks

    def to_tensor(self, dtype: torch.dtype, device: torch.device | str) -> Tensor:
        """A ``Tensor[N, H, W]`` copy of the masks."""
        return torch.tensor(self.masks, dtype=dtype, device=device)
