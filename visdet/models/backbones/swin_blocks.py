"""Swin Transformer blocks and stages (mmdet's ``SwinBlock``, ``SwinBlockSequence``).

Shapes: Tensor[B, H * W, C] with (H, W). Keys as mmdet's: ``norm1``, ``attn.w_msa.*``,
``norm2``, ``ffn.layers.0.0``, ``ffn.layers.1`` per block; a stage holds
``blocks.<j>`` and ``downsample`` (``PatchMerging``, absent in the last stage).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
import torch.utils.checkpoint as cp
from torch import nn

from visdet.models.backbones.swin_attention import ShiftWindowMSA
from visdet.models.layers.activation import ActConfig
from visdet.models.layers.ffn import FFN
from visdet.models.layers.norm import NormConfig, build_norm_layer
from visdet.models.layers.patch_merging import PatchMerging

DEFAULT_ACT_CFG: Mapping[str, Any] = MappingProxyType({"type": "GELU"})
DEFAULT_NORM_CFG: Mapping[str, Any] = MappingProxyType({"type": "LN"})


class SwinBlock(nn.Module):
    """Pre-norm (shifted-)window attention and FFN, each with a residual and DropPath.

    Args:
        embed_dims: Channels C.
        num_heads: Attention heads.
        feedforward_channels: FFN hidden channels.
        window_size: Window side.
        shift: Shift the windows by ``window_size // 2`` (odd blocks of a stage).
        qkv_bias: Bias in the qkv projection.
        qk_scale: Query scale override.
        drop_rate: Dropout after the attention projection and in the FFN.
        attn_drop_rate: Dropout on attention weights.
        drop_path_rate: Stochastic depth of both residual branches.
        act_cfg: FFN activation.
        norm_cfg: Norm of ``norm1``/``norm2``.
        with_cp: Gradient checkpointing of the block when its input requires grad.
        init_cfg: Accepted for mmdet compatibility; ignored.
    """

    def __init__(
        self,
        *,
        embed_dims: int,
        num_heads: int,
        feedforward_channels: int,
        window_size: int = 7,
        shift: bool = False,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        act_cfg: ActConfig = DEFAULT_ACT_CFG,
        norm_cfg: NormConfig = DEFAULT_NORM_CFG,
        with_cp: bool = False,
        init_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.init_cfg = init_cfg
        self.with_cp = with_cp
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = ShiftWindowMSA(
            embed_dims=embed_dims,
            num_heads=num_heads,
            window_size=window_size,
            shift_size=window_size // 2 if shift else 0,
            qkv_bias=qkv_bias,
            qk_scale=qk_scale,
            attn_drop_rate=attn_drop_rate,
            proj_drop_rate=drop_rate,
            dropout_layer={"type": "DropPath", "drop_prob": drop_path_rate},
        )
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=feedforward_channels,
            num_fcs=2,
            ffn_drop=drop_rate,
            dropout_layer={"type": "DropPath", "drop_prob": drop_path_rate},
            act_cfg=act_cfg,
            add_identity=True,
        )

    def _inner_forward(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), hw_shape)
        return self.ffn(self.norm2(x), identity=x)

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        """Tensor[B, H * W, C] with (H, W) -> Tensor[B, H * W, C]."""
        if self.with_cp and x.requires_grad:
            # non-reentrant checkpointing replays the DropPath draws with the saved RNG state
            return cp.checkpoint(self._inner_forward, x, hw_shape, use_reentrant=False)
        return self._inner_forward(x, hw_shape)


class SwinBlockSequence(nn.Module):
    """One Swin stage: ``depth`` blocks alternating plain and shifted windows, then a downsample.

    Args:
        embed_dims: Channels C.
        num_heads: Attention heads.
        feedforward_channels: FFN hidden channels.
        depth: Number of blocks.
        window_size: Window side.
        qkv_bias: Bias in the qkv projections.
        qk_scale: Query scale override.
        drop_rate: Dropout rate.
        attn_drop_rate: Attention dropout rate.
        drop_path_rate: One rate for every block, or a list of ``depth`` rates.
        downsample: ``PatchMerging`` applied after the blocks, or ``None``.
        act_cfg: FFN activation.
        norm_cfg: Block norms.
        with_cp: Gradient checkpointing.
        init_cfg: Accepted for mmdet compatibility; ignored.
    """

    def __init__(
        self,
        *,
        embed_dims: int,
        num_heads: int,
        feedforward_channels: int,
        depth: int,
        window_size: int = 7,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float | Sequence[float] = 0.0,
        downsample: PatchMerging | None = None,
        act_cfg: ActConfig = DEFAULT_ACT_CFG,
        norm_cfg: NormConfig = DEFAULT_NORM_CFG,
        with_cp: bool = False,
        init_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if isinstance(drop_path_rate, Sequence):
            rates = list(drop_path_rate)
            if len(rates) != depth:
                raise ValueError(f"drop_path_rate has {len(rates)} entries for depth={depth}")
        else:
            rates = [drop_path_rate] * depth
        self.blocks = nn.ModuleList(
            SwinBlock(
                embed_dims=embed_dims,
                num_heads=num_heads,
                feedforward_channels=feedforward_channels,
                window_size=window_size,
                shift=i % 2 == 1,
                qkv_bias=qkv_bias,
                qk_scale=qk_scale,
                drop_rate=drop_rate,
                attn_drop_rate=attn_drop_rate,
                drop_path_rate=rates[i],
                act_cfg=act_cfg,
                norm_cfg=norm_cfg,
                with_cp=with_cp,
            )
            for i in range(depth)
        )
        self.downsample = downsample

    def forward(
        self, x: torch.Tensor, hw_shape: tuple[int, int]
    ) -> tuple[torch.Tensor, tuple[int, int], torch.Tensor, tuple[int, int]]:
        """Returns (next stage input, its (H, W), this stage's output before downsampling, its (H, W))."""
        for block in self.blocks:
            x = block(x, hw_shape)
        if self.downsample is not None:
            x_down, down_hw_shape = self.downsample(x, hw_shape)
            return x_down, down_hw_shape, x, hw_shape
        return x, hw_shape, x, hw_shape
