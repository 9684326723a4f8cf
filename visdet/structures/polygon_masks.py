"""``PolygonMasks``: N instance masks as COCO polygons (mmdet 3.3 semantics).

Shape: a list of N instances, each a list of polygons, each a flat ``np.ndarray``
``[x0, y0, x1, y1, ...]`` in absolute pixels of a ``height x width`` image. Geometry
moves the vertices (no rasterisation until ``to_ndarray``/``to_bitmap``, which use
pycocotools as COCO does). Every operation returns a new object.

Same operations, argument names and results as mmdet's ``PolygonMasks``. ``crop``
intersects with the crop box through shapely (an optional dependency, imported when
``crop`` is first called), as mmdet does; ``expand`` is not defined for polygons (mmdet
raises ``NotImplementedError`` too).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from pycocotools import mask as mask_utils
from torch import Tensor

from visdet.ops.image_geometry import FLIP_DIRECTIONS, TRANSLATE_DIRECTIONS, rescale_size
from visdet.structures.bitmap_masks import BitmapMasks, _check_box

# mmdet's crop_and_resize divides by max(box side, 0.1) "to avoid too large scale"
MIN_BOX_SIDE_FOR_SCALE = 0.1
# what mmdet puts in place of an instance that a crop removes entirely (keeps N aligned with the boxes)
EMPTY_POLYGON = (0, 0, 0, 0, 0, 0)


def polygon_to_bitmap(polygons: Sequence[np.ndarray], height: int, width: int) -> np.ndarray:
    """Rasterise one instance's polygons (merged) with pycocotools: ``bool[H, W]``."""
    rles = mask_utils.frPyObjects(list(polygons), height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


def _polygon_area(x: np.ndarray, y: np.ndarray) -> float:
    """Shoelace area of one polygon ring."""
    return 0.5 * np.abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))


def _map_polygons(masks: list[list[np.ndarray]], fn: Any) -> list[list[np.ndarray]]:
    return [[fn(p.copy()) for p in polygons] for polygons in masks]


