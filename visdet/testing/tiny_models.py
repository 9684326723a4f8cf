"""Reduced-width Faster R-CNN configs for fast tests and examples.

The architecture is the R50-FPN preset's (anchors, assigners, samplers, losses), with a
ResNet-18 backbone of ``base_channels=4`` and 8-channel FPN/heads, so a forward and
backward pass on a 64x64 image takes milliseconds on a CPU.
"""

from __future__ import annotations

from typing import Any

import torch

from visdet.build import build_model, num_classes_override
from visdet.config import merge, model_preset


def faster_rcnn_config(num_classes: int = 80) -> dict[str, Any]:
    """The Faster R-CNN R50-FPN model preset (mmdet's shape) with ``num_classes`` classes."""
    cfg = model_preset("faster_rcnn_r50_fpn")
    return merge(cfg, num_classes_override(cfg, num_classes))


def tiny_faster_rcnn_config(num_classes: int = 3, *, small_proposal_counts: bool = False) -> dict[str, Any]:
    """An mmdet-shaped model dict of a reduced Faster R-CNN.

    Args:
        num_classes: Number of object classes of the bbox head.
        small_proposal_counts: Also cut RPN ``nms_pre``/``max_per_img`` to 100/50 and set
            the test ``score_thr`` to 0, so random weights still yield detections.
    """
    cfg = faster_rcnn_config(num_classes)
    cfg["backbone"].update(depth=18, base_channels=4, init_cfg=None)
    cfg["neck"].update(in_channels=[4, 8, 16, 32], out_channels=8)
    cfg["rpn_head"].update(in_channels=8, feat_channels=8)
    cfg["roi_head"]["bbox_roi_extractor"]["out_channels"] = 8
    cfg["roi_head"]["bbox_head"].update(in_channels=8, fc_out_channels=16)
    cfg["train_cfg"]["rpn"]["sampler"]["num"] = 32
    cfg["train_cfg"]["rcnn"]["sampler"]["num"] = 32
    if small_proposal_counts:
        cfg["train_cfg"]["rpn_proposal"].update(nms_pre=100, max_per_img=50)
        cfg["test_cfg"]["rpn"].update(nms_pre=100, max_per_img=50)
        cfg["test_cfg"]["rcnn"].update(score_thr=0.0)
    return cfg


def tiny_faster_rcnn(num_classes: int = 3, *, seed: int = 0, small_proposal_counts: bool = False) -> torch.nn.Module:
    """Build :func:`tiny_faster_rcnn_config` with weights drawn after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return build_model(tiny_faster_rcnn_config(num_classes, small_proposal_counts=small_proposal_counts))
