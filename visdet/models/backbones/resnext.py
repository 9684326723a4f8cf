"""ResNeXt backbone (Xie et al. 2017): ResNet with grouped 3x3 convolutions.

Same structure and state-dict keys as ``ResNet``; the bottleneck width is
floor(planes * base_width / base_channels) * groups, as mmdet computes it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from visdet.models.backbones.resnet import ResNet
from visdet.models.backbones.resnet_blocks import Bottleneck
from visdet.models.layers.res_layer import ResLayer


class ResNeXt(ResNet):
    """ResNeXt backbone.

    Args:
        groups: Cardinality (groups of every 3x3 conv).
        base_width: Width per group at ``base_channels``.
        **kwargs: ``ResNet`` arguments (``depth`` 50, 101 or 152).

    Note:
        mmdet builds each ResNeXt block twice (a ResNet block, then replaces its convs),
        which draws extra numbers from the global RNG at construction; visdet builds it
        once, so after ``init_weights`` under one seed the weights differ from mmdet's.
        Loaded weights and outputs are the same.
    """

    arch_settings: ClassVar[dict[int, tuple[type[nn.Module], tuple[int, ...]]]] = {
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, *, groups: int = 1, base_width: int = 4, **kwargs: Any) -> None:
        if groups < 1 or base_width < 1:
            raise ValueError(f"groups and base_width must be >= 1, got {groups}, {base_width}")
        self.groups = groups
        self.base_width = base_width
        super().__init__(**kwargs)

    def make_res_layer(self, **kwargs: Any) -> ResLayer:
        """Build one stage of grouped bottlenecks."""
        return ResLayer(
            groups=self.groups,
            base_width=self.base_width,
            base_channels=self.base_channels,
            **kwargs,
        )
