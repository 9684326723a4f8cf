"""Mixed precision: autocast contexts and the gradient scaler.

``precision``: ``"fp32"`` (no autocast), ``"bf16"`` (autocast to bfloat16, no scaler:
bf16 has fp32's exponent range) or ``"fp16"`` (autocast to float16 plus a
``torch.amp.GradScaler`` so small gradients do not underflow).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class DeviceUnavailableError(RuntimeError, ValueError):
    """The requested device does not exist on this machine (a ``ValueError`` too: bad input)."""


def check_precision(precision: str) -> str:
    """Return ``precision`` or raise naming the accepted values."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    return precision


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """The autocast context for ``precision`` on ``device`` (a no-op for fp32)."""
    dtype = PRECISIONS[check_precision(precision)]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """A ``GradScaler`` for fp16, ``None`` otherwise."""
    if check_precision(precision) != "fp16":
        return None
    return torch.amp.GradScaler(device.type)


def resolve_device(device: str | torch.device) -> torch.device:
    """``torch.device(device)``, with a clear error when CUDA/MPS is asked for but absent."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailableError(
            f"device={str(device)!r} was requested but CUDA is not available "
            f"(torch {torch.__version__}, torch.cuda.is_available() is False); use device='cpu'"
        )
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise DeviceUnavailableError(f"device={str(device)!r} was requested but MPS is not available; use device='cpu'")
    return dev