class PolygonMasks:
    """Instance masks as polygons.

    Args:
        masks: ``list[list[np.ndarray]]``: instances, their polygons, flat coordinates.
        height: Image height H.
        width: Image width W.
    """

    def __init__(self, masks: list[list[np.ndarray]], height: int, width: int) -> None:
        if not isinstance(masks, list):
            raise TypeError(f"PolygonMasks needs a list of instances, got {type(masks).__name__}")
        for i, polygons in enumerate(masks):
            if not isinstance(polygons, list) or not all(isinstance(p, np.ndarray) for p in polygons):
                raise TypeError(f"PolygonMasks instance {i} must be a list of np.ndarray polygons")
        self.height = int(height)
        self.width = int(width)
        self.masks = masks

    # ------------------------------------------------------------ container
    def __getitem__(self, index: Any) -> PolygonMasks:
        """Instances selected by an int, slice, list, index array or bool array."""
        if isinstance(index, np.ndarray):
            index = np.where(index)[0].tolist() if index.dtype == bool else index.tolist()
        if isinstance(index, torch.Tensor):
            index = torch.nonzero(index).flatten().tolist() if index.dtype == torch.bool else index.tolist()
        if isinstance(index, list):
            masks = [self.masks[i] for i in index]
        elif isinstance(index, (int, np.integer)):
            masks = [self.masks[index]]
        elif isinstance(index, slice):
            masks = self.masks[index]
        else:
            raise TypeError(f"unsupported index of type {type(index).__name__} for PolygonMasks")
        return PolygonMasks(masks, self.height, self.width)

    def __iter__(self) -> Iterator[list[np.ndarray]]:
        return iter(self.masks)

    def __len__(self) -> int:
        return len(self.masks)

    def __repr__(self) -> str:
        return f"PolygonMasks(num_masks={len(self)}, height={self.height}, width={self.width})"

    @classmethod
    def cat(cls, masks: Sequence[PolygonMasks]) -> PolygonMasks:
        """Concatenate several ``PolygonMasks`` (the first one's size is kept)."""
        if not isinstance(masks, Sequence) or isinstance(masks, PolygonMasks):
            raise TypeError(f"PolygonMasks.cat takes a sequence of PolygonMasks, got {type(masks).__name__}")
        if len(masks) == 0:
            raise ValueError("PolygonMasks.cat: masks should not be an empty list")
        if not all(isinstance(m, cls) for m in masks):
            raise TypeError(f"PolygonMasks.cat: every item must be a {cls.__name__}")
        return cls([p for m in masks for p in m.masks], masks[0].height, masks[0].width)

    # ------------------------------------------------------------ geometry
    def rescale(self, scale: float | tuple[int, int], interpolation: str | None = None) -> PolygonMasks:
        """Scale keeping the aspect ratio to the size mmcv's ``rescale_size`` gives."""
        (new_w, new_h), _ = rescale_size((self.width, self.height), scale)
        return self.resize((new_h, new_w))

    def resize(self, out_shape: tuple[int, int], interpolation: str | None = None) -> PolygonMasks:
        """Scale the vertices to an image of ``out_shape = (h, w)``."""
        h, w = int(out_shape[0]), int(out_shape[1])
        h_scale, w_scale = h / self.height, w / self.width

        def scale(p: np.ndarray) -> np.ndarray:
            p[0::2] = p[0::2] * w_scale
            p[1::2] = p[1::2] * h_scale
            return p

        return PolygonMasks(_map_polygons(self.masks, scale), h, w)

    def flip(self, flip_direction: str = "horizontal") -> PolygonMasks:
        """Mirror the vertices: ``x -> W - x`` and/or ``y -> H - y``."""
        if flip_direction not in FLIP_DIRECTIONS:
            raise ValueError(f"flip_direction must be one of {FLIP_DIRECTIONS}, got {flip_direction!r}")

        def mirror(p: np.ndarray) -> np.ndarray:
            if flip_direction in ("horizontal", "diagonal"):
                p[0::2] = self.width - p[0::2]
            if flip_direction in ("vertical", "diagonal"):
                p[1::2] = self.height - p[1::2]
            return p

        return PolygonMasks(_map_polygons(self.masks, mirror), self.height, self.width)

    def pad(self, out_shape: tuple[int, int], pad_val: float = 0) -> PolygonMasks:
        """Only the image size changes (padding is at the bottom and right)."""
        return PolygonMasks(self.masks, int(out_shape[0]), int(out_shape[1]))

    def crop(self, bbox: np.ndarray) -> PolygonMasks:
        """Intersect every polygon with ``bbox`` (integer ``[x1, y1, x2, y2]``, clipped).

        As mmdet: invalid polygons (after shapely's ``buffer(0)``) and pieces that are not
        polygons are dropped; an instance with nothing left becomes the empty polygon
        ``[0, 0, 0, 0, 0, 0]`` so masks stay aligned with boxes; vertices are shifted by
        ``(-x1, -y1)``; the crop is at least 1 x 1.
        """
        try:
            from shapely import geometry
            from shapely.geometry.base import BaseMultipartGeometry
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("PolygonMasks.crop needs shapely (pip install shapely)") from err
        bbox = _check_box(bbox, "crop bbox").copy()
        bbox[0::2] = np.clip(bbox[0::2], 0, self.width)
        bbox[1::2] = np.clip(bbox[1::2], 0, self.height)
        x1, y1, x2, y2 = (int(v) for v in bbox)
        w, h = max(x2 - x1, 1), max(y2 - y1, 1)
        if len(self) == 0:
            return PolygonMasks([], h, w)
        crop_box = geometry.box(x1, y1, x2, y2).buffer(0.0)
        cropped_masks = []
        with np.errstate(invalid="ignore"):
            for polygons in self.masks:
                kept = []
                for p in polygons:
                    shape = geometry.Polygon(p.copy().reshape(-1, 2)).buffer(0.0)
                    if not shape.is_valid:
                        continue
                    cut = shape.intersection(crop_box)
                    if cut.is_empty:
                        continue
                    pieces = cut.geoms if isinstance(cut, BaseMultipartGeometry) else [cut]
                    for piece in pieces:
                        if not isinstance(piece, geometry.Polygon) or not piece.is_valid:
                            continue
                        coords = np.asarray(piece.exterior.coords)[:-1]  # drop the closing vertex
                        coords[:, 0] -= x1
                        coords[:, 1] -= y1
                        kept.append(coords.reshape(-1))
                cropped_masks.append(kept or [np.array(EMPTY_POLYGON)])
        return PolygonMasks(cropped_masks, h, w)

    def expand(self, *args: Any, **kwargs: Any) -> PolygonMasks:
        """Not defined for polygons (as in mmdet)."""
        raise NotImplementedError("PolygonMasks.expand is not implemented (mmdet has none either)")

    def crop_and_resize(
        self,
        bboxes: np.ndarray | Tensor,
        out_shape: tuple[int, int],
        inds: np.ndarray | Tensor,
        device: torch.device | str = "cpu",
        interpolation: str = "bilinear",
        binarize: bool = True,
    ) -> PolygonMasks:
        """Polygon ``inds[i]`` moved into box ``bboxes[i]`` and scaled to ``out_shape``.

        mmdet's arithmetic: shift by the box corner, scale by ``out / max(max(side, 1),
        0.1)``; pycocotools clips when rasterising. ``binarize=False`` is an error
        (polygons are binary).
        """
        out_h, out_w = int(out_shape[0]), int(out_shape[1])
        if len(self) == 0:
            return PolygonMasks([], out_h, out_w)
        if not binarize:
            raise ValueError("Polygons are always binary, setting binarize=False is unsupported")
        boxes = bboxes.cpu().numpy() if isinstance(bboxes, Tensor) else np.asarray(bboxes)
        index = inds.cpu().numpy() if isinstance(inds, Tensor) else np.asarray(inds)
        if len(index) != len(boxes):
            raise ValueError(f"crop_and_resize: {len(boxes)} boxes but {len(index)} inds")
        resized = []
        for box, i in zip(boxes, index):
            x1, y1, x2, y2 = box
            w = np.maximum(x2 - x1, 1)
            h = np.maximum(y2 - y1, 1)
            h_scale = out_h / max(h, MIN_BOX_SIDE_FOR_SCALE)
            w_scale = out_w / max(w, MIN_BOX_SIDE_FOR_SCALE)
            polygons = []
            for p in self.masks[i]:
                p = p.copy()
                p[0::2] = p[0::2] - box[0]
                p[1::2] = p[1::2] - box[1]
                p[0::2] = p[0::2] * w_scale
                p[1::2] = p[1::2] * h_scale
                polygons.append(p)
            resized.append(polygons)
        return PolygonMasks(resized, out_h, out_w)

    def translate(
        self,
        out_shape: tuple[int, int],
        offset: float,
        direction: str = "horizontal",
        border_value: float | None = None,
        interpolation: str | None = None,
    ) -> PolygonMasks:
        """Shift the vertices by ``offset`` and clip them to ``out_shape``."""
        if border_value not in (None, 0):
            raise ValueError(f"PolygonMasks.translate takes no border_value (None or 0), got {border_value!r}")
        if direction not in TRANSLATE_DIRECTIONS:
            raise ValueError(f"translate direction must be one of {TRANSLATE_DIRECTIONS}, got {direction!r}")
        h, w = int(out_shape[0]), int(out_shape[1])

        def shift(p: np.ndarray) -> np.ndarray:
            if direction == "horizontal":
                p[0::2] = np.clip(p[0::2] + offset, 0, w)
            else:
                p[1::2] = np.clip(p[1::2] + offset, 0, h)
            return p

        return PolygonMasks(_map_polygons(self.masks, shift), h, w)

    # ------------------------------------------------------------ conversion
    @property
    def areas(self) -> np.ndarray:
        """``[N]`` polygon areas by the shoelace formula (rings summed, holes not subtracted)."""
        return np.asarray([sum(_polygon_area(p[0::2], p[1::2]) for p in polygons) for polygons in self.masks])

    def to_ndarray(self) -> np.ndarray:
        """Rasterised masks: ``bool[N, H, W]`` (``uint8[0, H, W]`` when empty, as mmdet)."""
        if len(self) == 0:
            return np.empty((0, self.height, self.width), dtype=np.uint8)
        return np.stack([polygon_to_bitmap(polygons, self.height, self.width) for polygons in self.masks])

    def to_bitmap(self) -> BitmapMasks:
        """The rasterised masks as ``BitmapMasks``."""
        return BitmapMasks(self.to_ndarray(), self.height, self.width)

    def to_tensor(self, dtype: torch.dtype, device: torch.device | str) -> Tensor:
        """Rasterised masks as ``Tensor[N, H, W]``."""
        if len(self) == 0:
            return torch.empty((0, self.height, self.width), dtype=dtype, device=device)
        return torch.tensor(self.to_ndarray(), dtype=dtype, device=device)
