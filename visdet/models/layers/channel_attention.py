"""Channel attention of CSPNeXt (RTMDet), with mmdet's ``ChannelAttention`` names.

Shapes: Tensor[N, C, H, W] -> Tensor[N, C, H, W]. Each channel is scaled by
``hardsigmoid(fc(mean over H, W))`` in [0, 1], where ``fc`` is a 1x1 conv with bias over
the C channel means; ``state_dict`` keys are ``fc.weight`` and ``fc.bias``.
"""

from __future__ import annotations

import torch
from torch import nn

from visdet.models.layers.autocast import no_cuda_autocast


class ChannelAttention(nn.Module):
    """Squeeze (global average) and scale (1x1 conv + hard sigmoid), no reduction.

    Args:
        channels: Channels C of the input and output.
    """

    def __init__(self, *, channels: int) -> None:
        super().__init__()
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(channels, channels, 1, 1, 0, bias=True)
        self.act = nn.Hardsigmoid(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[N, C, H, W] -> Tensor[N, C, H, W]."""
        # mmdet pools with CUDA autocast switched off (a no-op on other devices).
        with no_cuda_autocast(x):
            pooled = self.global_avgpool(x)
        return x * self.act(self.fc(pooled))
