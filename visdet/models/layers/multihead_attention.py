"""``MultiheadAttention``: mmcv 2.1's wrapper of ``torch.nn.MultiheadAttention`` with positions and identity.

Shapes: ``[B, Q, E]`` queries and ``[B, K, E]`` keys/values with ``batch_first``, else
``[Q, B, E]``/``[K, B, E]``; the output has the query's shape.

State-dict keys as mmcv's: ``attn.in_proj_weight``, ``attn.in_proj_bias``,
``attn.out_proj.{weight,bias}`` (torch's module under ``attn``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from torch import Tensor, nn

from visdet.models.layers.ffn import build_dropout

#: mmcv's default ``dropout_layer``.
DEFAULT_DROPOUT_LAYER: Mapping[str, Any] = MappingProxyType({"type": "Dropout", "drop_prob": 0.0})
#: mmcv's warning for the deprecated ``dropout`` keyword (it warns for every ``dropout`` given, as visdet).
DEPRECATED_DROPOUT_MESSAGE = (
    "The arguments `dropout` in MultiheadAttention has been deprecated, now you can separately "
    "set `attn_drop`(float), proj_drop(float), and `dropout_layer`(dict) "
)


class MultiheadAttention(nn.Module):
    """Multi-head attention with query/key positions added and an identity connection.

    Args:
        embed_dims: E.
        num_heads: Heads.
        attn_drop: Dropout on the attention weights (torch's ``dropout``).
        proj_drop: Dropout after the attention.
        dropout_layer: Dropout of the branch before the identity is added (mmcv config or ``None``).
        init_cfg: Accepted for mmcv compatibility (torch's own init is mmcv's).
        batch_first: Batch on the first dimension.
        dropout: mmcv's deprecated shortcut: sets ``attn_drop`` and the ``dropout_layer``
            probability (mmcv warns; so does visdet). mmcv writes it into its shared default
            ``dropout_layer`` dict, so later modules built without ``dropout`` inherit it; visdet
            does not keep that side effect.
        **kwargs: Passed to ``torch.nn.MultiheadAttention`` (``bias``, ``kdim``...).
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        *,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        dropout_layer: Mapping[str, Any] | None = DEFAULT_DROPOUT_LAYER,
        init_cfg: Mapping[str, Any] | None = None,
        batch_first: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if "dropout" in kwargs:
            warnings.warn(DEPRECATED_DROPOUT_MESSAGE, DeprecationWarning, stacklevel=2)
            attn_drop = kwargs.pop("dropout")
            dropout_layer = {**dict(dropout_layer or DEFAULT_DROPOUT_LAYER), "drop_prob": attn_drop}
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.batch_first = batch_first
        self.init_cfg = init_cfg
        self.attn = nn.MultiheadAttention(embed_dims, num_heads, attn_drop, **kwargs)
        self.proj_drop = nn.Dropout(proj_drop)
        self.dropout_layer = build_dropout(dropout_layer) if dropout_layer else nn.Identity()

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        identity: Tensor | None = None,
        query_pos: Tensor | None = None,
        key_pos: Tensor | None = None,
        attn_mask: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
        **kwargs: Any,
    ) -> Tensor:
        """``identity + dropout(attention(query + query_pos, key + key_pos, value))``.

        Args:
            query: ``[B, Q, E]`` (``[Q, B, E]`` unless ``batch_first``).
            key: Defaults to the query.
            value: Defaults to the key.
            identity: Defaults to the query (before ``query_pos``).
            query_pos: Added to the query.
            key_pos: Added to the key; ``None``: ``query_pos`` when it has the key's shape
                (else a warning and no key position, as mmcv).
            attn_mask: ``[Q, K]`` (or per head), as ``torch.nn.MultiheadAttention``.
            key_padding_mask: ``[B, K]``, True where a key is padding.
            **kwargs: Ignored (layers pass reference points and the like); mmcv's deprecated
                ``residual`` is taken as ``identity``.

        Returns:
            The query's shape.
        """
        if "residual" in kwargs:
            warnings.warn("MultiheadAttention: 'residual' is deprecated, use 'identity'", stacklevel=2)
            identity = kwargs["residual"] if identity is None else identity
        if key is None:
            key = query
        if value is None:
            value = key
        if identity is None:
            identity = query
        if key_pos is None and query_pos is not None:
            if query_pos.shape == key.shape:
                key_pos = query_pos
            else:
                warnings.warn(f"position encoding of key ismissing in {type(self).__name__}.", stacklevel=2)
        if query_pos is not None:
            query = query + query_pos
        if key_pos is not None:
            key = key + key_pos
        if self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        out = self.attn(query=query, key=key, value=value, attn_mask=attn_mask, key_padding_mask=key_padding_mask)[0]
        if self.batch_first:
            out = out.transpose(0, 1)
        return identity + self.dropout_layer(self.proj_drop(out))
