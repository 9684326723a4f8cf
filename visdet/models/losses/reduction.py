"""How mmdet losses turn elementwise losses into the value that is optimised.

``weight_reduce_loss`` multiplies by an elementwise ``weight`` and then either reduces
with ``reduction`` (``"none"``, ``"mean"``, ``"sum"``) or, when ``avg_factor`` is given,
divides the *sum* by ``avg_factor + eps`` (``reduction="mean"``) or leaves it unreduced
(``reduction="none"``). ``avg_factor`` together with ``reduction="sum"`` is an error.

``reduce_mean`` averages a count over the process group (the heads' ``avg_factor`` under DDP).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

REDUCTIONS = ("none", "mean", "sum")

# mmdet adds fp32 machine epsilon to avg_factor so a zero avg_factor gives 0, not NaN.
AVG_FACTOR_EPS = torch.finfo(torch.float32).eps


def reduce_mean(value: Tensor) -> Tensor:
    """Mmdet's ``reduce_mean``: the mean over the process group, ``value`` itself without one."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    value = value.clone()
    dist.all_reduce(value.div_(dist.get_world_size()), op=dist.ReduceOp.SUM)
    return value


def check_reduction(reduction: str | None, name: str = "reduction") -> None:
    """Raise ``ValueError`` naming ``name`` unless ``reduction`` is a known reduction."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name} must be one of {REDUCTIONS}, got {reduction!r}")


def resolve_reduction(default: str, reduction_override: str | None) -> str:
    """The reduction to use: ``reduction_override`` when given, else ``default``."""
    if reduction_override is not None:
        check_reduction(reduction_override, "reduction_override")
        return reduction_override
    return default


def reduce_loss(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce an elementwise loss.

    Args:
        loss: Elementwise loss, any shape.
        reduction: ``"none"`` (unchanged), ``"mean"`` or ``"sum"`` over all elements.

    Returns:
        ``loss`` itself or a 0-d tensor.
    """
    check_reduction(reduction)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def weight_reduce_loss(
    loss: torch.Tensor,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """Weight an elementwise loss and reduce it (mmdet's semantics).

    Args:
        loss: Elementwise loss.
        weight: Elementwise weight broadcastable to ``loss``, or None.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        avg_factor: When given, ``"mean"`` means ``sum / (avg_factor + eps)`` instead of
            the element mean; ``"none"`` ignores it; ``"sum"`` is an error.

    Returns:
        The weighted loss, reduced as asked.
    """
    check_reduction(reduction)
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return reduce_loss(loss, reduction)
    if reduction == "mean":
        return loss.sum() / (avg_factor + AVG_FACTOR_EPS)
    if reduction == "sum":
        raise ValueError('avg_factor cannot be used with reduction="sum"')
    return loss
