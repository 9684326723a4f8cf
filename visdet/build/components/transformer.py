"""Schemas of the DETR family's transformer parts: positional encodings, attention, layers.

mmdet's DETR configs give these without a ``type`` (the detector builds the class it
knows); here they are registered under mmdet's class names so a config can also name them.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field

from visdet.build.component import Component, InitConfig, init_field
from visdet.build.registry import registry
from visdet.models.layers import (
    CdnQueryGenerator,
    DeformableDetrTransformerDecoder,
    DeformableDetrTransformerDecoderLayer,
    DeformableDetrTransformerEncoder,
    DeformableDetrTransformerEncoderLayer,
    DinoTransformerDecoder,
    LearnedPositionalEncoding,
    MultiheadAttention,
    MultiScaleDeformableAttention,
    SinePositionalEncoding,
)


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


@registry("attention").register
class MultiheadAttentionConfig(Component):
    """``MultiheadAttention`` (mmcv 2.1): ``torch.nn.MultiheadAttention`` with positions and an identity."""

    type: Literal["MultiheadAttention"]
    embed_dims: int = Field(ge=1)
    num_heads: int = Field(ge=1)
    attn_drop: float = Field(0.0, ge=0, le=1)
    proj_drop: float = Field(0.0, ge=0, le=1)
    dropout_layer: dict[str, Any] | None = {"type": "Dropout", "drop_prob": 0.0}
    init_cfg: InitConfig = init_field()
    batch_first: bool = False
    dropout: float | None = Field(None, ge=0, le=1, description="mmcv's deprecated attn_drop and dropout_layer")
    example: ClassVar[dict[str, Any]] = {"type": "MultiheadAttention", "embed_dims": 8, "num_heads": 2,
                                         "batch_first": True}  # fmt: skip

    def build(self) -> MultiheadAttention:
        """The attention module."""
        arguments = self.arguments()
        if arguments["dropout"] is None:
            del arguments["dropout"]
        return MultiheadAttention(**arguments)


_FFN_DEFAULT = {"embed_dims": 256, "feedforward_channels": 1024, "num_fcs": 2, "ffn_drop": 0.0,
                "act_cfg": {"type": "ReLU", "inplace": True}}  # fmt: skip
_SMALL_FFN = {"embed_dims": 8, "feedforward_channels": 16}
_SMALL_MSDA = {"embed_dims": 8, "num_heads": 2, "num_levels": 2, "num_points": 2}


@registry("transformer_layer").register
class DeformableDetrTransformerEncoderLayerConfig(Component):
    """``DeformableDetrTransformerEncoderLayer``: deformable self-attention, FFN, LayerNorms."""

    type: Literal["DeformableDetrTransformerEncoderLayer"]
    self_attn_cfg: dict[str, Any] = {"embed_dims": 256, "num_heads": 8, "dropout": 0.0}
    ffn_cfg: dict[str, Any] = _FFN_DEFAULT
    norm_cfg: dict[str, Any] = {"type": "LN"}
    init_cfg: InitConfig = init_field()
    example: ClassVar[dict[str, Any]] = {"type": "DeformableDetrTransformerEncoderLayer", "self_attn_cfg": _SMALL_MSDA,
                                         "ffn_cfg": _SMALL_FFN}  # fmt: skip

    def build(self) -> DeformableDetrTransformerEncoderLayer:
        """The layer."""
        return DeformableDetrTransformerEncoderLayer(**self.arguments())


@registry("transformer_layer").register
class DeformableDetrTransformerDecoderLayerConfig(Component):
    """``DeformableDetrTransformerDecoderLayer``: self-attention, deformable cross-attention, FFN, LayerNorms."""

    type: Literal["DeformableDetrTransformerDecoderLayer"]
    self_attn_cfg: dict[str, Any] = {"embed_dims": 256, "num_heads": 8, "dropout": 0.0, "batch_first": True}
    cross_attn_cfg: dict[str, Any] = {"embed_dims": 256, "num_heads": 8, "dropout": 0.0, "batch_first": True}
    ffn_cfg: dict[str, Any] = _FFN_DEFAULT
    norm_cfg: dict[str, Any] = {"type": "LN"}
    init_cfg: InitConfig = init_field()
    example: ClassVar[dict[str, Any]] = {"type": "DeformableDetrTransformerDecoderLayer",
                                         "self_attn_cfg": {"embed_dims": 8, "num_heads": 2},
                                         "cross_attn_cfg": _SMALL_MSDA, "ffn_cfg": _SMALL_FFN}  # fmt: skip

    def build(self) -> DeformableDetrTransformerDecoderLayer:
        """The layer."""
        return DeformableDetrTransformerDecoderLayer(**self.arguments())


@registry("transformer").register
class DeformableDetrTransformerEncoderConfig(Component):
    """``DeformableDetrTransformerEncoder``: ``num_layers`` deformable encoder layers."""

    type: Literal["DeformableDetrTransformerEncoder"]
    num_layers: int = Field(ge=1)
    layer_cfg: dict[str, Any]
    num_cp: int = Field(-1, le=0, description="fairscale checkpointing of the first layers: not implemented")
    init_cfg: InitConfig = init_field()
    example: ClassVar[dict[str, Any]] = {"type": "DeformableDetrTransformerEncoder", "num_layers": 2,
                                         "layer_cfg": {"self_attn_cfg": _SMALL_MSDA,
                                                       "ffn_cfg": _SMALL_FFN}}  # fmt: skip

    def build(self) -> DeformableDetrTransformerEncoder:
        """The encoder."""
        return DeformableDetrTransformerEncoder(**self.arguments())


@registry("transformer").register
class DeformableDetrTransformerDecoderConfig(Component):
    """``DeformableDetrTransformerDecoder``: ``num_layers`` decoder layers, optional box refinement."""

    type: Literal["DeformableDetrTransformerDecoder"]
    num_layers: int = Field(ge=1)
    layer_cfg: dict[str, Any]
    post_norm_cfg: dict[str, Any] | None = Field({"type": "LN"}, description="must be None (mmdet raises otherwise)")
    return_intermediate: bool = True
    init_cfg: InitConfig = init_field()
    example: ClassVar[dict[str, Any]] = {"type": "DeformableDetrTransformerDecoder", "num_layers": 2,
                                         "post_norm_cfg": None,
                                         "layer_cfg": {"self_attn_cfg": {"embed_dims": 8, "num_heads": 2},
                                                       "cross_attn_cfg": _SMALL_MSDA,
                                                       "ffn_cfg": _SMALL_FFN}}  # fmt: skip

    def build(self) -> DeformableDetrTransformerDecoder:
        """The decoder."""
        return DeformableDetrTransformerDecoder(**self.arguments())


@registry("transformer").register
class DinoTransformerDecoderConfig(DeformableDetrTransformerDecoderConfig):
    """``DinoTransformerDecoder``: DINO's decoder (query positions from the boxes, look forward twice)."""

    type: Literal["DinoTransformerDecoder"]  # type: ignore[assignment]
    example: ClassVar[dict[str, Any]] = {"type": "DinoTransformerDecoder", "num_layers": 1, "post_norm_cfg": None,
                                         "layer_cfg": {"self_attn_cfg": {"embed_dims": 256, "num_heads": 8},
                                                       "cross_attn_cfg": {"embed_dims": 256, "num_levels": 2,
                                                                          "num_points": 1},
                                                       "ffn_cfg": {"embed_dims": 256,
                                                                   "feedforward_channels": 16}}}  # fmt: skip

    def build(self) -> DinoTransformerDecoder:  # type: ignore[override]
        """The decoder (``embed_dims`` 256: its box encoding has 128 channels per coordinate, as mmdet's)."""
        return DinoTransformerDecoder(**self.arguments())


@registry("query_generator").register
class CdnQueryGeneratorConfig(Component):
    """``CdnQueryGenerator``: DINO's contrastive denoising queries (mmdet's ``dn_cfg`` plus what DINO sets)."""

    type: Literal["CdnQueryGenerator"]
    num_classes: int = Field(ge=1)
    embed_dims: int = Field(ge=1)
    num_matching_queries: int = Field(ge=0)
    label_noise_scale: float = Field(0.5, gt=0)
    box_noise_scale: float = Field(1.0, gt=0)
    group_cfg: dict[str, Any] | None = Field(None, description="{dynamic, num_dn_queries} or {dynamic: False, "
                                                                "num_groups}; None: dynamic with 100 queries")
    example: ClassVar[dict[str, Any]] = {"type": "CdnQueryGenerator", "num_classes": 3, "embed_dims": 8,
                                         "num_matching_queries": 5,
                                         "group_cfg": {"dynamic": True, "num_groups": None,
                                                       "num_dn_queries": 6}}  # fmt: skip

    def build(self) -> CdnQueryGenerator:
        """The generator (``label_embedding`` drawn from torch's RNG as ``nn.Embedding``'s)."""
        return CdnQueryGenerator(**self.arguments())
