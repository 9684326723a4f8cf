"""``Scale``: one learnable scalar that multiplies its input (mmcv's ``Scale``).

FCOS keeps one per pyramid level on the box branch; its ``state_dict`` key is ``scale``
(``bbox_head.scales.<l>.scale``), a 0-d float32 parameter as mmcv creates it.
"""

from __future__ import annotations

import torch
from torch import nn


class Scale(nn.Module):
    """``x * scale`` with a learnable 0-d ``scale``.

    Args:
        scale: Initial value.
    """

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale, dtype=torch.float))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (any shape) times the scalar."""
        return x * self.scale
