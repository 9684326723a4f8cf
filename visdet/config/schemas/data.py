"""Data schemas: transforms, the COCO dataset, data loaders and the COCO metric."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from visdet.config.schemas.base import Component, Section, register

Pair = list[int] | int


@register
class LoadImageFromFileSchema(Component):
    """``LoadImageFromFile``: read an image with OpenCV (BGR)."""

    type: Literal["LoadImageFromFile"]
    to_float32: bool = False
    color_type: Literal[
        "color", "grayscale", "unchanged", "color_ignore_orientation", "grayscale_ignore_orientation"
    ] = "color"
    ignore_empty: bool = False
    imdecode_backend: Literal["cv2"] = "cv2"
    backend_args: None = None


@register
class LoadAnnotationsSchema(Component):
    """``LoadAnnotations``: boxes, labels and (optionally) masks of an item."""

    type: Literal["LoadAnnotations"]
    with_bbox: bool = True
    with_label: bool = True
    with_mask: bool = False
    with_seg: bool = False
    poly2mask: bool = True
    box_type: Literal["hbox"] | None = "hbox"
    backend_args: None = None


Interpolation = Literal["nearest", "bilinear", "bicubic", "area", "lanczos"]


@register
class ResizeSchema(Component):
    """``Resize`` to a fixed scale ``(w, h)`` or by a factor."""

    type: Literal["Resize"]
    scale: Pair | None = None
    scale_factor: float | list[float] | None = None
    keep_ratio: bool = False
    clip_object_border: bool = True
    interpolation: Interpolation = "bilinear"
    backend: Literal["cv2"] = "cv2"


@register
class RandomResizeSchema(Component):
    """``RandomResize``: a scale drawn from a range (or a ratio range) per image."""

    type: Literal["RandomResize"]
    scale: Pair | list[list[int]]
    ratio_range: list[float] | None = None
    resize_type: Literal["Resize"] = "Resize"
    keep_ratio: bool = False
    clip_object_border: bool = True
    interpolation: Interpolation = "bilinear"
    backend: Literal["cv2"] = "cv2"


@register
class RandomFlipSchema(Component):
    """``RandomFlip`` with probability ``prob`` in each ``direction``."""

    type: Literal["RandomFlip"]
    prob: float | list[float]
    direction: str | list[str] = "horizontal"


@register
class PadSchema(Component):
    """``Pad`` to a size, a divisor, or a square."""

    type: Literal["Pad"]
    size: list[int] | None = None
    size_divisor: int | None = None
    pad_to_square: bool = False
    pad_val: float | dict[str, float] | None = None
    padding_mode: Literal["constant", "edge", "reflect", "symmetric"] = "constant"


@register
class RandomCropSchema(Component):
    """``RandomCrop`` of ``crop_size``."""

    type: Literal["RandomCrop"]
    crop_size: list[float]
    crop_type: Literal["absolute", "absolute_range", "relative", "relative_range"] = "absolute"
    allow_negative_crop: bool = False
    recompute_bbox: bool = False
    bbox_clip_border: bool = True


@register
class PhotoMetricDistortionSchema(Component):
    """``PhotoMetricDistortion``: random brightness, contrast, saturation and hue."""

    type: Literal["PhotoMetricDistortion"]
    brightness_delta: int = 32
    contrast_range: list[float] = [0.5, 1.5]
    saturation_range: list[float] = [0.5, 1.5]
    hue_delta: int = 18


@register
class PackDetInputsSchema(Component):
    """``PackDetInputs``: the image as a tensor plus a data sample with ``meta_keys``."""

    type: Literal["PackDetInputs"]
    meta_keys: list[str] = ["img_id", "img_path", "ori_shape", "img_shape", "scale_factor", "flip", "flip_direction"]


TransformSchema = Annotated[
    LoadImageFromFileSchema
    | LoadAnnotationsSchema
    | ResizeSchema
    | RandomResizeSchema
    | RandomFlipSchema
    | PadSchema
    | RandomCropSchema
    | PhotoMetricDistortionSchema
    | PackDetInputsSchema,
    Field(discriminator="type"),
]


@register
class CocoDatasetSchema(Component):
    """``CocoDataset``: COCO-format annotations and images."""

    type: Literal["CocoDataset"]
    ann_file: str = ""
    metainfo: dict[str, Any] | None = None
    data_root: str = ""
    data_prefix: dict[str, str] | None = None
    filter_cfg: dict[str, Any] | None = None
    indices: int | list[int] | None = None
    pipeline: list[TransformSchema] = []
    test_mode: bool = False
    lazy_init: bool = False
    max_refetch: int = 1000
    serialize_data: bool = True
    backend_args: None = None
    seg_map_suffix: str = ".png"
    proposal_file: None = Field(None, description="precomputed proposals are not supported")


@register
class DefaultSamplerSchema(Component):
    """``DefaultSampler``: each index once per epoch (shuffled or in order)."""

    type: Literal["DefaultSampler", "InfiniteSampler"]
    shuffle: bool = True
    seed: int | None = None
    round_up: bool = True


@register
class AspectRatioBatchSamplerSchema(Component):
    """``AspectRatioBatchSampler``: batches of images with the same orientation."""

    type: Literal["AspectRatioBatchSampler"]
    drop_last: bool = False


class DataLoaderSettings(Section):
    """``train_dataloader`` / ``val_dataloader`` / ``test_dataloader``."""

    batch_size: int = Field(1, ge=1)
    num_workers: int = Field(0, ge=0)
    persistent_workers: bool = False
    drop_last: bool = False
    pin_memory: bool = False
    sampler: DefaultSamplerSchema | None = None
    batch_sampler: AspectRatioBatchSamplerSchema | None = None
    dataset: CocoDatasetSchema


@register
class CocoMetricSchema(Component):
    """``CocoMetric``: COCO box (and mask) AP with pycocotools."""

    type: Literal["CocoMetric"]
    ann_file: str | None = None
    metric: str | list[str] = "bbox"
    classwise: bool = False
    proposal_nums: list[int] = [100, 300, 1000]
    iou_thrs: list[float] | None = None
    metric_items: list[str] | None = None
    format_only: bool = False
    outfile_prefix: str | None = None
    sort_categories: bool = False
    backend_args: None = None
    collect_device: str = "cpu"
    prefix: str | None = None
