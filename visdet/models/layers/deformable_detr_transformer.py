"""Deformable DETR's encoder and decoder stacks, as mmdet 3.3's.

mmdet's ``DeformableDetrTransformerEncoder`` and ``DeformableDetrTransformerDecoder``.

Shapes (batch first): B images, L levels with ``spatial_shapes`` ``[L, 2]`` rows ``(H_l, W_l)``,
K = sum(H_l * W_l) memory positions, Q queries, E channels; ``valid_ratios`` ``[B, L, 2]`` is the
``(w, h)`` share of each level that is not padding.

State-dict keys: ``layers.<i>.*`` (each layer as :mod:`visdet.models.layers.deformable_detr_layers`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor, nn

from visdet.models.layers.deformable_detr_layers import (
    DeformableDetrTransformerDecoderLayer,
    DeformableDetrTransformerEncoderLayer,
)
from visdet.models.layers.sigmoid_mean import inverse_sigmoid

#: mmdet's default ``post_norm_cfg`` of a DETR decoder, which the deformable decoder refuses (configs pass None).
POST_NORM_CFG: Mapping[str, Any] = MappingProxyType({"type": "LN"})


def _check_checkpointing(num_cp: int, num_layers: int) -> None:
    if num_cp > num_layers:
        raise ValueError(f"num_cp={num_cp} must not exceed num_layers={num_layers}")
    if num_cp > 0:
        raise NotImplementedError("num_cp > 0 (fairscale activation checkpointing) is not implemented in visdet")


class DeformableDetrTransformerEncoder(nn.Module):
    """``num_layers`` deformable encoder layers over the flattened multi-level memory.

    Args:
        num_layers: Number of layers (each built from ``layer_cfg``).
        layer_cfg: Keywords of :class:`DeformableDetrTransformerEncoderLayer`.
        num_cp: mmdet's count of checkpointed layers; only ``-1``/``0`` (none) are supported.
        init_cfg: Accepted for mmdet compatibility.
    """

    def __init__(
        self,
        *,
        num_layers: int,
        layer_cfg: Mapping[str, Any],
        num_cp: int = -1,
        init_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        _check_checkpointing(num_cp, num_layers)
        self.num_layers = num_layers
        self.layer_cfg = dict(layer_cfg)
        self.num_cp = num_cp
        self.init_cfg = init_cfg
        self.layers = nn.ModuleList(DeformableDetrTransformerEncoderLayer(**self.layer_cfg) for _ in range(num_layers))
        self.embed_dims = self.layers[0].embed_dims

    def forward(
        self,
        query: Tensor,
        query_pos: Tensor,
        key_padding_mask: Tensor | None,
        spatial_shapes: Tensor,
        level_start_index: Tensor,
        valid_ratios: Tensor,
        **kwargs: Any,
    ) -> Tensor:
        """The memory ``[B, K, E]`` after every layer (positions ``query_pos`` ``[B, K, E]``)."""
        reference_points = self.get_encoder_reference_points(spatial_shapes, valid_ratios, device=query.device)
        for layer in self.layers:
            query = layer(query=query, query_pos=query_pos, key_padding_mask=key_padding_mask,
                          spatial_shapes=spatial_shapes, level_start_index=level_start_index,
                          valid_ratios=valid_ratios, reference_points=reference_points, **kwargs)  # fmt: skip
        return query

    @staticmethod
    def get_encoder_reference_points(
        spatial_shapes: Tensor, valid_ratios: Tensor, device: torch.device | str
    ) -> Tensor:
        """Each memory position's centre as a reference point on every level.

        A pixel ``(i, j)`` of level l has its centre ``((j + 0.5) / (W_l * vw_l), (i + 0.5) / (H_l * vh_l))``
        relative to that level's valid area (float32 grid as mmdet); it is then scaled by each
        level's valid ratios.

        Returns:
            ``Tensor[B, K, L, 2]``.
        """
        per_level = []
        for level, (height, width) in enumerate(spatial_shapes):
            ref_y, ref_x = torch.meshgrid(
                torch.linspace(0.5, height - 0.5, height, dtype=torch.float32, device=device),
                torch.linspace(0.5, width - 0.5, width, dtype=torch.float32, device=device),
                indexing="ij",
            )
            ref_y = ref_y.reshape(-1)[None] / (valid_ratios[:, None, level, 1] * height)
            ref_x = ref_x.reshape(-1)[None] / (valid_ratios[:, None, level, 0] * width)
            per_level.append(torch.stack((ref_x, ref_y), -1))
        reference_points = torch.cat(per_level, 1)
        return reference_points[:, :, None] * valid_ratios[:, None]


class DeformableDetrTransformerDecoder(nn.Module):
    """``num_layers`` deformable decoder layers; optionally refining the reference points after each.

    Args:
        num_layers: Number of layers.
        layer_cfg: Keywords of :class:`DeformableDetrTransformerDecoderLayer`.
        post_norm_cfg: Must be ``None`` (mmdet's deformable decoder has no post norm and raises
            for any other value, its default ``LN`` included).
        return_intermediate: Return every layer's output and reference points, stacked.
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
        super().__init__()
        self.layer_cfg = dict(layer_cfg)
        self.num_layers = num_layers
        self.post_norm_cfg = post_norm_cfg
        self.return_intermediate = return_intermediate
        self.init_cfg = init_cfg
        self.layers = nn.ModuleList(DeformableDetrTransformerDecoderLayer(**self.layer_cfg) for _ in range(num_layers))
        self.embed_dims = self.layers[0].embed_dims
        if post_norm_cfg is not None:
            raise ValueError(f"There is not post_norm in {type(self).__name__}")

    def forward(
        self,
        query: Tensor,
        query_pos: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None,
        reference_points: Tensor,
        spatial_shapes: Tensor,
        level_start_index: Tensor,
        valid_ratios: Tensor,
        reg_branches: nn.ModuleList | None = None,
        **kwargs: Any,
    ) -> tuple[Tensor, Tensor]:
        """Decode the queries against the memory.

        Args:
            query: ``[B, Q, E]``.
            query_pos: ``[B, Q, E]``.
            value: ``[B, K, E]``, the encoder's memory.
            key_padding_mask: ``[B, K]``, True at padding.
            reference_points: ``[B, Q, 2]`` points ``(cx, cy)`` or ``[B, Q, 4]`` boxes ``(cx, cy, w, h)``,
                normalised to the valid area.
            spatial_shapes: ``[L, 2]``.
            level_start_index: ``[L]``.
            valid_ratios: ``[B, L, 2]``.
            reg_branches: One box regressor per layer (box refinement): each layer's reference
                points become ``sigmoid(reg(output) + inverse_sigmoid(previous))`` (only the first two
                coordinates get the previous ones for 2-d points), detached.
            **kwargs: Passed to every layer.

        Returns:
            ``(outputs, reference_points)``: ``[num_layers, B, Q, E]`` and ``[num_layers, B, Q, 2 | 4]``
            with ``return_intermediate``, else the last layer's ``[B, Q, E]`` and ``[B, Q, 2 | 4]``.
        """
        output = query
        outputs, references = [], []
        for layer_id, layer in enumerate(self.layers):
            if reference_points.shape[-1] == 4:
                scaled = reference_points[:, :, None] * torch.cat([valid_ratios, valid_ratios], -1)[:, None]
            elif reference_points.shape[-1] == 2:
                scaled = reference_points[:, :, None] * valid_ratios[:, None]
            else:
                raise ValueError(f"reference_points must end in 2 or 4 coordinates, got {reference_points.shape[-1]}")
            output = layer(output, query_pos=query_pos, value=value, key_padding_mask=key_padding_mask,
                           spatial_shapes=spatial_shapes, level_start_index=level_start_index,
                           valid_ratios=valid_ratios, reference_points=scaled, **kwargs)  # fmt: skip
            if reg_branches is not None:
                deltas = reg_branches[layer_id](output)
                if reference_points.shape[-1] == 4:
                    refined = deltas + inverse_sigmoid(reference_points)
                else:
                    refined = deltas  # mmdet writes into the regression output in place
                    refined[..., :2] = deltas[..., :2] + inverse_sigmoid(reference_points)
                reference_points = refined.sigmoid().detach()
            if self.return_intermediate:
                outputs.append(output)
                references.append(reference_points)
        if self.return_intermediate:
            return torch.stack(outputs), torch.stack(references)
        return output, reference_points
