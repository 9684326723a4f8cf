"""Data-pipeline schemas: one per transform (mmdet's names and keyword arguments).

:func:`visdet.build.build_pipeline` turns a list of transform configs into the callables
that ``CocoDataset`` and ``Compose`` take.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

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
    RandomChoice,
    RandomChoiceResize,
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
class RandomChoiceResizeConfig(_Transform):
    """``RandomChoiceResize``: one of ``scales`` per image (``np.random.randint``, as mmcv)."""

    type: Literal["RandomChoiceResize"]
    builds: ClassVar = RandomChoiceResize
    scales: list[list[int]] | list[int] = Field(
        min_length=1, description="the candidate (w, h) scales; one (w, h) pair is the only candidate"
    )
    resize_type: Literal["Resize"] = "Resize"
    keep_ratio: bool = False
    clip_object_border: bool = True
    interpolation: Interpolation = "bilinear"
    backend: Literal["cv2"] = "cv2"
    example: ClassVar[dict[str, Any]] = {"type": "RandomChoiceResize", "scales": [[32, 24], [40, 30]],
                                         "keep_ratio": True}  # fmt: skip

    @field_validator("scales")
    @classmethod
    def _pairs(cls, value: list[Any]) -> list[Any]:
        pairs = [value] if all(isinstance(v, int) for v in value) else value
        if any(len(pair) != 2 or min(pair) <= 0 for pair in pairs):
            raise ValueError(
                f"each scale is a (w, h) pair of positive ints, got {value} (mmcv would read a lone int as a factor)"
            )
        return value


@registry("transform").register
class RandomChoiceConfig(Component):
    """``RandomChoice``: one of several sub-pipelines per image (``np.random.choice``, as mmcv).

    Each candidate is a list of transforms (or a single transform); nested ``RandomChoice``
    is allowed.
    """

    type: Literal["RandomChoice"]
    transforms: list[list[TransformConfig]] = Field(min_length=1)
    prob: list[float] | None = Field(None, description="one probability per candidate, summing to 1; None: uniform")
    example: ClassVar[dict[str, Any]] = {
        "type": "RandomChoice",
        "transforms": [[{"type": "RandomFlip", "prob": 1.0}], [{"type": "Resize", "scale": [32, 24]}]],
        "prob": [0.25, 0.75],
    }

    @field_validator("transforms", mode="before")
    @classmethod
    def _single_transforms_are_lists(cls, value: Any) -> Any:
        """A candidate written as one transform (mmcv's ``Compose`` takes either) is a list of one."""
        if isinstance(value, list):
            return [[branch] if isinstance(branch, (dict, Component)) else branch for branch in value]
        return value

    @model_validator(mode="after")
    def _prob_matches(self) -> RandomChoiceConfig:
        if self.prob is not None:
            if len(self.prob) != len(self.transforms):
                raise ValueError(f"prob: {len(self.prob)} probabilities for {len(self.transforms)} candidates")
            if min(self.prob) < 0 or not math.isclose(sum(self.prob), 1.0, rel_tol=0.0, abs_tol=1e-8):
                raise ValueError(f"prob: must be non-negative and sum to 1, got {self.prob}")
        return self

    def build(self) -> RandomChoice:
        """The transform, its candidates built."""
        branches = [[step.build() for step in branch] for branch in self.transforms]
        return RandomChoice(transforms=branches, prob=self.prob)


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
