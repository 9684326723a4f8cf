"""Feed-forward network of transformer blocks (mmcv's ``FFN``), with its state-dict layout.

Shapes: x Tensor[N, L, embed_dims] -> Tensor[N, L, embed_dims].

Keys as mmcv's: ``layers.0.0`` (first Linear; ``layers.0.1`` activation, ``layers.0.2``
dropout), ``layers.<k>.0`` for further hidden Linears, then ``layers.<num_fcs - 1>`` (the
output Linear) and ``layers.<num_fcs>`` (dropout).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from visdet.models.layers.activation import ActConfig, build_activation_layer
from visdet.models.layers.drop import DropPath

#: mmcv's default ``act_cfg`` of ``FFN``.
DEFAULT_ACT_CFG: Mapping[str, Any] = MappingProxyType({"type": "ReLU", "inplace": True})


def build_dropout(cfg: Mapping[str, Any] | nn.Module | None) -> nn.Module:
    """A dropout layer from mmcv's ``dropout_layer`` config.

    Args:
        cfg: ``{"type": "DropPath" | "Dropout", "drop_prob": p}`` (mmcv's defaults 0.1 and
            0.5), a built module, or ``None`` (identity).

    Returns:
        ``DropPath``, ``nn.Dropout`` (mmcv's ``Dropout`` is ``nn.Dropout`` with ``drop_prob``
        renamed), the module given, or ``nn.Identity``.
    """
    if cfg is None:
        return nn.Identity()
    if isinstance(cfg, nn.Module):
        return cfg
    if not isinstance(cfg, Mapping) or "type" not in cfg:
        raise TypeError(f"dropout_layer must be a dict with a 'type', a module or None, got {cfg!r}")
    options = dict(cfg)
    kind = options.pop("type")
    allowed = {"DropPath": {"drop_prob"}, "Dropout": {"drop_prob", "inplace"}}
    if kind not in allowed:
        raise ValueError(f"dropout_layer type {kind!r} is not supported; choose 'DropPath' or 'Dropout'")
    unknown = set(options) - allowed[kind]
    if unknown:
        raise ValueError(f"dropout_layer {dict(cfg)!r}: unknown keys {sorted(unknown)}")
    if kind == "DropPath":
        return DropPath(options.get("drop_prob", 0.1))
    return nn.Dropout(p=options.get("drop_prob", 0.5), inplace=options.get("inplace", False))


class FFN(nn.Module):
    """``num_fcs`` Linear layers with activation and dropout, plus an optional identity.

    Args:
        embed_dims: Input and output features.
        feedforward_channels: Hidden features.
        num_fcs: Number of Linear layers (at least 2).
        act_cfg: Activation after each hidden Linear.
        ffn_drop: Dropout probability after each Linear.
        dropout_layer: Applied to the branch before the identity is added (mmcv config
            dict such as ``{"type": "DropPath", "drop_prob": 0.1}``); ``None``: identity.
        add_identity: Return ``identity + branch`` (``identity`` defaults to the input).
        init_cfg: Accepted for mmcv compatibility; ignored (torch's Linear init is mmcv's).
        layer_scale_init_value: Must be 0 (LayerScale is not implemented).
    """

    def __init__(
        self,
        *,
        embed_dims: int = 256,
        feedforward_channels: int = 1024,
        num_fcs: int = 2,
        act_cfg: ActConfig = DEFAULT_ACT_CFG,
        ffn_drop: float = 0.0,
        dropout_layer: Mapping[str, Any] | nn.Module | None = None,
        add_identity: bool = True,
        init_cfg: Mapping[str, Any] | None = None,
        layer_scale_init_value: float = 0.0,
    ) -> None:
        super().__init__()
        if num_fcs < 2:
            raise ValueError(f"num_fcs should be no less than 2, got {num_fcs}")
        if layer_scale_init_value > 0:
            raise NotImplementedError("FFN layer_scale_init_value > 0 (LayerScale) is not implemented in visdet")
        self.embed_dims = embed_dims
        self.feedforward_channels = feedforward_channels
        self.num_fcs = num_fcs
        layers: list[nn.Module] = []
        in_channels = embed_dims
        for _ in range(num_fcs - 1):
            layers.append(
                nn.Sequential(
                    nn.Linear(in_channels, feedforward_channels),
                    build_activation_layer(act_cfg),
                    nn.Dropout(ffn_drop),
                )
            )
            in_channels = feedforward_channels
        layers.append(nn.Linear(feedforward_channels, embed_dims))
        layers.append(nn.Dropout(ffn_drop))
        self.layers = nn.Sequential(*layers)
        self.dropout_layer = build_dropout(dropout_layer)
        self.add_identity = add_identity
        self.gamma2 = nn.Identity()

    def forward(self, x: torch.Tensor, identity: torch.Tensor | None = None) -> torch.Tensor:
        """Tensor[..., embed_dims] -> Tensor[..., embed_dims] (``identity`` + branch if ``add_identity``)."""
        out = self.gamma2(self.layers(x))
        if not self.add_identity:
            return self.dropout_layer(out)
        if identity is None:
            identity = x
        return identity + self.dropout_layer(out)
