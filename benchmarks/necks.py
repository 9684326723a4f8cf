"""asv: necks on the feature maps ResNet-50 gives for a 1x3xSxS image."""

from __future__ import annotations

import torch

from benchmarks._common import IMPLS, generator, load
from benchmarks._modules import _ModuleBench, mmdet_component

FPN_CFG = {"in_channels": [256, 512, 1024, 2048], "out_channels": 256, "num_outs": 5}
STRIDES = (4, 8, 16, 32)


class FPN(_ModuleBench):
    """FPN, 256 channels, 5 outputs."""

    params = (IMPLS, [320, 640, 1280])
    param_names = ["impl", "image_side"]
    slow_sizes = (1280,)

    def setup_cache(self):
        return self.build_all()

    def build(self, impl):
        if impl == "mmdet":
            return mmdet_component("mmdet.models.necks:FPN")(**FPN_CFG)
        return load("visdet.models.necks:FPN")(**FPN_CFG)

    def make_inputs(self, size):
        gen = generator()
        feats = tuple(
            torch.randn(1, c, size // s, size // s, generator=gen).requires_grad_(True)
            for c, s in zip(FPN_CFG["in_channels"], STRIDES, strict=True)
        )
        return (feats,)
