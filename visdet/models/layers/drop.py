"""Stochastic depth (DropPath): drop a residual branch per sample while training.

Shapes: x Tensor[N, ...] -> Tensor[N, ...]; one Bernoulli draw per sample N.
"""

from __future__ import annotations

import torch
from torch import nn


def drop_path(x: torch.Tensor, drop_prob: float = 0.0, training: bool = False) -> torch.Tensor:
    """Zero whole samples of ``x`` with probability ``drop_prob`` and rescale the rest.

    Args:
        x: Tensor[N, ...], any float dtype.
        drop_prob: Probability that a sample's branch is dropped.
        training: Identity unless True.

    Returns:
        ``x / keep_prob * floor(keep_prob + U)`` with ``U ~ uniform[0, 1)`` of shape
        (N, 1, ..., 1) in ``x``'s dtype. mmcv's (and timm's) arithmetic and RNG call: one
        ``torch.rand`` per call, so the same seed drops the same samples as mmdet.
    """
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    random_tensor = keep_prob + torch.rand(shape, dtype=x.dtype, device=x.device)
    return x.div(keep_prob) * random_tensor.floor()


class DropPath(nn.Module):
    """Module form of :func:`drop_path` (active in train mode only).

    Args:
        drop_prob: Probability that a sample's branch is dropped (mmcv's default 0.1).
    """

    def __init__(self, drop_prob: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f"drop_prob must lie in [0, 1), got {drop_prob}")
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply stochastic depth (identity in eval mode)."""
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        """The drop probability, for ``repr``."""
        return f"drop_prob={self.drop_prob}"
