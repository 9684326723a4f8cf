"""The detectors the same-process comparison scripts build, from mmdet's own config files.

``build_models(name)`` builds mmdet's model from ``mmdet/.mim/configs/<dir>/<file>``
(backbone ``init_cfg=None``: nothing is downloaded; seeded random weights), builds visdet's
from the same config dict and loads mmdet's ``state_dict`` into it strictly. The rcnn
``score_thr`` is lowered so that random weights give detections (mmdet's default 0.05
would leave the post-processing stages with nothing to do). RTMDet's regression biases are
raised by :data:`RTMDET_REG_BIAS` (as in ``parity/test_rtmdet_live.py``): with random
weights alone every decoded box has a negative side and is dropped before NMS.

Stage patching (:func:`patch_each`) accepts a module or an ``nn.ModuleList`` of them, so
that the cascade heads' per-stage extractors and heads add up under one stage name.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import numpy as np
import torch

from benchmarks._compare import StageTimer

# name -> (config folder, config file) under mmdet/.mim/configs
CONFIGS = {
    "faster_rcnn": ("faster_rcnn", "faster-rcnn_r50_fpn_1x_coco.py"),
    "mask_rcnn": ("mask_rcnn", "mask-rcnn_r50_fpn_1x_coco.py"),
    "cascade_rcnn": ("cascade_rcnn", "cascade-rcnn_r50_fpn_1x_coco.py"),
    "cascade_mask_rcnn": ("cascade_rcnn", "cascade-mask-rcnn_r50_fpn_1x_coco.py"),
    "retinanet": ("retinanet", "retinanet_r50_fpn_1x_coco.py"),
    "rtmdet_tiny": ("rtmdet", "rtmdet_tiny_8xb32-300e_coco.py"),
    "rtmdet_l": ("rtmdet", "rtmdet_l_8xb32-300e_coco.py"),
    "deformable_detr": ("deformable_detr", "deformable-detr_r50_16xb2-50e_coco.py"),
    "deformable_detr_refine_twostage": ("deformable_detr", "deformable-detr-refine-twostage_r50_16xb2-50e_coco.py"),
    "dino_4scale": ("dino", "dino-4scale_r50_8xb2-12e_coco.py"),
}
# the one-stage detectors among them (a dense head, no RPN or RoI head)
SINGLE_STAGE = frozenset({"retinanet", "rtmdet_tiny", "rtmdet_l"})
# the DETR family (backbone, neck, transformer encoder and decoder, a set-prediction head; no NMS,
# no score threshold: ``test_cfg`` is ``max_per_img`` alone)
DETR = frozenset({"deformable_detr", "deformable_detr_refine_twostage", "dino_4scale"})
# (height, width) each config tests at: RTMDet resizes and pads to 640x640; the DETRs to 800x1333; the R-CNNs and
# RetinaNet resize a 4:3 COCO image to 800 on the short side (1067 wide, padded to 1088);
# 800x1216 (1.52:1, a 1333-wide resize padded to 32) is the wider case benchmarked throughout
TEST_SIZES = {"rtmdet_tiny": (640, 640), "rtmdet_l": (640, 640)}
# the DETR configs resize to 800 on the short side, at most 1333 on the long one, and do not pad
TEST_SIZES.update({name: (800, 1333) for name in DETR})
DEFAULT_TEST_SIZE = (800, 1216)
# added to RTMDet's regression biases (distances of about two strides)
RTMDET_REG_BIAS = 2.0


def mmdet_config(name: str, score_thr: float) -> Any:
    """mmdet's config of ``name`` with no weight download and a lowered (rcnn) ``score_thr``."""
    import mmdet
    from mmengine.config import Config

    if name not in CONFIGS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(CONFIGS)}")
    cfg = Config.fromfile(os.path.join(os.path.dirname(mmdet.__file__), ".mim", "configs", *CONFIGS[name]))
    cfg.model.backbone.init_cfg = None
    if name in DETR:
        return cfg
    if name in SINGLE_STAGE:
        cfg.model.test_cfg.score_thr = score_thr
    else:
        cfg.model.test_cfg.rcnn.score_thr = score_thr
    return cfg


