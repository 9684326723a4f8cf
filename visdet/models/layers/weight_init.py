"""Weight initialisers with mmengine's semantics (same torch.nn.init calls, same order).

Each function takes a module with optional ``weight`` and ``bias`` attributes and fills
them in place; drawing from torch's global RNG in the same order as mmengine means the
same seed gives the same weights.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

Distribution = Literal["normal", "uniform"]


def _fill_bias(module: nn.Module, bias: float) -> None:
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, bias)


def _has_weight(module: nn.Module) -> bool:
    return getattr(module, "weight", None) is not None


def constant_init(module: nn.Module, val: float, bias: float = 0.0) -> None:
    """Fill ``weight`` with ``val`` and ``bias`` with ``bias``."""
    if _has_weight(module):
        nn.init.constant_(module.weight, val)
    _fill_bias(module, bias)


def kaiming_init(
    module: nn.Module,
    *,
    a: float = 0.0,
    mode: Literal["fan_in", "fan_out"] = "fan_out",
    nonlinearity: str = "relu",
    bias: float = 0.0,
    distribution: Distribution = "normal",
) -> None:
    """He initialisation of ``weight`` (mmengine's default: fan_out, relu, normal)."""
    if distribution not in ("normal", "uniform"):
        raise ValueError(f"distribution must be 'normal' or 'uniform', got {distribution!r}")
    if _has_weight(module):
        if distribution == "uniform":
            nn.init.kaiming_uniform_(module.weight, a=a, mode=mode, nonlinearity=nonlinearity)
        else:
            nn.init.kaiming_normal_(module.weight, a=a, mode=mode, nonlinearity=nonlinearity)
    _fill_bias(module, bias)


def xavier_init(
    module: nn.Module,
    *,
    gain: float = 1.0,
    bias: float = 0.0,
    distribution: Distribution = "normal",
) -> None:
    """Glorot initialisation of ``weight``; ``bias`` filled with a constant."""
    if distribution not in ("normal", "uniform"):
        raise ValueError(f"distribution must be 'normal' or 'uniform', got {distribution!r}")
    if _has_weight(module):
        if distribution == "uniform":
            nn.init.xavier_uniform_(module.weight, gain=gain)
        else:
            nn.init.xavier_normal_(module.weight, gain=gain)
    _fill_bias(module, bias)


def normal_init(module: nn.Module, *, mean: float = 0.0, std: float = 1.0, bias: float = 0.0) -> None:
    """Normal ``weight`` with the given mean and std; ``bias`` filled with a constant."""
    if _has_weight(module):
        nn.init.normal_(module.weight, mean, std)
    _fill_bias(module, bias)


def bias_init_with_prob(prior_prob: float) -> float:
    """The bias b with sigmoid(b) == prior_prob (focal-loss style classifier init)."""
    if not 0.0 < prior_prob < 1.0:
        raise ValueError(f"prior_prob must lie in (0, 1), got {prior_prob}")
    return float(-math.log((1 - prior_prob) / prior_prob))


def trunc_normal_(tensor: torch.Tensor, *, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0) -> torch.Tensor:  # fmt: skip
    """Fill ``tensor`` from N(mean, std) truncated to [a, b], by mmengine's inverse-CDF draw.

    One ``uniform_`` on [2 cdf(a) - 1, 2 cdf(b) - 1], then ``erfinv_``, scale, shift and clamp.
    torch's own ``nn.init.trunc_normal_`` switched to rejection sampling (torch 2.13), which
    draws other numbers; this keeps mmengine's weights for a given seed.
    """

    def cdf(x: float) -> float:
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    with torch.no_grad():
        lower, upper = cdf((a - mean) / std), cdf((b - mean) / std)
        tensor.uniform_(2 * lower - 1, 2 * upper - 1)
        tensor.erfinv_()
        tensor.mul_(std * math.sqrt(2.0))
        tensor.add_(mean)
        tensor.clamp_(min=a, max=b)
    return tensor


def trunc_normal_init(
    module: nn.Module, *, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, bias: float = 0.0
) -> None:
    """Truncated-normal ``weight`` (cut at the absolute values ``a``, ``b``); constant ``bias``.

    mmengine's ``trunc_normal_init`` (see :func:`trunc_normal_`): the same seed gives the
    same weights.
    """
    if _has_weight(module):
        trunc_normal_(module.weight, mean=mean, std=std, a=a, b=b)
    _fill_bias(module, bias)
