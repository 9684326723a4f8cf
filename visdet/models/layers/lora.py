"""LoRA adapters for ``nn.Linear`` and ``nn.Conv2d`` that keep the wrapped layer's ``state_dict`` keys.

A LoRA layer computes its base layer with the weight ``W + (alpha / r) * B @ A``, where
``A`` is ``Tensor[r, fan_in]`` and ``B`` is ``Tensor[out, r]`` (``fan_in`` is
``in_features`` for a linear layer and ``in_channels / groups * kh * kw`` for a
convolution, so the update has the weight's own shape and works for any stride,
padding, dilation and groups). ``B`` starts at zero, so a freshly wrapped layer computes
exactly what the base layer computes.

The layers subclass ``nn.Linear`` / ``nn.Conv2d`` and hold the base layer's own
``weight`` and ``bias`` parameters, so ``state_dict`` keeps mmdet's keys
(``...conv1.weight``) and adds ``...conv1.lora_A`` / ``...conv1.lora_B``. ``merged()``
returns a plain layer with the update added to the weight.

Why not ``peft``: peft 0.21 (checked on visdet's detectors) renames the base keys
(``conv1.weight`` -> ``conv1.base_layer.weight``), builds its convolution adapter
without the base layer's ``dilation`` (a dilated 3x3 conv then fails with a shape
mismatch), cannot merge grouped convolutions, and brings ``transformers`` and
``accelerate`` along. A weight-space update has none of these problems in ~100 lines.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CONV_ATTRIBUTES = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "transposed",
                   "output_padding", "groups", "padding_mode", "_reversed_padding_repeated_twice")  # fmt: skip


class _LoRAMixin:
    """The adapter parameters and the low-rank weight update (shared by both layer kinds)."""

    weight: nn.Parameter
    lora_A: nn.Parameter
    lora_B: nn.Parameter
    scaling: float
    rank: int

    def _init_lora(self, *, fan_in: int, rank: int, alpha: float, dropout: float) -> None:
        if rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {rank}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {dropout}")
        weight = self.weight
        self.rank, self.alpha, self.scaling = rank, float(alpha), float(alpha) / rank
        self.lora_A = nn.Parameter(torch.empty(rank, fan_in, dtype=weight.dtype, device=weight.device))
        self.lora_B = nn.Parameter(torch.zeros(weight.shape[0], rank, dtype=weight.dtype, device=weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # as the LoRA paper's code and peft
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def delta_weight(self) -> Tensor:
        """``(alpha / r) * B @ A`` in the weight's shape."""
        return (self.lora_B @ self.lora_A).view(self.weight.shape) * self.scaling

    def extra_repr(self) -> str:
        """The base layer's description plus rank and alpha."""
        return f"{super().extra_repr()}, rank={self.rank}, alpha={self.alpha}"  # type: ignore[misc]

    def _dropout_active(self) -> bool:
        return isinstance(self.lora_dropout, nn.Dropout) and self.training  # type: ignore[attr-defined]


class LoRALinear(_LoRAMixin, nn.Linear):
    """``nn.Linear`` with a LoRA update; see the module docstring.

    Args:
        base: The layer to adapt; its ``weight`` and ``bias`` parameters are shared, not copied.
        rank: ``r``, the rank of the update.
        alpha: The update is scaled by ``alpha / rank``.
        dropout: Dropout on the adapter branch's input in training (0: none).
    """

    def __init__(self, *, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0) -> None:
        nn.Module.__init__(self)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = base.weight
        self.bias = base.bias
        self._init_lora(fan_in=base.in_features, rank=rank, alpha=alpha, dropout=dropout)

    def forward(self, x: Tensor) -> Tensor:
        """``x @ (W + dW).T + b``; with dropout in training, the update sees the dropped-out input."""
        if self._dropout_active():
            update = self.lora_dropout(x) @ self.delta_weight().T
            return F.linear(x, self.weight, self.bias) + update
        return F.linear(x, self.weight + self.delta_weight(), self.bias)

    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` with the update added to its weight."""
        layer = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None,
                          device=self.weight.device, dtype=self.weight.dtype)  # fmt: skip
        with torch.no_grad():
            layer.weight.copy_(self.weight + self.delta_weight())
            if self.bias is not None:
                layer.bias.copy_(self.bias)
        layer.train(self.training)
        return layer


class LoRAConv2d(_LoRAMixin, nn.Conv2d):
    """``nn.Conv2d`` with a LoRA update of its weight (any stride, padding, dilation, groups).

    Args:
        base: The layer to adapt; its ``weight`` and ``bias`` parameters are shared, not copied.
        rank: ``r``, the rank of the update.
        alpha: The update is scaled by ``alpha / rank``.
        dropout: Dropout on the adapter branch's input in training (0: none).
    """

    def __init__(self, *, base: nn.Conv2d, rank: int, alpha: float, dropout: float = 0.0) -> None:
        nn.Module.__init__(self)
        for name in CONV_ATTRIBUTES:
            setattr(self, name, getattr(base, name))
        self.weight = base.weight
        self.bias = base.bias
        self._init_lora(fan_in=base.weight[0].numel(), rank=rank, alpha=alpha, dropout=dropout)

    def forward(self, x: Tensor) -> Tensor:
        """``conv(x, W + dW) + b``; with dropout in training, the update sees the dropped-out input."""
        if self._dropout_active():
            update = self._conv_forward(self.lora_dropout(x), self.delta_weight(), None)
            return self._conv_forward(x, self.weight, self.bias) + update
        return self._conv_forward(x, self.weight + self.delta_weight(), self.bias)

    def merged(self) -> nn.Conv2d:
        """A plain ``nn.Conv2d`` with the update added to its weight."""
        layer = nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size, stride=self.stride,
                          padding=self.padding, dilation=self.dilation, groups=self.groups,
                          bias=self.bias is not None, padding_mode=self.padding_mode,
                          device=self.weight.device, dtype=self.weight.dtype)  # fmt: skip
        with torch.no_grad():
            layer.weight.copy_(self.weight + self.delta_weight())
            if self.bias is not None:
                layer.bias.copy_(self.bias)
        layer.train(self.training)
        return layer


LoRALayer = LoRALinear | LoRAConv2d


def lora_layer(base: nn.Module, *, rank: int, alpha: float, dropout: float = 0.0) -> LoRALayer:
    """The LoRA layer around ``base`` (an ``nn.Linear`` or ``nn.Conv2d``).

    Raises:
        TypeError: ``base`` is another kind of layer, or already a LoRA layer.
    """
    if isinstance(base, (LoRALinear, LoRAConv2d)):
        raise TypeError(f"{type(base).__name__} already has a LoRA adapter")
    if type(base) is nn.Linear:
        return LoRALinear(base=base, rank=rank, alpha=alpha, dropout=dropout)
    if type(base) is nn.Conv2d:
        return LoRAConv2d(base=base, rank=rank, alpha=alpha, dropout=dropout)
    raise TypeError(f"LoRA adapts nn.Linear and nn.Conv2d layers, not {type(base).__name__}")
