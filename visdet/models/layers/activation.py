"""Activation layers built from an mmdet-style ``act_cfg`` such as ``{"type": "ReLU"}``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn


class Swish(nn.Module):
    """mmcv's ``Swish``: ``x * sigmoid(x)`` written as that product (no ``inplace``).

    The same function as ``nn.SiLU`` (mmcv's ``SiLU``), but torch's fused SiLU kernel may
    round differently in the last bit, so a config that names ``Swish`` gets this product,
    as mmcv computes it (YOLOX-style necks default to it).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor of any shape -> the same shape."""
        return x * torch.sigmoid(x)


#: An activation config: an mmdet dict or a zero-argument callable returning a module.
ActConfig = Mapping[str, Any] | Callable[[], nn.Module]

ACTIVATION_TYPES: Mapping[str, type[nn.Module]] = {
    "ReLU": nn.ReLU,
    "LeakyReLU": nn.LeakyReLU,
    "PReLU": nn.PReLU,
    "RReLU": nn.RReLU,
    "ReLU6": nn.ReLU6,
    "ELU": nn.ELU,
    "Sigmoid": nn.Sigmoid,
    "Tanh": nn.Tanh,
    "SiLU": nn.SiLU,
    "Swish": Swish,
    "HSwish": nn.Hardswish,
    "GELU": nn.GELU,
}

# Types mmcv's ConvModule gives no ``inplace`` argument (their constructors take none).
NO_INPLACE_TYPES = frozenset({"Tanh", "PReLU", "Sigmoid", "Swish", "GELU"})


def build_activation_layer(cfg: ActConfig, *, inplace: bool | None = None) -> nn.Module:
    """Build an activation module.

    Args:
        cfg: ``{"type": <one of ACTIVATION_TYPES>, ...constructor options}`` or a
            zero-argument callable returning the module.
        inplace: Default for the ``inplace`` option when the type takes one and the
            config does not set it (mmcv's ConvModule passes its own ``inplace``).

    Returns:
        The activation module.

    Raises:
        ValueError: unknown ``type``.
        TypeError: ``cfg`` is neither a mapping nor a callable.
    """
    if isinstance(cfg, Mapping):
        if "type" not in cfg:
            raise ValueError(f"act_cfg needs a 'type' key, got keys {sorted(cfg)}")
        options = dict(cfg)
        act_type = options.pop("type")
        if act_type not in ACTIVATION_TYPES:
            raise ValueError(f"act_cfg type {act_type!r} is not supported; choose from {sorted(ACTIVATION_TYPES)}")
        if inplace is not None and act_type not in NO_INPLACE_TYPES:
            options.setdefault("inplace", inplace)
        return ACTIVATION_TYPES[act_type](**options)
    if callable(cfg):
        layer = cfg()
        if not isinstance(layer, nn.Module):
            raise TypeError(f"act_cfg callable returned {type(layer).__name__}, not nn.Module")
        return layer
    raise TypeError(f"act_cfg must be a mapping or a callable, got {type(cfg).__name__}")
