"""asv: heads. RPNHead on 5 FPN levels of a 1x3xSxS image; the bbox head on R RoIs."""

from __future__ import annotations

import torch

from benchmarks._common import IMPLS, generator, load
from benchmarks._modules import _ModuleBench, mmdet_component

# visdet before the config boundary (visdet.build) had one builder function per part
OLD_BUILDERS = "visdet.models.builders.faster_rcnn"


def visdet_component(kind: str, cfg: dict, old_builder: str, *old_args: object) -> torch.nn.Module:
    """Build a visdet part from its config, with this commit's API or an older one (asv compares both)."""
    try:
        build = load("visdet.build:build_component")
    except NotImplementedError:
        return load(f"{OLD_BUILDERS}:{old_builder}")(cfg, *old_args)
    return build(kind, cfg)


RPN_HEAD = {
    "in_channels": 256,
    "feat_channels": 256,
    "anchor_generator": {
        "type": "AnchorGenerator",
        "scales": [8],
        "ratios": [0.5, 1.0, 2.0],
        "strides": [4, 8, 16, 32, 64],
    },
    "bbox_coder": {
        "type": "DeltaXYWHBBoxCoder",
        "target_means": [0.0, 0.0, 0.0, 0.0],
        "target_stds": [1.0, 1.0, 1.0, 1.0],
    },
    "loss_cls": {"type": "CrossEntropyLoss", "use_sigmoid": True, "loss_weight": 1.0},
    "loss_bbox": {"type": "L1Loss", "loss_weight": 1.0},
}
BBOX_HEAD = {"in_channels": 256, "fc_out_channels": 1024, "roi_feat_size": 7, "num_classes": 80}


class RPNHead(_ModuleBench):
    """RPNHead raw outputs (objectness and deltas) on 5 levels."""

    params = (IMPLS, [320, 640])
    param_names = ["impl", "image_side"]
    slow_sizes = (640,)

    def setup_cache(self):
        return self.build_all()

    def build(self, impl):
        if impl == "mmdet":
            return mmdet_component("mmdet.models.dense_heads:RPNHead")(**RPN_HEAD)
        # visdet's heads take built parts; its config boundary builds them from the dict
        return visdet_component("dense_head", {"type": "RPNHead", **RPN_HEAD}, "build_rpn_head", None, None)

    def make_inputs(self, size):
        gen = generator()
        return (
            tuple(
                torch.randn(1, 256, size // s, size // s, generator=gen).requires_grad_(True)
                for s in (4, 8, 16, 32, 64)
            ),
        )


class Shared2FCBBoxHead(_ModuleBench):
    """Faster R-CNN's box head on Rx256x7x7 RoI features."""

    params = (IMPLS, [128, 512])
    param_names = ["impl", "rois"]

    def setup_cache(self):
        return self.build_all()

    def build(self, impl):
        if impl == "mmdet":
            path = "mmdet.models.roi_heads.bbox_heads:Shared2FCBBoxHead"
            return mmdet_component(path)(**BBOX_HEAD)
        return visdet_component("bbox_head", {"type": "Shared2FCBBoxHead", **BBOX_HEAD}, "build_bbox_head", "bbox_head")

    def make_inputs(self, size):
        return (torch.randn(size, 256, 7, 7, generator=generator()).requires_grad_(True),)
