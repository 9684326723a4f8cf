"""``WeightedLoss``: the loss-module wrapper that every elementwise loss shares.

A loss module is its formula plus mmdet's bookkeeping: an elementwise loss, multiplied by
the elementwise ``weight``, reduced (``"none"``/``"mean"``/``"sum"``, or the sum divided by
``avg_factor``; see :mod:`visdet.models.losses.reduction`) and scaled by ``loss_weight``.
A subclass writes the formula alone, in ``elementwise(pred, target)``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from visdet.models.losses.reduction import check_reduction, resolve_reduction, weight_reduce_loss


class WeightedLoss(nn.Module):
    """``loss_weight * reduce(weight * elementwise(pred, target))``.

    Args:
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        loss_weight: Multiplier of the loss.
    """

    # mmdet's regression losses (L1, SmoothL1, IoU family) return ``(pred * weight).sum()``
    # when no weight is positive: zero, without evaluating the formula, graph connected.
    zero_weight_shortcut: ClassVar[bool] = False

    def __init__(self, *, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__()
        check_reduction(reduction)
        self.reduction = reduction
        self.loss_weight = loss_weight

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The unweighted, unreduced loss of ``pred`` against ``target``."""
        raise NotImplementedError

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | torch.Tensor | None = None,
        reduction_override: str | None = None,
    ) -> torch.Tensor:
        """The weighted, reduced loss.

        Args:
            pred: Predictions.
            target: Targets (the shape ``elementwise`` expects).
            weight: Elementwise weights or ``None``.
            avg_factor: Divide the sum by this instead of averaging.
            reduction_override: Use this reduction instead of the configured one.

        Returns:
            ``loss_weight`` times the reduced loss.
        """
        if self.zero_weight_shortcut and weight is not None and not torch.any(weight > 0):
            if pred.dim() == weight.dim() + 1:
                weight = weight.unsqueeze(1)
            return (pred * weight).sum()
        reduction = resolve_reduction(self.reduction, reduction_override)
        loss = weight_reduce_loss(self.elementwise(pred, target), weight, reduction, avg_factor)
        return self.loss_weight * loss
