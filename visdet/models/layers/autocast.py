"""``no_cuda_autocast(x)``: the ``torch.cuda.amp.autocast(enabled=False)`` blocks of mmdet's layers."""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager

import torch


def no_cuda_autocast(x: torch.Tensor) -> AbstractContextManager[object]:
    """A context that switches CUDA autocast off when ``x`` is on a CUDA device, else does nothing.

    mmdet wraps a few pooling steps (``ChannelAttention``, ``SPPBottleneck``) in
    ``torch.cuda.amp.autocast(enabled=False)``; that has no effect on CPU tensors.
    """
    return torch.autocast("cuda", enabled=False) if x.is_cuda else contextlib.nullcontext()
