"""``MLP`` (mmdet's DETR-family perceptron) and ``coordinate_to_encoding`` (the sine encoding of points or boxes).

Shapes: ``MLP`` maps ``[..., input_dim]`` to ``[..., output_dim]``; ``coordinate_to_encoding`` maps
``[..., 2 | 4]`` normalised coordinates to ``[..., 2 | 4 * num_feats]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MLP(nn.Module):
    """``num_layers`` Linear layers with ReLU between them (none after the last); keys ``layers.<i>.*``.

    Args:
        input_dim: Input features.
        hidden_dim: Features of every hidden layer.
        output_dim: Output features.
        num_layers: Number of Linear layers.
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        self.num_layers = num_layers
        hidden = [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(n, k) for n, k in zip([input_dim, *hidden], [*hidden, output_dim]))

    def forward(self, x: Tensor) -> Tensor:
        """``[..., input_dim]`` -> ``[..., output_dim]``."""
        for index, layer in enumerate(self.layers):
            x = F.relu(layer(x)) if index < self.num_layers - 1 else layer(x)
        return x


def _sine_pairs(values: Tensor, dim_t: Tensor) -> Tensor:
    """``[B, N]`` -> ``[B, N, num_feats]``: (sin, cos) of ``values / dim_t``, pairs interleaved."""
    angles = values[..., None] / dim_t
    return torch.stack((angles[..., 0::2].sin(), angles[..., 1::2].cos()), dim=-1).flatten(2)


def coordinate_to_encoding(
    coord_tensor: Tensor, num_feats: int = 128, temperature: int = 10000, scale: float = 2 * math.pi
) -> Tensor:
    """Sine encoding of normalised coordinates, as mmdet's function of the name.

    Each coordinate ``c`` becomes ``num_feats`` channels: pairs ``sin, cos`` of
    ``c * scale / temperature ** (2i / num_feats)``, the frequencies in float32. The order is
    ``(y, x)`` for points and ``(y, x, w, h)`` for boxes.

    Args:
        coord_tensor: ``[B, N, 2]`` points ``(x, y)`` or ``[B, N, 4]`` boxes ``(cx, cy, w, h)``.
        num_feats: Channels per coordinate.
        temperature: Base of the frequencies.
        scale: Multiplies the coordinates first.

    Returns:
        ``[B, N, 2 * num_feats]`` or ``[B, N, 4 * num_feats]``.

    Raises:
        ValueError: The last dimension is neither 2 nor 4.
    """
    dim_t = torch.arange(num_feats, dtype=torch.float32, device=coord_tensor.device)
    dim_t = temperature ** (2 * (dim_t // 2) / num_feats)
    pos_x = _sine_pairs(coord_tensor[..., 0] * scale, dim_t)
    pos_y = _sine_pairs(coord_tensor[..., 1] * scale, dim_t)
    if coord_tensor.size(-1) == 2:
        return torch.cat((pos_y, pos_x), dim=-1)
    if coord_tensor.size(-1) == 4:
        pos_w = _sine_pairs(coord_tensor[..., 2] * scale, dim_t)
        pos_h = _sine_pairs(coord_tensor[..., 3] * scale, dim_t)
        return torch.cat((pos_y, pos_x, pos_w, pos_h), dim=-1)
    raise ValueError(f"Unknown pos_tensor shape(-1):{coord_tensor.size(-1)}")
