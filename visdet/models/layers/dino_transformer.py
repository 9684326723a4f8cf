"""DINO's decoder, as mmdet 3.3's ``DinoTransformerDecoder``.

Deformable DETR's decoder with query positions computed from the reference boxes,
look-forward-twice references and a final LayerNorm.

Shapes (batch first): queries ``[B, Q, E]``, memory ``[B, K, E]``, reference boxes ``[B, Q, 4]``
``(cx, cy, w, h)`` normalised to the valid area.

State-dict keys as mmdet's: ``layers.<i>.*``, ``ref_point_head.layers.{0,1}.*``, ``norm.*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from visdet.models.layers.deformable_detr_transformer import POST_NORM_CFG, DeformableDetrTransformerDecoder
from visdet.models.layers.detr_mlp import MLP, coordinate_to_encoding
from visdet.models.layers.sigmoid_mean import inverse_sigmoid

#: mmdet's ``inverse_sigmoid`` eps in DINO's box refinement.
DINO_INVERSE_SIGMOID_EPS = 1e-3


class DinoTransformerDecoder(DeformableDetrTransformerDecoder):
    """DINO's decoder.

    Before each layer, the reference boxes (scaled by the valid ratios) are sine-encoded
    (:func:`coordinate_to_encoding`, 128 channels per coordinate, so ``embed_dims`` must be 256
    as in mmdet) and ``ref_point_head`` (an MLP) turns them into the query positions. After each
    layer, ``reg_branches`` refine the boxes; the intermediate outputs go through ``norm``.

    Args:
        num_layers: Number of layers.
        layer_cfg: Keywords of :class:`DeformableDetrTransformerDecoderLayer`.
        post_norm_cfg: Must be ``None`` (as the deformable decoder).
        return_intermediate: Return every layer's normalised output and the references.
        init_cfg: Accepted for mmdet compatibility.
    """

    def __init__(
        self,
        *,
        num_layers: int,
        layer_cfg: Mapping[str, Any],
        post_norm_cfg: Mapping[str, Any] | None = POST_NORM_CFG,
        return_intermediate: bool = True,
        init_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(num_layers=num_layers, layer_cfg=layer_cfg, post_norm_cfg=post_norm_cfg,
                         return_intermediate=return_intermediate, init_cfg=init_cfg)  # fmt: skip
        # built after the layers, as mmdet's _init_layers (the same seed draws the same weights)
        self.ref_point_head = MLP(self.embed_dims * 2, self.embed_dims, self.embed_dims, 2)
        self.norm = nn.LayerNorm(self.embed_dims)

    def forward(  # type: ignore[override]
        self,
        query: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None,
        self_attn_mask: Tensor | None,
        reference_points: Tensor,
        spatial_shapes: Tensor,
        level_start_index: Tensor,
        valid_ratios: Tensor,
        reg_branches: nn.ModuleList,
        **kwargs: Any,
    ) -> tuple[Tensor, Tensor]:
        """Decode the queries; refine the boxes after every layer.

        Args:
            query: ``[B, Q, E]``.
            value: ``[B, K, E]``, the memory.
            key_padding_mask: ``[B, K]``, True at padding.
            self_attn_mask: ``[Q, Q]`` mask between denoising groups and matching queries, or ``None``.
            reference_points: ``[B, Q, 4]`` boxes (the 2-d path exists in mmdet but its refinement
                asserts 4-d boxes).
            spatial_shapes: ``[L, 2]``.
            level_start_index: ``[L]``.
            valid_ratios: ``[B, L, 2]``.
            reg_branches: One box regressor per layer (required).
            **kwargs: Passed to every layer.

        Returns:
            With ``return_intermediate``: ``[num_layers, B, Q, E]`` normalised outputs and
            ``[num_layers + 1, B, Q, 4]`` references (the initial ones first; the refined ones
            not detached: look forward twice). Otherwise the last raw output and references.
        """
        if reg_branches is None and self.return_intermediate:  # mmdet fails on an unbound name here
            raise ValueError("DinoTransformerDecoder with return_intermediate needs reg_branches")
        outputs, references = [], [reference_points]
        for layer_id, layer in enumerate(self.layers):
            if reference_points.shape[-1] == 4:
                scaled = reference_points[:, :, None] * torch.cat([valid_ratios, valid_ratios], -1)[:, None]
            elif reference_points.shape[-1] == 2:
                scaled = reference_points[:, :, None] * valid_ratios[:, None]
            else:
                raise ValueError(f"reference_points must end in 2 or 4 coordinates, got {reference_points.shape[-1]}")
            query_pos = self.ref_point_head(coordinate_to_encoding(scaled[:, :, 0, :]))
            query = layer(query, query_pos=query_pos, value=value, key_padding_mask=key_padding_mask,
                          self_attn_mask=self_attn_mask, spatial_shapes=spatial_shapes,
                          level_start_index=level_start_index, valid_ratios=valid_ratios, reference_points=scaled,
                          **kwargs)  # fmt: skip
            if reg_branches is not None:
                if reference_points.shape[-1] != 4:
                    raise ValueError("DINO refines 4-d reference boxes only")
                deltas = reg_branches[layer_id](query)
                refined = (deltas + inverse_sigmoid(reference_points, DINO_INVERSE_SIGMOID_EPS)).sigmoid()
                reference_points = refined.detach()
            if self.return_intermediate:
                outputs.append(self.norm(query))
                references.append(refined)
        if self.return_intermediate:
            return torch.stack(outputs), torch.stack(references)
        return query, reference_points
