"""Shared pieces of the multi-image transforms (``CachedMosaic``, ``CachedMixUp``).

* :class:`ResultCache`: the bounded cache of earlier ``results`` dicts that mmdet's cached
  transforms sample from, with mmdet's draws (see :data:`NEWEST_NEVER_DRAWN`).
* :func:`as_mask_structure` / :func:`like_input`: plain ``uint8[N, H, W]`` masks (visdet's
  array form) go through the same ``BitmapMasks`` operations as mmdet's structures.
* :func:`require_keys`, :func:`check_pair`, :func:`check_img_scale`: clear errors for bad
  input and arguments.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from visdet.data.transforms.image_geometry import is_mask_structure

# mmdet's cached transforms import ``random`` from numpy, so their ``random.randint(0, len - 1)``
# excludes its upper end: a random pop or a drawn index never takes the newest entry (the
# results being transformed). Kept for parity: the same seed draws the same images.
NEWEST_NEVER_DRAWN = True

# what both cached transforms read from every results dict
REQUIRED_KEYS = ("img", "gt_bboxes", "gt_bboxes_labels", "gt_ignore_flags")


class ResultCache:
    """The ``results`` seen so far (deep copies), at most ``max_size`` of them.

    Args:
        max_size: how many to keep.
        random_pop: when full, drop a random entry (numpy's global RNG, never the newest)
            instead of the oldest.
    """

    def __init__(self, *, max_size: int, random_pop: bool) -> None:
        self.max_size = max_size
        self.random_pop = random_pop
        self.items: list[dict[str, Any]] = []

    def push(self, results: dict[str, Any]) -> None:
        """Store a deep copy of ``results``; drop one entry if that overfills the cache."""
        self.items.append(copy.deepcopy(results))
        if len(self.items) > self.max_size:
            index = self.draw_index() if self.random_pop else 0
            self.items.pop(index)

    def draw_index(self) -> int:
        """An index drawn with ``np.random.randint(0, len - 1)``: any entry but the newest (mmdet's draw)."""
        return int(np.random.randint(0, len(self.items) - 1))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.items[index]


def as_mask_structure(masks: Any) -> Any:
    """``BitmapMasks``/``PolygonMasks`` as they are; an ``[N, H, W]`` array wrapped in ``BitmapMasks``."""
    if is_mask_structure(masks):
        return masks
    from visdet.structures import BitmapMasks

    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f"gt_masks must be BitmapMasks, PolygonMasks or an [N, H, W] array, got shape {masks.shape}")
    return BitmapMasks(masks, *masks.shape[1:])


def like_input(masks: Any, original: Any) -> Any:
    """``masks`` (a structure) back in the form of ``original`` (a structure or an array)."""
    return masks if is_mask_structure(original) else masks.masks


def require_keys(results: dict[str, Any], keys: Sequence[str], transform: str) -> None:
    """Raise ``KeyError`` naming the missing ``results`` keys ``transform`` needs."""
    missing = [key for key in keys if results.get(key) is None]
    if missing:
        raise KeyError(f"{transform} needs results{missing} (has {sorted(results)})")


def check_pair(value: Sequence[float], name: str, transform: str) -> tuple:
    """``value`` as a tuple of two; ``TypeError`` naming ``transform`` and ``name`` otherwise."""
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise TypeError(f"{transform} {name} must be a pair, got {value!r}")
    return tuple(value)


def check_img_scale(value: Sequence[int], transform: str) -> tuple[int, int]:
    """``img_scale`` as a ``(w, h)`` tuple of positive ints."""
    scale = check_pair(value, "img_scale", transform)
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in scale):
        raise ValueError(f"{transform} img_scale must be two positive ints (w, h), got {value!r}")
    return scale
