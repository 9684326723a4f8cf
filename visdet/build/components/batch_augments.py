"""Batch-augmentation schemas: the entries of ``data_preprocessor.batch_augments`` (visdet's own types).

mmdet's batch augments (``BatchSyncRandomResize``, ``BatchFixedSizePad``) serve its
multi-scale YOLO-style recipes; these are visdet's device augmentations (see
:mod:`visdet.data.batch_augments`): flip, random resized crop and Kornia's colour jitter.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field
from torch import nn

from visdet.build.component import Component
from visdet.build.registry import registry
from visdet.data.batch_augments import BatchColorJitter, BatchRandomFlip, BatchRandomResizedCrop

Range = float | list[float]


@registry("batch_augment").register
class BatchRandomFlipConfig(Component):
    """``BatchRandomFlip``: horizontal flip of each image inside its ``img_shape``."""

    type: Literal["BatchRandomFlip"]
    prob: float = Field(0.5, ge=0, le=1)
    example: ClassVar[dict[str, Any]] = {"type": "BatchRandomFlip", "prob": 0.5}

    def build(self) -> nn.Module:
        """The augmentation."""
        return BatchRandomFlip(**self.arguments())


@registry("batch_augment").register
class BatchRandomResizedCropConfig(Component):
    """``BatchRandomResizedCrop``: crop a random window and resize it back (scale jitter)."""

    type: Literal["BatchRandomResizedCrop"]
    scale: list[float] = Field([0.5, 1.0], min_length=2, max_length=2, description="area fraction (min, max)")
    ratio: list[float] = Field([0.75, 4 / 3], min_length=2, max_length=2, description="aspect w/h (min, max)")
    prob: float = Field(1.0, ge=0, le=1)
    example: ClassVar[dict[str, Any]] = {"type": "BatchRandomResizedCrop", "scale": [0.5, 1.0]}

    def build(self) -> nn.Module:
        """The augmentation."""
        return BatchRandomResizedCrop(**self.arguments())


@registry("batch_augment").register
class BatchColorJitterConfig(Component):
    """``BatchColorJitter``: Kornia's ColorJitter (needs ``visdet[augment]``)."""

    type: Literal["BatchColorJitter"]
    brightness: Range = 0.0
    contrast: Range = 0.0
    saturation: Range = 0.0
    hue: Range = 0.0
    prob: float = Field(1.0, ge=0, le=1)
    example: ClassVar[dict[str, Any]] = {"type": "BatchColorJitter", "brightness": 0.2}

    def build(self) -> nn.Module:
        """The augmentation."""
        return BatchColorJitter(**self.arguments())
