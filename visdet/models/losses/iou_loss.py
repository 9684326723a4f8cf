"""``IoULoss`` and ``GIoULoss``: box-regression losses from the (generalised) IoU of each box with its target.

Shape shorthand: ``pred`` and ``target`` are ``Tensor[N, 4]`` xyxy boxes, compared row by
row (aligned IoU, clamped below at ``eps``); the loss is ``[N]`` before reduction:
``1 - IoU`` (``"linear"``), ``1 - IoU**2`` (``"square"``) or ``-log(IoU)`` (``"log"``,
FCOS's); ``GIoULoss``'s is ``1 - GIoU`` (RTMDet's). ``weight`` is per box (a ``[N, 4]``
weight is averaged over its last dim, as mmdet does). Reduction follows :mod:`visdet.models.losses.reduction`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from visdet.models.losses.reduction import resolve_reduction, weight_reduce_loss
from visdet.models.losses.weighted_loss import WeightedLoss
from visdet.ops import bbox_overlaps

IOU_LOSS_MODES = ("linear", "square", "log")


def iou_elementwise(pred: torch.Tensor, target: torch.Tensor, mode: str = "log", eps: float = 1e-6) -> torch.Tensor:
    """The unreduced IoU loss ``[N]`` of aligned boxes ``pred``/``target`` ``[N, 4]``.

    fp16 boxes are compared in fp32 and the IoU cast back, as mmdet does (against overflow).
    """
    if mode not in IOU_LOSS_MODES:
        raise ValueError(f"mode must be one of {IOU_LOSS_MODES}, got {mode!r}")
    half = pred.dtype == torch.float16
    ious = bbox_overlaps(pred.float() if half else pred, target, is_aligned=True).clamp(min=eps)
    if half:
        ious = ious.half()
    if mode == "linear":
        return 1 - ious
    if mode == "square":
        return 1 - ious**2
    return -ious.log()


def iou_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | torch.Tensor | None = None,
    mode: str = "log",
    eps: float = 1e-6,
) -> torch.Tensor:
    """IoU loss (see :func:`iou_elementwise`), weighted per box and reduced."""
    return weight_reduce_loss(iou_elementwise(pred, target, mode, eps), weight, reduction, avg_factor)


def _box_loss(
    elementwise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None,
    avg_factor: float | torch.Tensor | None,
    reduction: str,
    loss_weight: float,
) -> torch.Tensor:
    """Mmdet's IoU-family ``forward``: zero-weight shortcut, ``[N, 4]`` weights averaged, weighted reduction."""
    if weight is not None and not torch.any(weight > 0) and reduction != "none":
        if pred.dim() == weight.dim() + 1:
            weight = weight.unsqueeze(1)
        return (pred * weight).sum()
    if weight is not None and weight.dim() > 1:
        if weight.shape != pred.shape:
            raise ValueError(f"weight {tuple(weight.shape)} must be [N] or the shape of pred {tuple(pred.shape)}")
        weight = weight.mean(-1)
    return loss_weight * weight_reduce_loss(elementwise(pred, target), weight, reduction, avg_factor)


class IoULoss(WeightedLoss):
    """IoU loss module (FCOS's box loss).

    Args:
        linear: Deprecated switch for ``mode="linear"`` (warns, as mmdet).
        eps: Lower bound of the IoU (keeps ``log`` finite).
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        loss_weight: Multiplier of the loss.
        mode: ``"linear"``, ``"square"`` or ``"log"``.
    """

    def __init__(
        self,
        *,
        linear: bool = False,
        eps: float = 1e-6,
        reduction: str = "mean",
        loss_weight: float = 1.0,
        mode: str = "log",
    ) -> None:
        if mode not in IOU_LOSS_MODES:
            raise ValueError(f"mode must be one of {IOU_LOSS_MODES}, got {mode!r}")
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        if linear:
            mode = "linear"
            warnings.warn('IoULoss(linear=True) is deprecated, use mode="linear"', DeprecationWarning, stacklevel=2)
        self.mode = mode
        self.linear = linear
        self.eps = eps

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The unreduced loss ``[N]`` of boxes ``[N, 4]``."""
        return iou_elementwise(pred, target, self.mode, self.eps)

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | torch.Tensor | None = None,
        reduction_override: str | None = None,
    ) -> torch.Tensor:
        """The weighted, reduced loss.

        mmdet's order: with no positive weight (and a reducing ``reduction``) the result is
        ``(pred * weight).sum()``, zero and connected to the graph; a ``[N, 4]`` weight is
        averaged to ``[N]``.

        Args:
            pred: ``Tensor[N, 4]`` predicted boxes.
            target: ``Tensor[N, 4]`` target boxes.
            weight: ``Tensor[N]`` or ``Tensor[N, 4]`` weights, or ``None``.
            avg_factor: Divide the sum by this instead of averaging.
            reduction_override: Use this reduction instead of the configured one.
        """
        return _box_loss(self.elementwise, pred, target, weight, avg_factor,
                         resolve_reduction(self.reduction, reduction_override), self.loss_weight)  # fmt: skip


def giou_elementwise(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """``1 - GIoU`` ``[N]`` of aligned boxes ``[N, 4]`` (fp16 compared in fp32, as :func:`iou_elementwise`)."""
    half = pred.dtype == torch.float16
    gious = bbox_overlaps(pred.float() if half else pred, target, mode="giou", is_aligned=True, eps=eps)
    if half:
        gious = gious.half()
    return 1 - gious


def giou_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | torch.Tensor | None = None,
    eps: float = 1e-7,
) -> torch.Tensor:
    """GIoU loss (see :func:`giou_elementwise`), weighted per box and reduced."""
    return weight_reduce_loss(giou_elementwise(pred, target, eps), weight, reduction, avg_factor)


class GIoULoss(WeightedLoss):
    """Generalised-IoU loss module (RTMDet's box loss, mmdet's ``GIoULoss``).

    Args:
        eps: Lower bound of the union and of the enclosing area.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        loss_weight: Multiplier of the loss.
    """

    def __init__(self, *, eps: float = 1e-6, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        self.eps = eps

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The unreduced loss ``[N]`` of boxes ``[N, 4]``."""
        return giou_elementwise(pred, target, self.eps)

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | torch.Tensor | None = None,
        reduction_override: str | None = None,
    ) -> torch.Tensor:
        """The weighted, reduced loss; mmdet's order as :meth:`IoULoss.forward`.

        mmdet checks the zero-weight shortcut before ``reduction_override`` (so it applies to
        ``"none"`` too), unlike ``IoULoss``; kept.

        Args:
            pred: ``Tensor[N, 4]`` predicted boxes.
            target: ``Tensor[N, 4]`` target boxes.
            weight: ``Tensor[N]`` or ``Tensor[N, 4]`` weights, or ``None``.
            avg_factor: Divide the sum by this instead of averaging.
            reduction_override: Use this reduction instead of the configured one.
        """
        if weight is not None and not torch.any(weight > 0):
            if pred.dim() == weight.dim() + 1:
                weight = weight.unsqueeze(1)
            return (pred * weight).sum()
        reduction = resolve_reduction(self.reduction, reduction_override)
        return _box_loss(self.elementwise, pred, target, weight, avg_factor, reduction, self.loss_weight)
