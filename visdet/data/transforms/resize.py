"""Resize transforms: ``Resize`` (fixed scale or factor), ``RandomResize``, ``RandomChoiceResize``.

Updates ``img``, ``img_shape``, ``scale`` (``(w, h)``), ``scale_factor`` (``(w_scale,
h_scale)`` floats), ``keep_ratio``, ``homography_matrix`` (float32 3x3) and scales
``gt_bboxes`` (``Tensor[N, 4]``) and ``gt_masks`` (``uint8[N, H, W]``, nearest).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from visdet.data.transforms.image_geometry import imrescale, imresize, is_mask_structure, rescale_size, scale_size


def _pair(value: Any, name: str) -> tuple | None:
    if value is None:
        return None
    if isinstance(value, numbers.Number):
        return (value, value)
    if isinstance(value, Sequence) and len(value) == 2:
        return tuple(value)
    raise TypeError(f"Resize {name} must be a number or a pair, got {value!r}")


def compose_homography(results: dict[str, Any], matrix: np.ndarray) -> None:
    """Left-multiply ``results['homography_matrix']`` by ``matrix`` (or set it)."""
    previous = results.get("homography_matrix")
    results["homography_matrix"] = matrix if previous is None else matrix @ previous


def clip_boxes_(boxes: torch.Tensor, img_shape: tuple[int, int]) -> None:
    """Clamp ``Tensor[N, 4]`` xyxy boxes in place to ``[0, w] x [0, h]``."""
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, img_shape[1])
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, img_shape[0])


class Resize:
    """Resize the image and its annotations to ``scale`` or by ``scale_factor``.

    Args:
        scale: target ``(w, h)``, or an int for a square; with ``keep_ratio`` it is the
            ``(long_edge, short_edge)`` bound instead.
        scale_factor: used when ``scale`` is None: the target is the image size times
            this factor (a float or ``(w_factor, h_factor)``), rounded half up.
        keep_ratio: keep the aspect ratio (mmcv ``imrescale``).
        clip_object_border: clip boxes to the resized image.
        interpolation: ``nearest|bilinear|bicubic|area|lanczos`` for the image (masks
            always use nearest).
        backend: only ``"cv2"``.
    """

    def __init__(
        self,
        *,
        scale: int | Sequence[int] | None = None,
        scale_factor: float | Sequence[float] | None = None,
        keep_ratio: bool = False,
        clip_object_border: bool = True,
        interpolation: str = "bilinear",
        backend: str = "cv2",
    ) -> None:
        if scale is None and scale_factor is None:
            raise ValueError("Resize needs `scale` or `scale_factor`")
        if backend != "cv2":
            raise ValueError(f"only backend='cv2' is supported, got {backend!r}")
        self.scale = _pair(scale, "scale")
        self.scale_factor = _pair(scale_factor, "scale_factor")
        self.keep_ratio = keep_ratio
        self.clip_object_border = clip_object_border
        self.interpolation = interpolation

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Resize ``results`` in place and return it."""
        if self.scale:
            results["scale"] = self.scale
        else:
            h, w = results["img"].shape[:2]
            results["scale"] = scale_size((w, h), self.scale_factor)
        self._resize_img(results)
        self._resize_bboxes(results)
        self._resize_masks(results)
        w_scale, h_scale = results["scale_factor"]
        matrix = np.array([[w_scale, 0, 0], [0, h_scale, 0], [0, 0, 1]], dtype=np.float32)
        compose_homography(results, matrix)
        return results

    def _resize_img(self, results: dict[str, Any]) -> None:
        img = results.get("img")
        if img is None:
            return
        h, w = img.shape[:2]
        if self.keep_ratio:
            resized, _ = imrescale(img, results["scale"], self.interpolation)
            new_h, new_w = resized.shape[:2]
            w_scale, h_scale = new_w / w, new_h / h
        else:
            size = results["scale"]
            resized = imresize(img, size, self.interpolation)
            w_scale, h_scale = size[0] / w, size[1] / h
        results["img"] = resized
        results["img_shape"] = resized.shape[:2]
        results["scale_factor"] = (w_scale, h_scale)
        results["keep_ratio"] = self.keep_ratio

    def _resize_bboxes(self, results: dict[str, Any]) -> None:
        boxes = results.get("gt_bboxes")
        if boxes is None:
            return
        factor = torch.tensor(results["scale_factor"], dtype=boxes.dtype).repeat(2)
        boxes = boxes * factor
        if self.clip_object_border:
            clip_boxes_(boxes, results["img_shape"])
        results["gt_bboxes"] = boxes

    def _resize_masks(self, results: dict[str, Any]) -> None:
        masks = results.get("gt_masks")
        if masks is None:
            return
        if is_mask_structure(masks):  # mmdet: rescale to ``scale`` or resize to ``img_shape``
            if self.keep_ratio:
                results["gt_masks"] = masks.rescale(results["scale"])
            else:
                results["gt_masks"] = masks.resize(results["img_shape"])
            return
        if self.keep_ratio:
            if len(masks) == 0:
                (new_w, new_h), _ = rescale_size((masks.shape[2], masks.shape[1]), results["scale"])
                results["gt_masks"] = np.empty((0, new_h, new_w), dtype=np.uint8)
            else:
                results["gt_masks"] = np.stack([imrescale(m, results["scale"], "nearest")[0] for m in masks])
        else:
            out_h, out_w = results["img_shape"]
            if len(masks) == 0:
                results["gt_masks"] = np.empty((0, out_h, out_w), dtype=np.uint8)
            else:
                results["gt_masks"] = np.stack([imresize(m, (out_w, out_h), "nearest") for m in masks])

    def __repr__(self) -> str:
        return (
            f"Resize(scale={self.scale}, scale_factor={self.scale_factor}, "
            f"keep_ratio={self.keep_ratio}, interpolation={self.interpolation!r})"
        )


