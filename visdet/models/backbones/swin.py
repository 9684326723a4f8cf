"""Swin Transformer backbone (Liu et al. 2021) with mmdet 3.3's structure, names and init.

Shapes: image Tensor[N, in_channels, H, W] -> tuple of Tensor[N, C_i, H_i, W_i] for each
stage i in ``out_indices``, C_i = embed_dims * 2**i, H_0 = ceil(H / patch_size) and each
later stage halving (rounding up: maps are zero-padded bottom/right where needed).

State-dict keys follow mmdet: ``patch_embed.projection``/``patch_embed.norm``,
``absolute_pos_embed`` (with ``use_abs_pos_embed``), ``stages.<i>.blocks.<j>.*`` (see
:mod:`visdet.models.backbones.swin_blocks`), ``stages.<i>.downsample.{norm,reduction}``,
and one norm per output, ``norm<i>``.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from visdet.models.backbones.swin_blocks import DEFAULT_ACT_CFG, DEFAULT_NORM_CFG, SwinBlockSequence
from visdet.models.backbones.swin_converter import swin_converter
from visdet.models.layers.activation import ActConfig
from visdet.models.layers.norm import NormConfig, build_norm_layer
from visdet.models.layers.patch_embed import PatchEmbed
from visdet.models.layers.patch_merging import PatchMerging
from visdet.models.layers.weight_init import constant_init, trunc_normal_, trunc_normal_init

_NO_DOWNLOAD = "visdet never downloads weights: give a local checkpoint file"


class SwinTransformer(nn.Module):
    """Swin Transformer returning the normalised feature maps of the stages in ``out_indices``.

    Args:
        pretrain_img_size: Image size of pretraining (int or pair); sizes
            ``absolute_pos_embed``.
        in_channels: Image channels.
        embed_dims: Channels of the first stage.
        patch_size: Patch size of the embedding conv (must equal ``strides[0]``).
        window_size: Attention window side.
        mlp_ratio: FFN hidden channels per channel.
        depths: Blocks per stage.
        num_heads: Attention heads per stage.
        strides: Patch-embedding stride, then the merging stride before stages 2, 3, ...
        out_indices: Stages whose (normalised) outputs are returned.
        qkv_bias: Bias in the qkv projections.
        qk_scale: Query scale override (``None``: head_dims ** -0.5).
        patch_norm: LayerNorm in patch embedding and merging.
        drop_rate: Dropout after position embedding, attention projection and FFN.
        attn_drop_rate: Dropout on attention weights.
        drop_path_rate: Stochastic depth of the last block; block k of all K blocks gets
            ``linspace(0, drop_path_rate, K)[k]`` (computed in torch's default dtype).
        use_abs_pos_embed: Add a learned absolute position embedding to the patches.
            As in mmdet, it must match the patch grid of the input (pretrain_img_size).
        act_cfg: FFN activation (``{"type": "GELU"}``).
        norm_cfg: Norm layers (``{"type": "LN"}``).
        with_cp: Gradient checkpointing in every block.
        pretrained: Deprecated path of a checkpoint; ignored with a warning, as mmdet 3.3 ignores it
            (pass a ``Pretrained`` ``init_cfg`` instead).
        convert_weights: The ``Pretrained`` checkpoint uses the original Swin naming;
            :func:`swin_converter` renames it when ``init_weights`` loads it.
        frozen_stages: Patch embedding and stages 1..frozen_stages (with their output
            norms) stop requiring grad and stay in eval mode; -1 freezes nothing.
        init_cfg: ``None`` (mmdet's truncated-normal init) or
            ``{"type": "Pretrained", "checkpoint": <local file>}``, loaded by
            ``init_weights`` (never downloaded).
    """

    def __init__(
        self,
        *,
        pretrain_img_size: int | tuple[int, ...] = 224,
        in_channels: int = 3,
        embed_dims: int = 96,
        patch_size: int = 4,
        window_size: int = 7,
        mlp_ratio: int = 4,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        strides: Sequence[int] = (4, 2, 2, 2),
        out_indices: Sequence[int] = (0, 1, 2, 3),
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        patch_norm: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        use_abs_pos_embed: bool = False,
        act_cfg: ActConfig = DEFAULT_ACT_CFG,
        norm_cfg: NormConfig = DEFAULT_NORM_CFG,
        with_cp: bool = False,
        pretrained: str | None = None,
        convert_weights: bool = False,
        frozen_stages: int = -1,
        init_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if isinstance(pretrain_img_size, int):
            pretrain_img_size = (pretrain_img_size, pretrain_img_size)
        elif isinstance(pretrain_img_size, (tuple, list)):
            if len(pretrain_img_size) == 1:
                pretrain_img_size = (pretrain_img_size[0], pretrain_img_size[0])
            if len(pretrain_img_size) != 2:
                raise ValueError(f"pretrain_img_size should have length 1 or 2, got {len(pretrain_img_size)}")
        if init_cfg and pretrained:
            raise ValueError("init_cfg and pretrained cannot be specified at the same time")
        if isinstance(pretrained, str):
            # mmdet 3.3 quirk: SwinTransformer turns `pretrained` into a Pretrained init_cfg and then
            # overwrites it with the `init_cfg` argument (None) in BaseModule.__init__, so the file is
            # never loaded. visdet does the same, and says so louder than mmdet's deprecation warning.
            warnings.warn(f"SwinTransformer(pretrained={pretrained!r}) loads nothing, as in mmdet 3.3 (its "
                          "init_cfg is overwritten); use init_cfg={'type': 'Pretrained', 'checkpoint': ...}",
                          UserWarning, stacklevel=2)  # fmt: skip
        elif pretrained is not None:
            raise TypeError(f"pretrained must be a str or None, got {type(pretrained).__name__}")
        if init_cfg is not None and (init_cfg.get("type") != "Pretrained" or "checkpoint" not in init_cfg):
            raise NotImplementedError(f"init_cfg {dict(init_cfg)!r}: only {{'type': 'Pretrained', 'checkpoint': ...}}")
        num_layers = len(depths)
        if len(num_heads) != num_layers or len(strides) != num_layers:
            raise ValueError(
                f"depths, num_heads and strides need one entry per stage, got {tuple(depths)}, "
                f"{tuple(num_heads)}, {tuple(strides)}"
            )
        if strides[0] != patch_size:
            raise ValueError(f"Swin uses non-overlapping patch embedding: strides[0]={strides[0]} "
                             f"must equal patch_size={patch_size}")  # fmt: skip
        if not out_indices or min(out_indices) < 0 or max(out_indices) >= num_layers:
            raise ValueError(f"out_indices must be stage indices below {num_layers}, got {tuple(out_indices)}")

        self.pretrain_img_size = tuple(pretrain_img_size)
        self.convert_weights = convert_weights
        self.frozen_stages = frozen_stages
        self.init_cfg = dict(init_cfg) if init_cfg is not None else None
        self.out_indices = tuple(out_indices)
        self.use_abs_pos_embed = use_abs_pos_embed
        self.in_channels = in_channels

        self.patch_embed = PatchEmbed(
            in_channels=in_channels,
            embed_dims=embed_dims,
            conv_type="Conv2d",
            kernel_size=patch_size,
            stride=strides[0],
            norm_cfg=norm_cfg if patch_norm else None,
        )
        if use_abs_pos_embed:
            rows, cols = (s // patch_size for s in self.pretrain_img_size)
            self.absolute_pos_embed = nn.Parameter(torch.zeros((1, rows * cols, embed_dims)))
        self.drop_after_pos = nn.Dropout(p=drop_rate)

        # the stochastic-depth rule: linear in the block's index over all blocks, computed in
        # torch's default dtype as mmdet does (the rates are then Python floats)
        rates = [x.item() for x in torch.linspace(0, drop_path_rate, sum(depths))]
        self.stages = nn.ModuleList()
        channels = embed_dims
        for i in range(num_layers):
            downsample = None
            if i < num_layers - 1:
                downsample = PatchMerging(
                    in_channels=channels,
                    out_channels=2 * channels,
                    stride=strides[i + 1],
                    norm_cfg=norm_cfg if patch_norm else None,
                )
            self.stages.append(
                SwinBlockSequence(
                    embed_dims=channels,
                    num_heads=num_heads[i],
                    feedforward_channels=mlp_ratio * channels,
                    depth=depths[i],
                    window_size=window_size,
                    qkv_bias=qkv_bias,
                    qk_scale=qk_scale,
                    drop_rate=drop_rate,
                    attn_drop_rate=attn_drop_rate,
                    drop_path_rate=rates[sum(depths[:i]) : sum(depths[: i + 1])],
                    downsample=downsample,
                    act_cfg=act_cfg,
                    norm_cfg=norm_cfg,
                    with_cp=with_cp,
                )
            )
            if downsample is not None:
                channels = downsample.out_channels
        self.num_features = [int(embed_dims * 2**i) for i in range(num_layers)]
        for i in self.out_indices:
            self.add_module(f"norm{i}", build_norm_layer(norm_cfg, self.num_features[i])[1])
        self._freeze_stages()

    @property
    def out_channels(self) -> tuple[int, ...]:
        """Channels of each returned feature map."""
        return tuple(self.num_features[i] for i in self.out_indices)

    def train(self, mode: bool = True) -> SwinTransformer:
        """Set train/eval mode; frozen parts stay in eval mode."""
        super().train(mode)
        self._freeze_stages()
        return self

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0:
            self.patch_embed.eval()
            for param in self.patch_embed.parameters():
                param.requires_grad = False
            if self.use_abs_pos_embed:
                self.absolute_pos_embed.requires_grad = False
            self.drop_after_pos.eval()
        for i in range(1, self.frozen_stages + 1):
            frozen: list[nn.Module] = [self.stages[i - 1]]
            if i - 1 in self.out_indices:
                frozen.append(getattr(self, f"norm{i - 1}"))
            for module in frozen:
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    def init_weights(self) -> None:
        """Initialise as mmdet: truncated-normal (std 0.02) Linears and position embedding, LayerNorms 1/0.

        Draws in mmdet's order (the position embedding, then the Linears in module order),
        so one seed gives mmdet's weights; the relative position bias tables stay zero, as
        mmdet's Swin never calls ``WindowMSA.init_weights``. With a ``Pretrained``
        ``init_cfg`` the local checkpoint is loaded instead (:meth:`load_pretrained`).
        """
        if self.init_cfg is not None:
            self.load_pretrained(self.init_cfg["checkpoint"])
            return
        if self.use_abs_pos_embed:
            trunc_normal_(self.absolute_pos_embed, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_init(module, std=0.02, bias=0.0)
            elif isinstance(module, nn.LayerNorm):
                constant_init(module, 1.0)

    def load_pretrained(self, checkpoint: str) -> tuple[list[str], list[str]]:
        """Load a local backbone checkpoint as mmdet's ``init_weights`` does (non-strict).

        The weights are read weights-only; with ``convert_weights`` they are renamed from
        the original Swin layout first. Only ``backbone.*`` entries are kept (the prefix
        stripped); a ``relative_position_bias_table`` of another window size is resized
        bicubically (and the model keeps its own ``relative_position_index``); tables with
        another head count, and an ``absolute_pos_embed`` of another shape, are skipped
        with a warning. (mmdet fails on the index buffers of another window size.)

        Returns:
            (missing keys, unexpected keys) of the non-strict load.
        """
        from visdet.checkpoint import read_state_dict

        if "://" in str(checkpoint):
            raise ValueError(f"init_cfg checkpoint {checkpoint!r}: {_NO_DOWNLOAD}")
        loaded = read_state_dict(checkpoint)
        if self.convert_weights:
            loaded = swin_converter(loaded)
        state = OrderedDict((k[len("backbone.") :], v) for k, v in loaded.items() if k.startswith("backbone."))
        if not state:
            raise ValueError(
                f"{checkpoint!r} has no 'backbone.*' weights (for an original Swin checkpoint set convert_weights=True)"
            )
        own = self.state_dict()
        if (
            "absolute_pos_embed" in state
            and state["absolute_pos_embed"].shape != own.get("absolute_pos_embed", torch.empty(0)).shape
        ):
            warnings.warn(f"{checkpoint!r}: absolute_pos_embed has another shape; not loaded", stacklevel=2)
            del state["absolute_pos_embed"]
        for key in [k for k in state if "relative_position_index" in k and k in own]:
            if state[key].shape != own[key].shape:  # derived from the window size: keep the model's
                del state[key]
        for key in [k for k in state if "relative_position_bias_table" in k and k in own]:
            table, current = state[key], own[key]
            (length1, heads1), (length2, heads2) = table.shape, current.shape
            if heads1 != heads2:
                warnings.warn(f"{checkpoint!r}: {key} has {heads1} heads, not {heads2}; not loaded", stacklevel=2)
                del state[key]
            elif length1 != length2:
                side1, side2 = int(length1**0.5), int(length2**0.5)
                resized = F.interpolate(table.permute(1, 0).reshape(1, heads1, side1, side1), size=(side2, side2),
                                        mode="bicubic")  # fmt: skip
                state[key] = resized.view(heads2, length2).permute(1, 0).contiguous()
        result = self.load_state_dict(state, strict=False)
        return list(result.missing_keys), list(result.unexpected_keys)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Tensor[N, in_channels, H, W] -> one Tensor[N, C_i, H_i, W_i] per entry of ``out_indices``."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"SwinTransformer expects input of shape (N, {self.in_channels}, H, W), "
                             f"got {tuple(x.shape)}")  # fmt: skip
        x, hw_shape = self.patch_embed(x)
        if self.use_abs_pos_embed:
            x = x + self.absolute_pos_embed
        x = self.drop_after_pos(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x, hw_shape, out, out_hw_shape = stage(x, hw_shape)
            if i in self.out_indices:
                out = getattr(self, f"norm{i}")(out)
                outs.append(out.view(-1, *out_hw_shape, self.num_features[i]).permute(0, 3, 1, 2).contiguous())
        return tuple(outs)
