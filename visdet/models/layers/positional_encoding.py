"""Positional encodings of DETR-style detectors: mmdet 3.3's sine and learned encodings.

Shapes: ``mask`` is ``Tensor[B, H, W]``, non-zero where a pixel is padding; the encoding is
``Tensor[B, 2 * num_feats, H, W]``: the first ``num_feats`` channels encode the row (y),
the last ``num_feats`` the column (x).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor, nn


class SinePositionalEncoding(nn.Module):
    """Sine/cosine encoding of each valid pixel's 1-based row and column count.

    Positions are cumulative counts of valid (mask 0) pixels along each axis, in float32 as
    mmdet computes them; with ``normalize`` they become ``(pos + offset) / (last + eps) * scale``
    (``last``: the count at the end of the row or column). Channel pair ``2i, 2i + 1`` is
    ``sin, cos`` of ``pos / temperature ** (2i / num_feats)``.

    Args:
        num_feats: Channels per axis (the output has twice as many).
        temperature: Base of the frequencies.
        normalize: Normalise the positions to ``[0, scale]``.
        scale: The normalised range (only with ``normalize``).
        eps: Added to the denominator of the normalisation.
        offset: Added to the positions before normalising.
        init_cfg: Accepted for mmdet compatibility (the module has no weights).
    """

    def __init__(
        self,
        num_feats: int,
        *,
        temperature: int = 10000,
        normalize: bool = False,
        scale: float = 2 * math.pi,
        eps: float = 1e-6,
        offset: float = 0.0,
        init_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if normalize and (isinstance(scale, bool) or not isinstance(scale, (float, int))):
            raise TypeError(f"when normalize is set, scale should be a float or an int, got {type(scale)}")
        self.num_feats = num_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = scale
        self.eps = eps
        self.offset = offset
        self.init_cfg = init_cfg

    def forward(self, mask: Tensor | None, input: Tensor | None = None) -> Tensor:  # noqa: A002 (mmdet's name)
        """The encoding of ``mask`` (``[B, H, W]``, non-zero = padding), or of an unpadded ``input``.

        Args:
            mask: ``Tensor[B, H, W]``, or ``None`` to use ``input``'s size with no padding.
            input: ``Tensor[B, C, H, W]``, read for its shape when ``mask`` is ``None``.

        Returns:
            ``Tensor[B, 2 * num_feats, H, W]`` float32.
        """
        if mask is None and input is None:
            raise ValueError("SinePositionalEncoding needs a mask or an input")
        if mask is not None:
            batch, height, width = mask.size()
            device = mask.device
            valid = 1 - mask.to(torch.int)
            y_embed = valid.cumsum(1, dtype=torch.float32)
            x_embed = valid.cumsum(2, dtype=torch.float32)
        else:
            batch, _, height, width = input.shape
            device = input.device
            x_embed = torch.arange(1, width + 1, dtype=torch.float32, device=device)
            x_embed = x_embed.view(1, 1, -1).repeat(batch, height, 1)
            y_embed = torch.arange(1, height + 1, dtype=torch.float32, device=device)
            y_embed = y_embed.view(1, -1, 1).repeat(batch, 1, width)
        if self.normalize:
            y_embed = (y_embed + self.offset) / (y_embed[:, -1:, :] + self.eps) * self.scale
            x_embed = (x_embed + self.offset) / (x_embed[:, :, -1:] + self.eps) * self.scale
        dim_t = torch.arange(self.num_feats, dtype=torch.float32, device=device)
        dim_t = self.temperature ** (2 * (dim_t // 2) / self.num_feats)
        pos_x = x_embed[:, :, :, None] / dim_t
        pos_y = y_embed[:, :, :, None] / dim_t
        # channel pairs (sin, cos) of each frequency
        pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4)
        pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4)
        pos_x = pos_x.view(batch, height, width, -1)
        pos_y = pos_y.view(batch, height, width, -1)
        return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        """The settings, as mmdet's ``__repr__`` lists them."""
        return (
            f"num_feats={self.num_feats}, temperature={self.temperature}, normalize={self.normalize}, "
            f"scale={self.scale}, eps={self.eps}, offset={self.offset}"
        )


#: mmdet's ``init_cfg`` of ``LearnedPositionalEncoding``: U(0, 1) embedding weights.
LEARNED_INIT_CFG: Mapping[str, Any] = MappingProxyType({"type": "Uniform", "layer": "Embedding"})


class LearnedPositionalEncoding(nn.Module):
    """One learned embedding per row and per column (``row_embed``, ``col_embed``).

    The output is ``[col_embed(x), row_embed(y)]`` at each pixel: the first ``num_feats``
    channels encode the column, the last the row (the reverse of the sine encoding). The mask
    only gives the shape: padding is not taken into account.

    Args:
        num_feats: Channels per axis.
        row_num_embed: Rows available (the map's height must not exceed it).
        col_num_embed: Columns available.
        init_cfg: mmdet's default (U(0, 1) weights, applied by :meth:`init_weights`) or ``None``
            (keep ``nn.Embedding``'s N(0, 1)).
    """

    def __init__(
        self,
        num_feats: int,
        *,
        row_num_embed: int = 50,
        col_num_embed: int = 50,
        init_cfg: Mapping[str, Any] | None = LEARNED_INIT_CFG,
    ) -> None:
        super().__init__()
        if init_cfg is not None and dict(init_cfg) != dict(LEARNED_INIT_CFG):
            raise NotImplementedError(f"LearnedPositionalEncoding init_cfg {dict(init_cfg)!r} is not supported")
        self.init_cfg = dict(init_cfg) if init_cfg is not None else None
        self.row_embed = nn.Embedding(row_num_embed, num_feats)
        self.col_embed = nn.Embedding(col_num_embed, num_feats)
        self.num_feats = num_feats
        self.row_num_embed = row_num_embed
        self.col_num_embed = col_num_embed

    def init_weights(self) -> None:
        """Initialise as mmdet: U(0, 1) row then column embeddings (nothing with ``init_cfg=None``)."""
        if self.init_cfg is None:
            return
        for embedding in (self.row_embed, self.col_embed):
            nn.init.uniform_(embedding.weight, 0.0, 1.0)

    def forward(self, mask: Tensor) -> Tensor:
        """``Tensor[B, H, W]`` (read for its shape) -> ``Tensor[B, 2 * num_feats, H, W]``."""
        height, width = mask.shape[-2:]
        x_embed = self.col_embed(torch.arange(width, device=mask.device))
        y_embed = self.row_embed(torch.arange(height, device=mask.device))
        pos = torch.cat((x_embed.unsqueeze(0).repeat(height, 1, 1), y_embed.unsqueeze(1).repeat(1, width, 1)), dim=-1)
        return pos.permute(2, 0, 1).unsqueeze(0).repeat(mask.shape[0], 1, 1, 1)

    def extra_repr(self) -> str:
        """The settings, as mmdet's ``__repr__`` lists them."""
        return f"num_feats={self.num_feats}, row_num_embed={self.row_num_embed}, col_num_embed={self.col_num_embed}"
