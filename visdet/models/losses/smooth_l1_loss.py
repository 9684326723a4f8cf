"""Smooth L1 (Huber-like) and L1 regression losses with mmdet's weight / avg_factor rules.

Shape shorthand: pred and target are ``Tensor[N, 4]`` (or any equal shapes); ``weight``
is elementwise. Reduction follows :mod:`visdet.models.losses.reduction`.
"""

from __future__ import annotations

import torch

from visdet.models.losses.reduction import weight_reduce_loss
from visdet.models.losses.weighted_loss import WeightedLoss


def _check_shapes(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(
            f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have one shape"
        )


def smooth_l1_elementwise(pred: torch.Tensor, target: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """``0.5 * d**2 / beta`` if ``d = |pred - target| < beta``, else ``d - 0.5 * beta``.

    An empty ``target`` gives ``pred.sum() * 0``, as in mmdet, so the graph stays connected.
    """
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    if target.numel() == 0:
        return pred.sum() * 0
    _check_shapes(pred, target)
    diff = torch.abs(pred - target)
    return torch.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta)


def l1_elementwise(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``|pred - target|`` (``pred.sum() * 0`` for an empty ``target``, as in mmdet)."""
    if target.numel() == 0:
        return pred.sum() * 0
    _check_shapes(pred, target)
    return torch.abs(pred - target)


def smooth_l1_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | torch.Tensor | None = None,
    beta: float = 1.0,
) -> torch.Tensor:
    """Smooth L1 (see :func:`smooth_l1_elementwise`), weighted and reduced.

    Args:
        pred: Predictions.
        target: Targets, the shape of ``pred``.
        weight: Elementwise weights or None.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        avg_factor: Divide the sum by this instead of averaging.
        beta: The switch point, > 0.

    Returns:
        The loss (elementwise for ``"none"``).
    """
    return weight_reduce_loss(smooth_l1_elementwise(pred, target, beta), weight, reduction, avg_factor)


def l1_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """L1: ``|pred - target|``, weighted and reduced (see :func:`smooth_l1_loss` for the args)."""
    return weight_reduce_loss(l1_elementwise(pred, target), weight, reduction, avg_factor)


class SmoothL1Loss(WeightedLoss):
    """Smooth L1 loss module.

    Args:
        beta: The switch point between the quadratic and linear parts.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        loss_weight: Multiplier of the loss.
    """

    zero_weight_shortcut = True

    def __init__(self, *, beta: float = 1.0, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        if beta <= 0:
            raise ValueError(f"beta must be > 0, got {beta}")
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        self.beta = beta

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Smooth L1 of ``pred`` against ``target`` (``[N, 4]``)."""
        return smooth_l1_elementwise(pred, target, self.beta)


class L1Loss(WeightedLoss):
    """L1 loss module.

    Args:
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        loss_weight: Multiplier of the loss.
    """

    zero_weight_shortcut = True

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``|pred - target|`` (``[N, 4]``)."""
        return l1_elementwise(pred, target)
