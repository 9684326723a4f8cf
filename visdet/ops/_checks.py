"""Input validation shared by the ops in :mod:`visdet.ops`.

Every helper raises ``TypeError`` for a wrong type or dtype and ``ValueError`` for a
wrong shape or a non-finite value, and the message names the argument and says what
was seen, e.g. ``boxes must have shape (N, 4), got (3, 5)``.

Non-finite values (NaN, +-inf) in boxes, RoIs and scores are rejected: mmcv would run
on them, but its results then depend on NaN comparison rules in its C++ loops (a NaN
IoU never suppresses, a NaN score sorts arbitrarily), which no caller wants. The
check costs one reduction (and, on CUDA, one synchronisation) per argument.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def _shape(tensor: Tensor) -> tuple[int, ...]:
    return tuple(tensor.shape)


def check_tensor(value: object, name: str) -> Tensor:
    """Return ``value`` if it is a tensor, else raise ``TypeError`` naming ``name``."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def check_floating(tensor: Tensor, name: str) -> None:
    """Raise ``TypeError`` unless ``tensor`` has a floating-point dtype."""
    if not tensor.is_floating_point():
        raise TypeError(f"{name} must have a floating-point dtype, got {tensor.dtype}")


def check_integer_or_floating(tensor: Tensor, name: str) -> None:
    """Raise ``TypeError`` if ``tensor`` is boolean or complex."""
    if tensor.dtype == torch.bool or tensor.is_complex():
        raise TypeError(f"{name} must have an integer or floating-point dtype, got {tensor.dtype}")


def check_finite(tensor: Tensor, name: str) -> None:
    """Raise ``ValueError`` if ``tensor`` holds NaN or infinity."""
    if tensor.numel() and not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} must be finite, but it holds NaN or inf (shape {_shape(tensor)})")


def check_boxes(value: object, name: str, *, width: int = 4, batched: bool = False) -> Tensor:
    """Check an xyxy box tensor: floating point, finite, last dimension ``width``.

    Args:
        value: The object to check.
        name: Argument name used in error messages.
        width: Required size of the last dimension.
        batched: If True, any number of leading batch dimensions is accepted
            (``(..., N, width)``); otherwise the shape must be ``(N, width)``.

    Returns:
        The tensor, unchanged.
    """
    boxes = check_tensor(value, name)
    check_floating(boxes, name)
    if batched:
        if boxes.dim() < 2 or boxes.shape[-1] != width:
            raise ValueError(f"{name} must have shape (..., N, {width}), got {_shape(boxes)}")
    elif boxes.dim() != 2 or boxes.shape[1] != width:
        raise ValueError(f"{name} must have shape (N, {width}), got {_shape(boxes)}")
    check_finite(boxes, name)
    return boxes


def check_scores(value: object, name: str, num: int, *, boxes_name: str = "boxes") -> Tensor:
    """Check a score vector: floating point, finite, shape ``(num,)``."""
    scores = check_tensor(value, name)
    check_floating(scores, name)
    if scores.dim() != 1 or scores.shape[0] != num:
        raise ValueError(f"{name} must have shape ({num},) to match {boxes_name}, got {_shape(scores)}")
    check_finite(scores, name)
    return scores


def check_same_device(tensors: Sequence[tuple[Tensor, str]]) -> None:
    """Raise ``ValueError`` unless all named tensors share one device."""
    first, first_name = tensors[0]
    for tensor, name in tensors[1:]:
        if tensor.device != first.device:
            raise ValueError(f"{name} is on {tensor.device} but {first_name} is on {first.device}")


def check_choice(value: object, name: str, choices: Sequence[object]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def check_number(value: object, name: str) -> float:
    """Return ``value`` as a float; raise ``TypeError`` if it is not a real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype == torch.bool:
            return float(value.item())
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    return float(value)


def check_int(value: object, name: str) -> int:
    """Return ``value`` if it is an int (not bool); raise ``TypeError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return value