class RandomResize:
    """Resize to a random scale drawn with numpy's global RNG (the same draws as mmcv).

    Args:
        scale: ``(w, h)`` with ``ratio_range``: the target is ``int(w * r), int(h * r)``
            with ``r ~ U(ratio_range)``; or two ``(w, h)`` tuples: each edge drawn with
            ``np.random.randint`` between the two tuples' values (inclusive).
        ratio_range: ``(min_ratio, max_ratio)``.
        resize_type: only ``"Resize"``.
        **resize_kwargs: keyword arguments of :class:`Resize` (``keep_ratio``, ...).
    """

    def __init__(
        self,
        *,
        scale: Sequence[int] | Sequence[Sequence[int]],
        ratio_range: tuple[float, float] | None = None,
        resize_type: str = "Resize",
        **resize_kwargs: Any,
    ) -> None:
        if resize_type != "Resize":
            raise ValueError(f"only resize_type='Resize' is supported, got {resize_type!r}")
        self.scale = scale
        self.ratio_range = ratio_range
        self.resize = Resize(scale=0, **resize_kwargs)

    def _random_scale(self) -> tuple[int, int]:
        scale = self.scale
        if len(scale) == 2 and all(isinstance(v, numbers.Integral) for v in scale):
            if self.ratio_range is None or len(self.ratio_range) != 2:
                raise ValueError("RandomResize with a single scale needs a 2-element ratio_range")
            low, high = self.ratio_range
            ratio = np.random.random_sample() * (high - low) + low
            return int(scale[0] * ratio), int(scale[1] * ratio)
        if len(scale) == 2 and all(isinstance(v, Sequence) and len(v) == 2 for v in scale):
            edges_0 = [scale[0][0], scale[1][0]]
            edges_1 = [scale[0][1], scale[1][1]]
            edge_0 = np.random.randint(min(edges_0), max(edges_0) + 1)
            edge_1 = np.random.randint(min(edges_1), max(edges_1) + 1)
            return (edge_0, edge_1)
        raise ValueError(f"RandomResize scale must be (w, h) or two (w, h) tuples, got {scale!r}")

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Draw a scale, then resize ``results`` with it."""
        results["scale"] = self._random_scale()
        self.resize.scale = results["scale"]
        return self.resize(results)

    def __repr__(self) -> str:
        return f"RandomResize(scale={self.scale}, ratio_range={self.ratio_range}, resize={self.resize})"


class RandomChoiceResize:
    """Resize to one of ``scales``, picked with ``np.random.randint`` (the same draw as mmcv).

    Args:
        scales: The candidate ``(w, h)`` scales (a list of pairs); a single pair is the
            only candidate. With ``keep_ratio`` a scale is the ``(long_edge, short_edge)``
            bound, as for :class:`Resize`. mmcv also takes ints, but its inner ``Resize``
            then gets the int as is and ``imrescale`` reads it as a scale *factor* (an
            800x enlargement) or fails without ``keep_ratio``: visdet refuses ints.
        resize_type: only ``"Resize"``.
        **resize_kwargs: keyword arguments of :class:`Resize` (``keep_ratio``, ...).

    Sets ``scale_idx`` (the index drawn) besides what :class:`Resize` sets.

    Raises:
        ValueError: No scale, or a scale that is not a pair of positive ints.
    """

    def __init__(
        self,
        *,
        scales: Sequence[int] | Sequence[Sequence[int]],
        resize_type: str = "Resize",
        **resize_kwargs: Any,
    ) -> None:
        if resize_type != "Resize":
            raise ValueError(f"only resize_type='Resize' is supported, got {resize_type!r}")
        # mmcv: a list holds the candidates, a tuple is the one scale; configs written as YAML or
        # converted from mmdet hold lists, so a flat pair of ints is the one scale too
        flat_pair = isinstance(scales, Sequence) and len(scales) == 2
        flat_pair = flat_pair and all(isinstance(v, numbers.Integral) for v in scales)
        candidates = list(scales) if isinstance(scales, list) and not flat_pair else [scales]
        if not candidates:
            raise ValueError("RandomChoiceResize needs at least one scale")
        for scale in candidates:
            is_pair = isinstance(scale, Sequence) and len(scale) == 2
            if not (is_pair and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0
                                    for v in scale)):  # fmt: skip
                raise ValueError(
                    f"RandomChoiceResize scales must be (w, h) pairs of positive ints, got {scale!r} "
                    "(mmcv would read an int as a scale factor)"
                )
        self.scales = [tuple(scale) for scale in candidates]
        self.resize = Resize(scale=0, **resize_kwargs)

    def choose(self) -> int:
        """The index of the scale to use (one ``np.random.randint`` on numpy's global RNG, as mmcv)."""
        return int(np.random.randint(len(self.scales)))

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Draw a scale, resize ``results`` to it and record its index as ``scale_idx``."""
        index = self.choose()
        self.resize.scale = self.scales[index]
        results = self.resize(results)
        results["scale_idx"] = index
        return results

    def __repr__(self) -> str:
        return f"RandomChoiceResize(scales={self.scales}, resize={self.resize})"
