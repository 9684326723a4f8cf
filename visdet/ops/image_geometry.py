"""Image geometry on ``np.ndarray[H, W]`` / ``np.ndarray[H, W, C]`` with OpenCV, as mmcv does it.

Used by the data transforms and by the mask structures (``visdet.structures``), hence its
place in the lowest layer. Pure functions on arrays; no state, no config.

Sizes follow mmcv's convention: a *size* or *scale* tuple is ``(width, height)``, a
*shape* tuple is ``(height, width)``. Rounding is mmcv's ``int(x * s + 0.5)``, kept so
that resized images have exactly the reference's shapes.
"""

from __future__ import annotations

import numbers

import cv2
import numpy as np

INTERPOLATIONS: dict[str, int] = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}

BORDER_MODES: dict[str, int] = {
    "constant": cv2.BORDER_CONSTANT,
    "edge": cv2.BORDER_REPLICATE,
    "reflect": cv2.BORDER_REFLECT_101,
    "symmetric": cv2.BORDER_REFLECT,
}

FLIP_DIRECTIONS = ("horizontal", "vertical", "diagonal")


def scale_size(size: tuple[int, int], scale: float | tuple[float, float]) -> tuple[int, int]:
    """Multiply a ``(w, h)`` size by ``scale`` and round half up: ``int(w * s + 0.5)``."""
    if isinstance(scale, numbers.Number):
        scale = (scale, scale)
    w, h = size
    return int(w * float(scale[0]) + 0.5), int(h * float(scale[1]) + 0.5)


def rescale_size(
    old_size: tuple[int, int], scale: float | tuple[int, int]
) -> tuple[tuple[int, int], float]:
    """The ``(w, h)`` size that keeps the aspect ratio and fits ``scale``, and its factor.

    Args:
        old_size: ``(w, h)`` of the input.
        scale: a positive factor, or a ``(long_edge, short_edge)`` bound in either order: the
            factor is the largest that keeps the long side <= max(scale) and the short side
            <= min(scale).

    Returns:
        ``((new_w, new_h), factor)``.
    """
    w, h = old_size
    if isinstance(scale, numbers.Number):
        if scale <= 0:
            raise ValueError(f"rescale factor must be positive, got {scale}")
        factor = float(scale)
    elif isinstance(scale, (tuple, list)) and len(scale) == 2:
        long_edge, short_edge = max(scale), min(scale)
        factor = min(long_edge / max(h, w), short_edge / min(h, w))
    else:
        raise TypeError(f"scale must be a number or a (w, h) pair, got {scale!r}")
    return scale_size((w, h), factor), factor


def imresize(img: np.ndarray, size: tuple[int, int], interpolation: str = "bilinear") -> np.ndarray:
    """Resize ``img`` to ``size = (w, h)`` with ``cv2.resize``."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {sorted(INTERPOLATIONS)}, got {interpolation!r}")
    return cv2.resize(img, (int(size[0]), int(size[1])), interpolation=INTERPOLATIONS[interpolation])


def imrescale(
    img: np.ndarray, scale: float | tuple[int, int], interpolation: str = "bilinear"
) -> tuple[np.ndarray, float]:
    """Resize keeping the aspect ratio (see :func:`rescale_size`); returns ``(img, factor)``."""
    h, w = img.shape[:2]
    new_size, factor = rescale_size((w, h), scale)
    return imresize(img, new_size, interpolation), factor


def imflip(img: np.ndarray, direction: str = "horizontal") -> np.ndarray:
    """Flip the first two axes: horizontal (columns), vertical (rows) or diagonal (both)."""
    if direction == "horizontal":
        return np.flip(img, axis=1)
    if direction == "vertical":
        return np.flip(img, axis=0)
    if direction == "diagonal":
        return np.flip(img, axis=(0, 1))
    raise ValueError(f"flip direction must be one of {FLIP_DIRECTIONS}, got {direction!r}")


def impad(
    img: np.ndarray,
    *,
    shape: tuple[int, int],
    pad_val: float | tuple[float, ...] = 0,
    padding_mode: str = "constant",
) -> np.ndarray:
    """Pad ``img`` at the bottom and right up to ``shape = (h, w)``; never crops."""
    if padding_mode not in BORDER_MODES:
        raise ValueError(f"padding_mode must be one of {sorted(BORDER_MODES)}, got {padding_mode!r}")
    if isinstance(pad_val, (tuple, list)):
        if img.ndim != 3 or len(pad_val) != img.shape[-1]:
            raise ValueError(
                f"pad_val {tuple(pad_val)} must have one value per channel of an image "
                f"with shape {img.shape}"
            )
        pad_val = tuple(pad_val)
    elif not isinstance(pad_val, numbers.Number):
        raise TypeError(f"pad_val must be a number or a tuple, got {type(pad_val).__name__}")
    bottom = max(int(shape[0]) - img.shape[0], 0)
    right = max(int(shape[1]) - img.shape[1], 0)
    return cv2.copyMakeBorder(img, 0, bottom, 0, right, BORDER_MODES[padding_mode], value=pad_val)


TRANSLATE_DIRECTIONS = ("horizontal", "vertical")


def imtranslate(
    img: np.ndarray,
    offset: float,
    direction: str = "horizontal",
    border_value: float | tuple[float, ...] = 0,
    interpolation: str = "bilinear",
) -> np.ndarray:
    """Shift ``img`` by ``offset`` pixels along x (``horizontal``) or y (``vertical``).

    mmcv's ``imtranslate``: ``cv2.warpAffine`` with a float32 translation matrix, the
    output the size of the input, uncovered pixels set to ``border_value`` (only the
    first three channel values reach OpenCV, as in mmcv).
    """
    if direction not in TRANSLATE_DIRECTIONS:
        raise ValueError(f"translate direction must be one of {TRANSLATE_DIRECTIONS}, got {direction!r}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {sorted(INTERPOLATIONS)}, got {interpolation!r}")
    height, width = img.shape[:2]
    channels = 1 if img.ndim == 2 else img.shape[-1]
    if isinstance(border_value, numbers.Number):
        border = (border_value,) * channels
    elif isinstance(border_value, tuple) and len(border_value) == channels:
        border = border_value
    else:
        raise ValueError(f"border_value must be a number or one value per channel ({channels}), got {border_value!r}")
    if direction == "horizontal":
        matrix = np.float32([[1, 0, offset], [0, 1, 0]])
    else:
        matrix = np.float32([[1, 0, 0], [0, 1, offset]])
    return cv2.warpAffine(img, matrix, (width, height), borderValue=border[:3], flags=INTERPOLATIONS[interpolation])
