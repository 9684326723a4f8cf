"""Data-pipeline schemas: one per transform (mmdet's names and keyword arguments).

:func:`visdet.build.build_pipeline` turns a list of transform configs into the callables
that ``CocoDataset`` and ``Compose`` take.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from visdet.build.component import Component, ComponentOf
from visdet.build.registry import registry
from visdet.data.transforms import (
    CachedMixUp,
    CachedMosaic,
    FilterAnnotations,
    LoadAnnotations,
    LoadImageFromFile,
    PackDetInputs,
    Pad,
    PhotoMetricDistortion,
    RandomCrop,
    RandomFlip,
    RandomResize,
    Resize,
    YOLOXHSVRandomAug,
)

Pair = list[int] | int
Number = int | float  # ints stay ints (some transforms tell them apart)
Interpolation = Literal["nearest", "bilinear", "bicubic", "area", "lanczos"]
REMOTE = "remote file backends are not supported (must be null)"
TransformConfig = Annotated[Component, ComponentOf("transform")]


class _Transform(Component):
    """A transform built by calling its class with the fields."""

    builds: ClassVar[Callable[..., Any]]

    def build(self) -> Any:
        """The transform."""
        return type(self).builds(**self.arguments())


@registry("transform").register
class LoadImageFromFileConfig(_Transform):
    """``LoadImageFromFile``: read an image with OpenCV (BGR)."""

    type: Literal["LoadImageFromFile"]
    builds: ClassVar = LoadImageFromFile
    to_float32: bool = False
    color_type: Literal[
        "color", "grayscale", "unchanged", "color_ignore_orientation", "grayscale_ignore_orientation"
    ] = "color"
    ignore_empty: bool = False
    imdecode_backend: Literal["cv2"] = "cv2"
    backend_args: None = Field(None, description=REMOTE)
    example: ClassVar[dict[str, Any]] = {"type": "LoadImageFromFile"}


@registry("transform").register
class LoadAnnotationsConfig(_Transform):
    """``LoadAnnotations``: boxes, labels and (optionally) masks of an item."""

    type: Literal["LoadAnnotations"]
    builds: ClassVar = LoadAnnotations
    with_bbox: bool = True
    with_label: bool = True
    with_mask: bool = False
    with_seg: Literal[False] = Field(False, description="semantic maps are not supported")
    poly2mask: bool = Field(True, description="decode masks to BitmapMasks (True) or keep PolygonMasks (False)")
    box_type: Literal["hbox"] | None = "hbox"
    backend_args: None = Field(None, description=REMOTE)
    example: ClassVar[dict[str, Any]] = {"type": "LoadAnnotations"}


@registry("transform").register
class ResizeConfig(_Transform):
    """``Resize`` to a fixed scale ``(w, h)`` or by a factor."""

    type: Literal["Resize"]
    builds: ClassVar = Resize
    scale: Pair | None = None
    scale_factor: Number | list[Number] | None = None
    keep_ratio: bool = False
    clip_object_border: bool = True
    interpolation: Interpolation = "bilinear"
    backend: Literal["cv2"] = "cv2"
    example: ClassVar[dict[str, Any]] = {"type": "Resize", "scale": [32, 24], "keep_ratio": True}


@registry("transform").register
class RandomResizeConfig(_Transform):
    """``RandomResize``: a scale drawn from a range (or a ratio range) per image."""

    type: Literal["RandomResize"]
    builds: ClassVar = RandomResize
    scale: Pair | list[list[int]]
    ratio_range: list[Number] | None = None
    resize_type: Literal["Resize"] = "Resize"
    keep_ratio: bool = False
    clip_object_border: bool = True
    interpolation: Interpolation = "bilinear"
    backend: Literal["cv2"] = "cv2"
    example: ClassVar[dict[str, Any]] = {"type": "RandomResize", "scale": [[32, 24], [40, 30]], "keep_ratio": True}


@registry("transform").register
class RandomFlipConfig(_Transform):
    """``RandomFlip`` with probability ``prob`` in each ``direction``."""

    type: Literal["RandomFlip"]
    builds: ClassVar = RandomFlip
    prob: Number | list[Number]
    direction: str | list[str] = "horizontal"
    example: ClassVar[dict[str, Any]] = {"type": "RandomFlip", "prob": 0.5}


@registry("transform").register
class PadConfig(_Transform):
    """``Pad`` to a size, a divisor, or a square."""

    type: Literal["Pad"]
    builds: ClassVar = Pad
    size: list[int] | None = None
    size_divisor: int | None = None
    pad_to_square: bool = False
    pad_val: Number | list[Number] | dict[str, Number | list[Number]] | None = None
    padding_mode: Literal["constant", "edge", "reflect", "symmetric"] = "constant"
    example: ClassVar[dict[str, Any]] = {"type": "Pad", "size_divisor": 8}


@registry("transform").register
class RandomCropConfig(_Transform):
    """``RandomCrop`` of ``crop_size``."""

    type: Literal["RandomCrop"]
    builds: ClassVar = RandomCrop
    crop_size: list[int] | list[float]
    crop_type: Literal["absolute", "absolute_range", "relative", "relative_range"] = "absolute"
    allow_negative_crop: bool = False
    recompute_bbox: bool = False
    bbox_clip_border: bool = True
    example: ClassVar[dict[str, Any]] = {"type": "RandomCrop", "crop_size": [16, 16]}


@registry("transform").register
class PhotoMetricDistortionConfig(_Transform):
    """``PhotoMetricDistortion``: random brightness, contrast, saturation and hue."""

    type: Literal["PhotoMetricDistortion"]
    builds: ClassVar = PhotoMetricDistortion
    brightness_delta: int = 32
    contrast_range: list[Number] = [0.5, 1.5]
    saturation_range: list[Number] = [0.5, 1.5]
    hue_delta: int = 18
    example: ClassVar[dict[str, Any]] = {"type": "PhotoMetricDistortion"}


@registry("transform").register
class CachedMosaicConfig(_Transform):
    """``CachedMosaic``: the image and three cached ones tiled around a random center."""

    type: Literal["CachedMosaic"]
    builds: ClassVar = CachedMosaic
    img_scale: list[int] = Field([640, 640], min_length=2, max_length=2, description="(w, h) of one tile")
    center_ratio_range: list[Number] = Field([0.5, 1.5], min_length=2, max_length=2)
    bbox_clip_border: bool = True
    pad_val: Number = 114.0
    prob: float = Field(1.0, ge=0, le=1)
    max_cached_images: int = Field(40, ge=4)
    random_pop: bool = True
    example: ClassVar[dict[str, Any]] = {"type": "CachedMosaic", "img_scale": [32, 32], "max_cached_images": 4}


@registry("transform").register
class CachedMixUpConfig(_Transform):
    """``CachedMixUp``: blend with a cached image, scaled, flipped and cropped at random."""

    type: Literal["CachedMixUp"]
    builds: ClassVar = CachedMixUp
    img_scale: list[int] = Field([640, 640], min_length=2, max_length=2, description="(w, h) of the canvas")
    ratio_range: list[Number] = Field([0.5, 1.5], min_length=2, max_length=2)
    flip_ratio: float = 0.5
    pad_val: Number | list[Number] = 114.0
    max_iters: int = Field(15, ge=1)
    bbox_clip_border: bool = True
    max_cached_images: int = Field(20, ge=2)
    random_pop: bool = True
    prob: float = Field(1.0, ge=0, le=1)
    example: ClassVar[dict[str, Any]] = {"type": "CachedMixUp", "img_scale": [32, 32], "max_cached_images": 2}


@registry("transform").register
class YOLOXHSVRandomAugConfig(_Transform):
    """``YOLOXHSVRandomAug``: random hue, saturation and value shifts."""

    type: Literal["YOLOXHSVRandomAug"]
    builds: ClassVar = YOLOXHSVRandomAug
    hue_delta: Number = 5
    saturation_delta: Number = 30
    value_delta: Number = 30
    example: ClassVar[dict[str, Any]] = {"type": "YOLOXHSVRandomAug"}


@registry("transform").register
class FilterAnnotationsConfig(_Transform):
    """``FilterAnnotations``: drop instances with small boxes or masks."""

    type: Literal["FilterAnnotations"]
    builds: ClassVar = FilterAnnotations
    min_gt_bbox_wh: list[Number] = Field([1, 1], min_length=2, max_length=2)
    min_gt_mask_area: int = 1
    by_box: bool = True
    by_mask: bool = False
    keep_empty: bool = True
    example: ClassVar[dict[str, Any]] = {"type": "FilterAnnotations", "min_gt_bbox_wh": [1, 1]}


@registry("transform").register
class PackDetInputsConfig(_Transform):
    """``PackDetInputs``: the image as a tensor plus a data sample with ``meta_keys``."""

    type: Literal["PackDetInputs"]
    builds: ClassVar = PackDetInputs
    meta_keys: list[str] = ["img_id", "img_path", "ori_shape", "img_shape", "scale_factor", "flip", "flip_direction"]
    example: ClassVar[dict[str, Any]] = {"type": "PackDetInputs"}
