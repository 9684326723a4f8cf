"""Image geometry helpers, re-exported from :mod:`visdet.ops.image_geometry` (their home).

They moved to ``visdet.ops`` so that the mask structures (a lower layer than the data
transforms) share them; this module keeps the transforms' imports working.
"""

from typing import Any

from visdet.ops.image_geometry import (
    BORDER_MODES,
    FLIP_DIRECTIONS,
    INTERPOLATIONS,
    imflip,
    impad,
    imrescale,
    imresize,
    imtranslate,
    rescale_size,
    scale_size,
)

__all__ = [
    "BORDER_MODES",
    "FLIP_DIRECTIONS",
    "INTERPOLATIONS",
    "imflip",
    "is_mask_structure",
    "mask_structure_boxes",
    "impad",
    "imrescale",
    "imresize",
    "imtranslate",
    "rescale_size",
    "scale_size",
]


def is_mask_structure(value: object) -> bool:
    """Whether ``value`` is a ``BitmapMasks``/``PolygonMasks`` (carried by their own methods)."""
    from visdet.structures import BitmapMasks, PolygonMasks

    return isinstance(value, (BitmapMasks, PolygonMasks))


def mask_structure_boxes(masks: object) -> Any:
    """Boxes of a mask structure, mmdet's ``get_bboxes``, as ``Tensor[N, 4]`` float32.

    Bitmaps: tight boxes with exclusive right/bottom (``max + 1``), 0 for an empty mask;
    polygons: min/max of the vertices (mmdet's ``PolygonMasks.get_bboxes``).
    """
    import numpy as np
    import torch

    from visdet.structures import BitmapMasks

    boxes = np.zeros((len(masks), 4), dtype=np.float32)
    if isinstance(masks, BitmapMasks):
        for i, mask in enumerate(masks.masks):
            xs = np.where(mask.any(axis=0))[0]
            ys = np.where(mask.any(axis=1))[0]
            if len(xs) and len(ys):
                boxes[i] = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        return torch.from_numpy(boxes)
    for i, polygons in enumerate(masks.masks):
        xy_min = np.array([masks.width * 2, masks.height * 2], dtype=np.float32)
        xy_max = np.zeros(2, dtype=np.float32)
        for polygon in polygons:
            xy = np.asarray(polygon).reshape(-1, 2).astype(np.float32)
            xy_min = np.minimum(xy_min, xy.min(axis=0))
            xy_max = np.maximum(xy_max, xy.max(axis=0))
        boxes[i, :2] = xy_min
        boxes[i, 2:] = xy_max
    return torch.from_numpy(boxes)
