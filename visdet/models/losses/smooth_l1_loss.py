"""Smooth L1 (Huber-like) and L1 regression losses with mmdet's weight / avg_factor rules.

Shape shorthand: pred and target are ``Tensor[N, 4]`` (or any equal shapes); ``weight``
is elementwise. Reduction follows :mod:`visdet.models.losses.reduction`.
"""

from __future__ import annotations

import torch
from torch import nn

from visdet.models.losses.reduction import check_reduction, resolve_reduction, weight_reduce_loss


def _check_shapes(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(
            f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have one shape"
        )


def smooth_l1_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | torch.Tensor | None = None,
    beta: float = 1.0,
) -> torch.Tensor:
    """Smooth L1: ``0.5 * d**2 / beta`` if ``d = |pred - target| < beta``, else ``d - 0.5 * beta``.

    Args:
        pred: Predictions.
        target: Targets, the shape of ``pred``.
        weight: Elementwise weights or None.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        avg_factor: Divide the sum by this instead of averaging.
        beta: The switch point, > 0.

    Returns:
        The loss (elementwise for ``"none"``). An empty ``target`` gives ``pred.sum() * 0``
        before weighting, as in mmdet, so the graph stays connected.
    """
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    if target.numel() == 0:
        loss = pred.sum() * 0
    else:
        _check_shapes(pred, target)
        diff = torch.abs(pred - target)
        loss = torch.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta)
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


def l1_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """L1: ``|pred - target|``, weighted and reduced (see :func:`smooth_l1_loss` for the args)."""
    if target.numel() == 0:
        loss = pred.sum() * 0
    else:
        _check_shapes(pred, target)
        loss = torch.abs(pred - target)
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


def _all_zero_weight_loss(pred: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor | None:
    """With no positive weight, mmdet returns ``(pred * weight).sum()``: zero, graph connected."""
    if weight is None or torch.any(weight > 0):
        return None
    if pred.dim() == weight.dim() + 1:
        weight = weight.unsqueeze(1)
    return (pred * weight).sum()


class SmoothL1Loss(nn.Module):
    """Smooth L1 loss module.

    Args:
        beta: The switch point between the quadratic and linear parts.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        loss_weight: Multiplier of the loss.
    """

    def __init__(
        self, *, beta: float = 1.0, reduction: str = "mean", loss_weight: float = 1.0
    ) -> None:
        super().__init__()
        if beta <= 0:
            raise ValueError(f"beta must be > 0, got {beta}")
        check_reduction(reduction)
        self.beta = beta
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | torch.Tensor | None = None,
        reduction_override: str | None = None,
    ) -> torch.Tensor:
        """``loss_weight`` times the smooth L1 loss of ``pred`` and ``target`` (``[N, 4]``)."""
        zero = _all_zero_weight_loss(pred, weight)
        if zero is not None:
            return zero
        reduction = resolve_reduction(self.reduction, reduction_override)
        return self.loss_weight * smooth_l1_loss(
            pred, target, weight, reduction=reduction, avg_factor=avg_factor, beta=self.beta
        )


class L1Loss(nn.Module):
    """L1 loss module.

    Args:
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        loss_weight: Multiplier of the loss.
    """

    def __init__(self, *, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__()
        check_reduction(reduction)
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | torch.Tensor | None = None,
        reduction_override: str | None = None,
    ) -> torch.Tensor:
        """``loss_weight`` times the L1 loss of ``pred`` against ``target`` (both ``[N, 4]``)."""
        zero = _all_zero_weight_loss(pred, weight)
        if zero is not None:
            return zero
        reduction = resolve_reduction(self.reduction, reduction_override)
        return self.loss_weight * l1_loss(
            pred, target, weight, reduction=reduction, avg_factor=avg_factor
        )
