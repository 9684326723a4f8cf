"""Schemas of the DETR family's transformer parts: positional encodings and attention.

mmdet's DETR configs give these without a ``type`` (the detector builds the class it
knows); here they are registered under mmdet's class names so a config can also name them.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field

from visdet.build.component import Component, InitConfig, init_field
from visdet.build.registry import registry
from visdet.models.layers import LearnedPositionalEncoding, MultiScaleDeformableAttention, SinePositionalEncoding


@registry("positional_encoding").register
class SinePositionalEncodingConfig(Component):
    """``SinePositionalEncoding``: sine/cosine of the valid-pixel row and column counts."""

    type: Literal["SinePositionalEncoding"]
    num_feats: int = Field(ge=1)
    temperature: int = 10000
    normalize: bool = False
    scale: float = 2 * math.pi
    eps: float = 1e-6
    offset: float = 0.0
    init_cfg: InitConfig = init_field()
    example: ClassVar[dict[str, Any]] = {"type": "SinePositionalEncoding", "num_feats": 4, "normalize": True,
                                         "offset": -0.5, "temperature": 20}  # fmt: skip

    def build(self) -> SinePositionalEncoding:
        """The encoding (no weights)."""
        return SinePositionalEncoding(**self.arguments())


@registry("positional_encoding").register
class LearnedPositionalEncodingConfig(Component):
    """``LearnedPositionalEncoding``: one learned embedding per row and per column."""

    type: Literal["LearnedPositionalEncoding"]
    num_feats: int = Field(ge=1)
    row_num_embed: int = Field(50, ge=1)
    col_num_embed: int = Field(50, ge=1)
    init_cfg: InitConfig = init_field()
    example: ClassVar[dict[str, Any]] = {"type": "LearnedPositionalEncoding", "num_feats": 4, "row_num_embed": 16,
                                         "col_num_embed": 16}  # fmt: skip

    def build(self) -> LearnedPositionalEncoding:
        """The encoding (``init_cfg`` is not passed: the class keeps mmdet's default init)."""
        return LearnedPositionalEncoding(**self.arguments())


@registry("attention").register
class MultiScaleDeformableAttentionConfig(Component):
    """``MultiScaleDeformableAttention`` (mmcv 2.1): Deformable DETR's attention, in PyTorch."""

    type: Literal["MultiScaleDeformableAttention"]
    embed_dims: int = Field(256, ge=1)
    num_heads: int = Field(8, ge=1)
    num_levels: int = Field(4, ge=1)
    num_points: int = Field(4, ge=1)
    im2col_step: int = Field(64, ge=1)
    dropout: float = Field(0.1, ge=0, le=1)
    batch_first: bool = False
    norm_cfg: dict[str, Any] | None = None
    init_cfg: InitConfig = init_field()
    value_proj_ratio: float = Field(1.0, gt=0)
    example: ClassVar[dict[str, Any]] = {"type": "MultiScaleDeformableAttention", "embed_dims": 8, "num_heads": 2,
                                         "num_levels": 2, "num_points": 2, "batch_first": True}  # fmt: skip

    def build(self) -> MultiScaleDeformableAttention:
        """The attention module, initialised as mmcv's."""
        return MultiScaleDeformableAttention(**self.arguments())
