"""Deformable DETR's post-norm encoder and decoder layers, as mmdet 3.3's.

mmdet's ``DeformableDetrTransformerEncoderLayer`` and ``DeformableDetrTransformerDecoderLayer``.

Shapes (batch first, as every DETR of mmdet): queries ``[B, Q, E]``, the flattened multi-level
memory ``[B, K, E]`` with ``spatial_shapes`` ``[L, 2]`` and reference points ``[B, Q, L, 2 | 4]``.

* encoder layer: ``norms.0(self_attn(query))`` (deformable self-attention over the memory),
  then ``norms.1(ffn(.))``;
* decoder layer: ``norms.0(self_attn(query))`` (multi-head attention among the queries),
  ``norms.1(cross_attn(., value=memory))`` (deformable), ``norms.2(ffn(.))``.

State-dict keys as mmdet's: ``self_attn.*``, ``cross_attn.*``, ``ffn.layers.*``, ``norms.<i>.*``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from torch import Tensor, nn

from visdet.models.layers.ffn import FFN
from visdet.models.layers.multi_scale_deform_attn import MultiScaleDeformableAttention
from visdet.models.layers.multihead_attention import DEPRECATED_DROPOUT_MESSAGE, MultiheadAttention
from visdet.models.layers.norm import build_norm_layer

#: mmdet's defaults of the DETR layers.
ENCODER_SELF_ATTN_CFG: Mapping[str, Any] = MappingProxyType({"embed_dims": 256, "num_heads": 8, "dropout": 0.0})
DECODER_ATTN_CFG: Mapping[str, Any] = MappingProxyType(
    {"embed_dims": 256, "num_heads": 8, "dropout": 0.0, "batch_first": True}
)
FFN_CFG: Mapping[str, Any] = MappingProxyType(
    {"embed_dims": 256, "feedforward_channels": 1024, "num_fcs": 2, "ffn_drop": 0.0,
     "act_cfg": MappingProxyType({"type": "ReLU", "inplace": True})}
)  # fmt: skip
LN_CFG: Mapping[str, Any] = MappingProxyType({"type": "LN"})


def _batch_first(cfg: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A copy of an attention config with ``batch_first=True`` (mmdet's DETRs are batch first)."""
    options = dict(cfg)
    if options.setdefault("batch_first", True) is not True:
        raise ValueError(f"{name}: the first dimension of all DETRs in mmdet is the batch; set batch_first=True")
    return options


def _norms(norm_cfg: Mapping[str, Any], embed_dims: int, count: int) -> nn.ModuleList:
    return nn.ModuleList(build_norm_layer(norm_cfg, embed_dims)[1] for _ in range(count))


