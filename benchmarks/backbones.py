"""asv: backbones on a 1x3xSxS image (S = image side)."""

from __future__ import annotations

import torch

from benchmarks._common import IMPLS, generator, load
from benchmarks._modules import _ModuleBench, mmdet_component

RESNET50 = {
    "depth": 50,
    "num_stages": 4,
    "out_indices": (0, 1, 2, 3),
    "frozen_stages": 1,
    "norm_cfg": {"type": "BN", "requires_grad": True},
    "norm_eval": True,
    "style": "pytorch",
    "init_cfg": None,
}


class ResNet50(_ModuleBench):
    """ResNet-50 as in Faster R-CNN R50-FPN (frozen stem and stage 1, norm_eval)."""

    params = (IMPLS, [320, 640])
    param_names = ["impl", "image_side"]
    slow_sizes = (640,)

    def setup_cache(self):
        return self.build_all()

    def build(self, impl):
        if impl == "mmdet":
            return mmdet_component("mmdet.models.backbones:ResNet")(**RESNET50)
        return load("visdet.models.backbones:ResNet")(**RESNET50)

    def make_inputs(self, size):
        return (torch.randn(1, 3, size, size, generator=generator()),)
