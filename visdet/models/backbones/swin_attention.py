"""Window self-attention of the Swin Transformer (mmdet's ``WindowMSA``, ``ShiftWindowMSA``).

Shapes: B batch, L = H * W tokens, C channels, M = window_size, nW windows per image,
nH heads. ``WindowMSA``: Tensor[B * nW, M * M, C] -> same. ``ShiftWindowMSA``:
Tensor[B, L, C] with (H, W) -> Tensor[B, L, C].

Keys as mmdet's: ``w_msa.relative_position_bias_table`` [(2M-1)^2, nH],
``w_msa.relative_position_index`` (a persistent buffer, in the state dict),
``w_msa.qkv``, ``w_msa.proj``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from visdet.models.layers.ffn import build_dropout
from visdet.models.layers.weight_init import trunc_normal_

#: mmdet's attention-mask value between tokens that came from different regions after
#: the cyclic shift (added to the logits before the softmax; not -inf).
SHIFT_MASK_VALUE = -100.0

DEFAULT_DROPOUT_LAYER: Mapping[str, Any] = MappingProxyType({"type": "DropPath", "drop_prob": 0.0})


def relative_position_index(window_h: int, window_w: int) -> torch.Tensor:
    """Index into the bias table for every (query, key) pair of a window, LongTensor[Wh*Ww, Wh*Ww].

    For query (i1, j1) and key (i2, j2) the index is
    ``(i1 - i2 + Wh - 1) * (2 * Ww - 1) + (j1 - j2 + Ww - 1)``; mmdet builds it as
    ``flip(seq + seq.T, 1)`` with ``seq = i * (2Ww - 1) + j``, which is the same table.
    """
    seq = (torch.arange(0, (2 * window_w - 1) * window_h, 2 * window_w - 1)[:, None]
           + torch.arange(0, window_w)[None, :]).reshape(1, -1)  # fmt: skip
    return (seq + seq.T).flip(1).contiguous()


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """Tensor[B, H, W, C] (H, W multiples of M) -> Tensor[B * nW, M, M, C], windows row-major."""
    b, h, w, c = x.shape
    x = x.view(b, h // window_size, window_size, w // window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window_size, window_size, c)


def window_reverse(windows: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: Tensor[B * nW, M, M, C] -> Tensor[B, H, W, C]."""
    window_size = windows.shape[1]
    b = int(windows.shape[0] / (h * w / window_size / window_size))
    x = windows.view(b, h // window_size, w // window_size, window_size, window_size, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(b, h, w, -1)


def shift_attention_mask(h_pad: int, w_pad: int, window_size: int, shift_size: int,
                         device: torch.device | None = None) -> torch.Tensor:  # fmt: skip
    """Additive mask of shifted-window attention, Tensor[nW, M * M, M * M] in the default float dtype.

    After rolling the padded map by ``-shift_size`` the last row and column of windows
    hold tokens from up to three regions each; pairs from different regions get
    ``SHIFT_MASK_VALUE``, pairs from one region 0.
    """
    img_mask = torch.zeros((1, h_pad, w_pad, 1), device=device)
    slices = (slice(0, -window_size), slice(-window_size, -shift_size), slice(-shift_size, None))
    region = 0
    for hs in slices:
        for ws in slices:
            img_mask[:, hs, ws, :] = region
            region += 1
    mask_windows = window_partition(img_mask, window_size).view(-1, window_size * window_size)
    mask = mask_windows.unsqueeze(1) - mask_windows.unsqueeze(2)
    return mask.masked_fill(mask != 0, SHIFT_MASK_VALUE).masked_fill(mask == 0, 0.0)


class WindowMSA(nn.Module):
    """Multi-head self-attention inside windows, with a learned relative position bias.

    Args:
        embed_dims: Channels C.
        num_heads: Heads nH (C divisible by nH).
        window_size: (Wh, Ww).
        qkv_bias: Bias in the qkv projection.
        qk_scale: Query scale (``None`` or 0: head_dims ** -0.5, as mmdet's ``or``).
        attn_drop_rate: Dropout on the attention weights.
        proj_drop_rate: Dropout after the output projection.
        init_cfg: Accepted for mmdet compatibility; ignored.
    """

    def __init__(
        self,
        *,
        embed_dims: int,
        num_heads: int,
        window_size: tuple[int, int],
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        attn_drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        init_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f"embed_dims={embed_dims} is not divisible by num_heads={num_heads}")
        self.embed_dims = embed_dims
        self.window_size = tuple(window_size)
        self.num_heads = num_heads
        self.scale = qk_scale or (embed_dims // num_heads) ** -0.5
        self.init_cfg = init_cfg
        wh, ww = self.window_size
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        self.register_buffer("relative_position_index", relative_position_index(wh, ww))
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop_rate)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop_rate)
        self.softmax = nn.Softmax(dim=-1)

    def init_weights(self) -> None:
        """Truncated-normal bias table (std 0.02); mmdet's Swin backbone never calls it."""
        trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attention within each window.

        Args:
            x: Tensor[B * nW, N = Wh * Ww, C].
            mask: Tensor[nW, N, N] added to the logits (0 or ``SHIFT_MASK_VALUE``), or None.

        Returns:
            Tensor[B * nW, N, C].
        """
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.scale) @ k.transpose(-2, -1)
        tokens = self.window_size[0] * self.window_size[1]
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(tokens, tokens, -1)
        attn = attn + bias.permute(2, 0, 1).contiguous().unsqueeze(0)
        if mask is not None:
            num_windows = mask.shape[0]
            attn = attn.view(b // num_windows, num_windows, self.num_heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, n, n)
        attn = self.attn_drop(self.softmax(attn))
        x = (attn @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj_drop(self.proj(x))


class ShiftWindowMSA(nn.Module):
    """Window attention over a (possibly cyclically shifted) padded feature map.

    The map is zero-padded bottom/right to multiples of ``window_size``, rolled by
    ``-shift_size`` (with the region mask), attended per window, rolled back and cropped.

    Args:
        embed_dims: Channels C.
        num_heads: Heads.
        window_size: Window side M.
        shift_size: Roll amount, 0 <= shift_size < M (0: plain windows).
        qkv_bias: Bias in the qkv projection.
        qk_scale: Query scale override.
        attn_drop_rate: Dropout on attention weights.
        proj_drop_rate: Dropout after the projection.
        dropout_layer: Applied to the output (mmcv config, ``DropPath`` by default).
        init_cfg: Accepted for mmdet compatibility; ignored.
    """

    def __init__(
        self,
        *,
        embed_dims: int,
        num_heads: int,
        window_size: int,
        shift_size: int = 0,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        attn_drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        dropout_layer: Mapping[str, Any] | nn.Module | None = DEFAULT_DROPOUT_LAYER,
        init_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not 0 <= shift_size < window_size:
            raise ValueError(f"shift_size must satisfy 0 <= shift_size < window_size={window_size}, got {shift_size}")
        self.window_size = window_size
        self.shift_size = shift_size
        self.w_msa = WindowMSA(
            embed_dims=embed_dims,
            num_heads=num_heads,
            window_size=(window_size, window_size),
            qkv_bias=qkv_bias,
            qk_scale=qk_scale,
            attn_drop_rate=attn_drop_rate,
            proj_drop_rate=proj_drop_rate,
        )
        self.drop = build_dropout(dropout_layer)

    def forward(self, query: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        """Tensor[B, H * W, C] with (H, W) -> Tensor[B, H * W, C]."""
        b, length, c = query.shape
        h, w = hw_shape
        if length != h * w:
            raise ValueError(f"input feature has wrong size: L={length} but H*W={h}*{w}")
        m = self.window_size
        query = query.view(b, h, w, c)
        pad_r = (m - w % m) % m
        pad_b = (m - h % m) % m
        query = F.pad(query, (0, 0, 0, pad_r, 0, pad_b))
        h_pad, w_pad = query.shape[1], query.shape[2]
        if self.shift_size > 0:
            query = torch.roll(query, shifts=(-self.shift_size, -self.shift_size), dims=(1, 2))
            attn_mask = shift_attention_mask(h_pad, w_pad, m, self.shift_size, device=query.device)
        else:
            attn_mask = None
        windows = window_partition(query, m).view(-1, m * m, c)
        windows = self.w_msa(windows, mask=attn_mask).view(-1, m, m, c)
        x = window_reverse(windows, h_pad, w_pad)
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(self.shift_size, self.shift_size), dims=(1, 2))
        if pad_r > 0 or pad_b > 0:
            x = x[:, :h, :w, :].contiguous()
        return self.drop(x.view(b, h * w, c))

    def window_partition(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[B, H, W, C] -> Tensor[B * nW, M, M, C] (mmdet's method)."""
        return window_partition(x, self.window_size)

    def window_reverse(self, windows: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """Tensor[B * nW, M, M, C] -> Tensor[B, H, W, C] (mmdet's method)."""
        return window_reverse(windows, h, w)