class DeformableDetrTransformerEncoderLayer(nn.Module):
    """Deformable self-attention over the multi-level memory, then an FFN; LayerNorm after each.

    Args:
        self_attn_cfg: Keywords of :class:`MultiScaleDeformableAttention` (``batch_first`` set to True).
        ffn_cfg: Keywords of :class:`FFN`.
        norm_cfg: The norm after each sub-layer (mmdet: ``LN``).
        init_cfg: Accepted for mmdet compatibility (the parts initialise themselves as mmdet's).
    """

    def __init__(
        self,
        *,
        self_attn_cfg: Mapping[str, Any] = ENCODER_SELF_ATTN_CFG,
        ffn_cfg: Mapping[str, Any] = FFN_CFG,
        norm_cfg: Mapping[str, Any] = LN_CFG,
        init_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.self_attn_cfg = _batch_first(self_attn_cfg, "self_attn_cfg")
        self.ffn_cfg = dict(ffn_cfg)
        self.norm_cfg = dict(norm_cfg)
        self.init_cfg = init_cfg
        self.self_attn = MultiScaleDeformableAttention(**self.self_attn_cfg)
        self.embed_dims = self.self_attn.embed_dims
        self.ffn = FFN(**self.ffn_cfg)
        self.norms = _norms(self.norm_cfg, self.embed_dims, 2)

    def forward(self, query: Tensor, query_pos: Tensor, key_padding_mask: Tensor | None, **kwargs: Any) -> Tensor:
        """One encoder layer.

        Args:
            query: ``[B, K, E]``, the memory (queries and values are the same here).
            query_pos: ``[B, K, E]`` positions (level embedding included).
            key_padding_mask: ``[B, K]``, True at padding.
            **kwargs: ``reference_points``, ``spatial_shapes``, ``level_start_index``,
                ``valid_ratios``, passed to the attention.

        Returns:
            ``[B, K, E]``.
        """
        query = self.self_attn(query=query, key=query, value=query, query_pos=query_pos, key_pos=query_pos,
                               key_padding_mask=key_padding_mask, **kwargs)  # fmt: skip
        query = self.norms[0](query)
        query = self.ffn(query)
        return self.norms[1](query)


class DeformableDetrTransformerDecoderLayer(nn.Module):
    """Self-attention among the queries, deformable cross-attention into the memory, then an FFN.

    Args:
        self_attn_cfg: Keywords of :class:`MultiheadAttention` (``batch_first`` set to True).
        cross_attn_cfg: Keywords of :class:`MultiScaleDeformableAttention` (``batch_first`` True).
        ffn_cfg: Keywords of :class:`FFN`.
        norm_cfg: The norm after each sub-layer.
        init_cfg: Accepted for mmdet compatibility.
    """

    def __init__(
        self,
        *,
        self_attn_cfg: Mapping[str, Any] = DECODER_ATTN_CFG,
        cross_attn_cfg: Mapping[str, Any] = DECODER_ATTN_CFG,
        ffn_cfg: Mapping[str, Any] = FFN_CFG,
        norm_cfg: Mapping[str, Any] = LN_CFG,
        init_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.self_attn_cfg = _batch_first(self_attn_cfg, "self_attn_cfg")
        self.cross_attn_cfg = _batch_first(cross_attn_cfg, "cross_attn_cfg")
        self.ffn_cfg = dict(ffn_cfg)
        self.norm_cfg = dict(norm_cfg)
        self.init_cfg = init_cfg
        # built in mmdet's order (the same seed draws the same weights)
        if self_attn_cfg is DECODER_ATTN_CFG:
            # mmdet's default spells the zero dropouts with mmcv's deprecated `dropout`; a user who gives
            # nothing gets no deprecation warning (the same zero attn_drop and dropout_layer)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", re.escape(DEPRECATED_DROPOUT_MESSAGE), DeprecationWarning)
                self.self_attn = MultiheadAttention(**self.self_attn_cfg)
        else:
            self.self_attn = MultiheadAttention(**self.self_attn_cfg)
        self.cross_attn = MultiScaleDeformableAttention(**self.cross_attn_cfg)
        self.embed_dims = self.self_attn.embed_dims
        self.ffn = FFN(**self.ffn_cfg)
        self.norms = _norms(self.norm_cfg, self.embed_dims, 3)

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        query_pos: Tensor | None = None,
        key_pos: Tensor | None = None,
        self_attn_mask: Tensor | None = None,
        cross_attn_mask: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
        **kwargs: Any,
    ) -> Tensor:
        """One decoder layer.

        Args:
            query: ``[B, Q, E]``.
            key: Passed to the cross-attention (unused by the deformable one).
            value: ``[B, K, E]``, the memory.
            query_pos: ``[B, Q, E]``, added to the query in both attentions.
            key_pos: Passed to the cross-attention (unused by the deformable one).
            self_attn_mask: ``[Q, Q]`` mask of the self-attention (DINO's denoising groups).
            cross_attn_mask: Passed to the cross-attention (unused by the deformable one).
            key_padding_mask: ``[B, K]``, True at padded memory positions.
            **kwargs: ``reference_points``, ``spatial_shapes``, ``level_start_index``, ``valid_ratios``.

        Returns:
            ``[B, Q, E]``.
        """
        query = self.self_attn(query=query, key=query, value=query, query_pos=query_pos, key_pos=query_pos,
                               attn_mask=self_attn_mask, **kwargs)  # fmt: skip
        query = self.norms[0](query)
        query = self.cross_attn(query=query, key=key, value=value, query_pos=query_pos, key_pos=key_pos,
                                attn_mask=cross_attn_mask, key_padding_mask=key_padding_mask, **kwargs)  # fmt: skip
        query = self.norms[1](query)
        query = self.ffn(query)
        return self.norms[2](query)
