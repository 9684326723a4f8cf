"""``MultiScaleDeformableAttention`` (mmcv 2.1's module of the name), Deformable DETR's attention.

Shapes: B images, Q queries, K keys over L levels (``K = sum(H_l * W_l)``), E =
``embed_dims``, M heads, P points per head and level. ``batch_first=False`` (mmcv's default)
takes and returns ``[Q, B, E]``/``[K, B, E]``; ``batch_first=True`` ``[B, Q, E]``/``[B, K, E]``.

Each query predicts, per head, level and point, an offset from its reference point
(``sampling_offsets``) and a weight (``attention_weights``, softmax over the L * P samples of
a head); the projected values (``value_proj``) are sampled there by
:func:`visdet.ops.multi_scale_deform_attn.multi_scale_deformable_attn_pytorch`, and
``output_proj`` maps the result back to E channels, added to ``identity`` after dropout.

State-dict keys as mmcv's: ``sampling_offsets.{weight,bias}``, ``attention_weights.*``,
``value_proj.*``, ``output_proj.*``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from visdet.models.layers.weight_init import constant_init, xavier_init
from visdet.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch


def sampling_offset_grid(num_heads: int, num_levels: int, num_points: int) -> Tensor:
    """The initial ``sampling_offsets.bias`` of mmcv: head h points along angle ``2 pi h / M``.

    The direction ``(cos, sin)`` is scaled so its larger component is 1, and point p of every
    level sits at ``p + 1`` times it; computed in float32 as mmcv does.

    Returns:
        ``Tensor[M * L * P * 2]`` float32, ordered (head, level, point, xy).
    """
    angles = torch.arange(num_heads, dtype=torch.float32) * (2.0 * math.pi / num_heads)
    directions = torch.stack([angles.cos(), angles.sin()], -1)
    directions = directions / directions.abs().max(-1, keepdim=True)[0]
    grid = directions.view(num_heads, 1, 1, 2).repeat(1, num_levels, num_points, 1)
    for point in range(num_points):
        grid[:, :, point, :] *= point + 1
    return grid.view(-1)


class MultiScaleDeformableAttention(nn.Module):
    """Deformable attention over a multi-level feature map.

    Args:
        embed_dims: E, the query and output channels.
        num_heads: M; ``embed_dims`` must be a multiple of it (mmcv warns when the per-head
            width is not a power of 2, which only its CUDA kernel cares about; so does visdet).
        num_levels: L.
        num_points: P.
        im2col_step: mmcv's CUDA kernel's batch chunk; kept for configs, unused here.
        dropout: Dropout probability on the output before ``identity`` is added.
        batch_first: Batch on the first dimension of queries, values and the output.
        norm_cfg: Accepted and stored, unused (as in mmcv).
        init_cfg: Accepted for mmcv compatibility; the module initialises itself as mmcv.
        value_proj_ratio: ``value_proj`` has ``int(embed_dims * value_proj_ratio)`` outputs.
    """

    def __init__(
        self,
        *,
        embed_dims: int = 256,
        num_heads: int = 8,
        num_levels: int = 4,
        num_points: int = 4,
        im2col_step: int = 64,
        dropout: float = 0.1,
        batch_first: bool = False,
        norm_cfg: Mapping[str, Any] | None = None,
        init_cfg: Mapping[str, Any] | None = None,
        value_proj_ratio: float = 1.0,
    ) -> None:
        super().__init__()
        if embed_dims % num_heads != 0:
            raise ValueError(f"embed_dims must be divisible by num_heads, but got {embed_dims} and {num_heads}")
        per_head = embed_dims // num_heads
        if per_head & (per_head - 1) != 0 or per_head == 0:
            warnings.warn(
                "MultiScaleDeformableAttention: embed_dims // num_heads is not a power of 2 "
                "(only mmcv's CUDA kernel is slower for it)",
                stacklevel=2,
            )
        self.norm_cfg = norm_cfg
        self.init_cfg = init_cfg
        self.dropout = nn.Dropout(dropout)
        self.batch_first = batch_first
        self.im2col_step = im2col_step
        self.embed_dims = embed_dims
        self.num_levels = num_levels
        self.num_heads = num_heads
        self.num_points = num_points
        # constructed in mmcv's order: the same seed draws the same default weights
        self.sampling_offsets = nn.Linear(embed_dims, num_heads * num_levels * num_points * 2)
        self.attention_weights = nn.Linear(embed_dims, num_heads * num_levels * num_points)
        value_proj_size = int(embed_dims * value_proj_ratio)
        self.value_proj = nn.Linear(embed_dims, value_proj_size)
        self.output_proj = nn.Linear(value_proj_size, embed_dims)
        self.init_weights()

    def init_weights(self) -> None:
        """Initialise as mmcv: offsets (zero weight, angular grid bias), attention, value, output.

        Zero offset weights with :func:`sampling_offset_grid` as bias, zero attention weights,
        Xavier-uniform value and output projections (zero bias), drawn in that order.

        mmcv replaces the bias tensor by the float32 grid; visdet copies the grid into the
        parameter, so the values are the same and the dtype stays the module's.
        """
        constant_init(self.sampling_offsets, 0.0)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(
                sampling_offset_grid(self.num_heads, self.num_levels, self.num_points).to(self.sampling_offsets.bias)
            )
        constant_init(self.attention_weights, val=0.0, bias=0.0)
        xavier_init(self.value_proj, distribution="uniform", bias=0.0)
        xavier_init(self.output_proj, distribution="uniform", bias=0.0)

    def _sampling_locations(self, reference_points: Tensor, offsets: Tensor, spatial_shapes: Tensor) -> Tensor:
        """``[B, Q, M, L, P, 2]`` locations from reference points ``[B, Q, L, 2 | 4]`` and raw offsets."""
        if reference_points.shape[-1] == 2:
            # offsets are in pixels of each level: divide by (W_l, H_l)
            normalizer = torch.stack([spatial_shapes[..., 1], spatial_shapes[..., 0]], -1)
            return reference_points[:, :, None, :, None, :] + offsets / normalizer[None, None, None, :, None, :]
        if reference_points.shape[-1] == 4:
            # boxes (cx, cy, w, h): offsets in units of half the box over num_points
            return (
                reference_points[:, :, None, :, None, :2]
                + offsets / self.num_points * reference_points[:, :, None, :, None, 2:] * 0.5
            )
        raise ValueError(f"Last dim of reference_points must be 2 or 4, but get {reference_points.shape[-1]} instead.")

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        identity: Tensor | None = None,
        query_pos: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
        reference_points: Tensor | None = None,
        spatial_shapes: Tensor | None = None,
        level_start_index: Tensor | None = None,
        **kwargs: Any,
    ) -> Tensor:
        """Attend from each query to its sampled points.

        Args:
            query: ``[Q, B, E]`` (``[B, Q, E]`` if ``batch_first``).
            key: Unused (mmcv's signature).
            value: ``[K, B, E]`` (``[B, K, E]``); ``None``: the query.
            identity: Added to the output; ``None``: the query (before ``query_pos``).
            query_pos: Added to the query before the projections.
            key_padding_mask: ``[B, K]`` bool, True where a key is padding (its value is zeroed).
            reference_points: ``[B, Q, L, 2]`` normalised points ``(x, y)`` or ``[B, Q, L, 4]``
                boxes ``(cx, cy, w, h)``.
            spatial_shapes: ``[L, 2]`` int rows ``(H_l, W_l)``.
            level_start_index: ``[L]``, unused here (mmcv's CUDA kernel reads it).
            **kwargs: Ignored (layers pass ``valid_ratios`` and the like); mmcv's deprecated
                ``residual`` is taken as ``identity``.

        Returns:
            ``[Q, B, E]`` (``[B, Q, E]`` if ``batch_first``).
        """
        if "residual" in kwargs:
            warnings.warn("MultiScaleDeformableAttention: 'residual' is deprecated, use 'identity'", stacklevel=2)
            identity = kwargs["residual"] if identity is None else identity
        if reference_points is None or spatial_shapes is None:
            raise ValueError("MultiScaleDeformableAttention needs reference_points and spatial_shapes")
        if value is None:
            value = query
        if identity is None:
            identity = query
        if query_pos is not None:
            query = query + query_pos
        if not self.batch_first:
            query = query.permute(1, 0, 2)
            value = value.permute(1, 0, 2)
        batch, num_query, _ = query.shape
        _, num_value, _ = value.shape
        covered = int((spatial_shapes[:, 0] * spatial_shapes[:, 1]).sum())
        if covered != num_value:
            raise ValueError(f"spatial_shapes cover {covered} keys, value has {num_value}")

        value = self.value_proj(value)
        if key_padding_mask is not None:
            value = value.masked_fill(key_padding_mask[..., None], 0.0)
        value = value.view(batch, num_value, self.num_heads, -1)
        offsets = self.sampling_offsets(query).view(
            batch, num_query, self.num_heads, self.num_levels, self.num_points, 2
        )
        samples = self.num_levels * self.num_points
        weights = self.attention_weights(query).view(batch, num_query, self.num_heads, samples)
        weights = weights.softmax(-1).view(batch, num_query, self.num_heads, self.num_levels, self.num_points)
        locations = self._sampling_locations(reference_points, offsets, spatial_shapes)
        output = self.output_proj(multi_scale_deformable_attn_pytorch(value, spatial_shapes, locations, weights))
        if not self.batch_first:
            output = output.permute(1, 0, 2)
        return self.dropout(output) + identity