def build_models(name: str, score_thr: float) -> tuple[torch.nn.Module, torch.nn.Module]:
    """``(visdet_model, mmdet_model)`` with mmdet's seeded random weights in both (train mode)."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    from visdet.build import build_model

    register_all_modules()
    cfg = mmdet_config(name, score_thr)
    # mmdet's DINO writes num_classes, embed_dims and num_matching_queries into the dict it builds from
    model_cfg = copy.deepcopy(cfg.model.to_dict())
    torch.manual_seed(0)
    ref = MODELS.build(cfg.model)
    if hasattr(getattr(ref, "bbox_head", None), "rtm_reg"):  # one-stage RTMDet; two-stage models have none
        with torch.no_grad():
            for conv in ref.bbox_head.rtm_reg:
                conv.bias += RTMDET_REG_BIAS
    model = build_model(model_cfg)
    model.load_state_dict(ref.state_dict(), strict=True)
    return model, ref


def input_size(name: str) -> tuple[int, int]:
    """``(height, width)`` of ``name``'s benchmark input (:data:`TEST_SIZES`)."""
    return TEST_SIZES.get(name, DEFAULT_TEST_SIZE)


def train_optimizer(name: str, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The optimizer class of ``name``'s config with its lr and weight decay (no ``paramwise_cfg``
    groups: the same plain optimizer on both sides, so the stage shows parameter count and layout).
    """
    cfg = mmdet_config(name, 0.05).optim_wrapper.optimizer
    if cfg.type == "AdamW":
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.type != "SGD":
        raise ValueError(f"{name}: optimizer {cfg.type} not benchmarked")
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


# module globals holding each implementation's multi-scale deformable attention function (mmcv
# calls its PyTorch path on CPU; visdet has only that path)
MSDA_GLOBALS = {
    "visdet": ("visdet.models.layers.multi_scale_deform_attn", "multi_scale_deformable_attn_pytorch"),
    "mmdet": ("mmcv.ops.multi_scale_deform_attn", "multi_scale_deformable_attn_pytorch"),
}
DEFORMABLE_ATTENTION = "  of which deformable attn"
DETR_STAGES = ("pre_transformer", "encoder", "pre_decoder", "decoder")


def patch_detr(timer: StageTimer, impl: str, model: torch.nn.Module) -> None:
    """Time a DETR's transformer steps and, inside them, every deformable-attention call.

    ``pre_transformer`` (flattening, masks, positions), ``encoder``, ``pre_decoder`` (queries,
    two-stage proposals and top-k) and ``decoder``; both libraries' detectors call these by the
    same names, so the rows line up. The deformable attention (the sampling by ``grid_sample``
    and the weighted sum) is summed over the encoder's and decoder's layers.
    """
    import importlib

    timer.patch(model, "pre_transformer", "pre_transformer")
    timer.patch(model.encoder, "forward", "encoder")
    timer.patch(model, "pre_decoder", "pre_decoder")
    timer.patch(model.decoder, "forward", "decoder")
    module_name, attr = MSDA_GLOBALS[impl]
    timer.patch(importlib.import_module(module_name), attr, DEFORMABLE_ATTENTION)


def has_mask(model: torch.nn.Module) -> bool:
    """Whether the detector's RoI head has a mask branch."""
    return getattr(getattr(model, "roi_head", None), "mask_head", None) is not None


def patch_each(timer: StageTimer, owner: Any, attr: str, stage: str) -> None:
    """``timer.patch`` on ``owner`` or, for an ``nn.ModuleList``, on each of its modules."""
    if owner is None:
        return
    for item in owner if isinstance(owner, torch.nn.ModuleList) else [owner]:
        timer.patch(item, attr, stage)


def mask_extractor(model: torch.nn.Module) -> Any:
    """The mask branch's own RoI extractor (``None`` when it shares the box extractor)."""
    roi = model.roi_head
    if getattr(roi, "share_roi_extractor", False):
        return None
    return getattr(roi, "mask_roi_extractor", None)


def ellipse_masks(boxes: torch.Tensor, height: int, width: int) -> np.ndarray:
    """``uint8 [G, H, W]``: the ellipse inscribed in each box (ground-truth masks)."""
    ys = np.arange(height)[:, None] + 0.5
    xs = np.arange(width)[None, :] + 0.5
    out = np.zeros((len(boxes), height, width), dtype=np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        rx, ry = max((x2 - x1) / 2, 1.0), max((y2 - y1) / 2, 1.0)
        out[i] = ((xs - (x1 + x2) / 2) / rx) ** 2 + ((ys - (y1 + y2) / 2) / ry) ** 2 <= 1
    return out
