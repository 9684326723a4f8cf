"""Seeding and deterministic mode.

``seed_everything`` seeds Python's ``random``, numpy and torch (CPU and every CUDA device)
with one value. ``deterministic=True`` also asks torch for deterministic kernels
(``torch.use_deterministic_algorithms``), turns off cuDNN's benchmark autotuner and sets
``CUBLAS_WORKSPACE_CONFIG`` as CUDA's cuBLAS requires for reproducible matmuls.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, *, deterministic: bool = False) -> int:
    """Seed ``random``, numpy and torch with ``seed``; optionally force deterministic kernels.

    Args:
        seed: Non-negative integer below 2**32.
        deterministic: Use deterministic algorithms only (slower; errors on kernels that
            have no deterministic implementation).

    Returns:
        The seed.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=False)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    return seed
