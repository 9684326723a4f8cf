"""Model config presets, as mmdet-shaped dicts (the ``model`` entry of an mmdet config).

``faster_rcnn_r50_fpn`` is mmdet 3.3's ``configs/_base_/models/faster-rcnn_r50_fpn.py``
(used by ``faster-rcnn_r50_fpn_1x_coco.py``), except that the backbone's ``init_cfg``
is ``None``: visdet never downloads weights; load a checkpoint with ``load_checkpoint``.
Each call returns a fresh dict that callers may edit.
"""

from __future__ import annotations

from typing import Any


def _nms(iou_threshold: float) -> dict[str, Any]:
    return {"type": "nms", "iou_threshold": iou_threshold}


def _max_iou(pos: float, neg: float, min_pos: float, low_quality: bool) -> dict[str, Any]:
    return {
        "type": "MaxIoUAssigner",
        "pos_iou_thr": pos,
        "neg_iou_thr": neg,
        "min_pos_iou": min_pos,
        "match_low_quality": low_quality,
        "ignore_iof_thr": -1,
    }


def _random_sampler(num: int, pos_fraction: float, add_gt: bool) -> dict[str, Any]:
    return {
        "type": "RandomSampler",
        "num": num,
        "pos_fraction": pos_fraction,
        "neg_pos_ub": -1,
        "add_gt_as_proposals": add_gt,
    }


def faster_rcnn_r50_fpn(num_classes: int = 80) -> dict[str, Any]:
    """The Faster R-CNN R50-FPN model dict of mmdet (COCO: ``num_classes=80``)."""
    return {
        "type": "FasterRCNN",
        "data_preprocessor": {
            "type": "DetDataPreprocessor",
            "mean": [123.675, 116.28, 103.53],
            "std": [58.395, 57.12, 57.375],
            "bgr_to_rgb": True,
            "pad_size_divisor": 32,
        },
        "backbone": {
            "type": "ResNet",
            "depth": 50,
            "num_stages": 4,
            "out_indices": (0, 1, 2, 3),
            "frozen_stages": 1,
            "norm_cfg": {"type": "BN", "requires_grad": True},
            "norm_eval": True,
            "style": "pytorch",
            "init_cfg": None,
        },
        "neck": {"type": "FPN", "in_channels": [256, 512, 1024, 2048], "out_channels": 256, "num_outs": 5},
        "rpn_head": {
            "type": "RPNHead",
            "in_channels": 256,
            "feat_channels": 256,
            "anchor_generator": {
                "type": "AnchorGenerator",
                "scales": [8],
                "ratios": [0.5, 1.0, 2.0],
                "strides": [4, 8, 16, 32, 64],
            },
            "bbox_coder": {"type": "DeltaXYWHBBoxCoder", "target_means": [0.0] * 4, "target_stds": [1.0] * 4},
            "loss_cls": {"type": "CrossEntropyLoss", "use_sigmoid": True, "loss_weight": 1.0},
            "loss_bbox": {"type": "L1Loss", "loss_weight": 1.0},
        },
        "roi_head": {
            "type": "StandardRoIHead",
            "bbox_roi_extractor": {
                "type": "SingleRoIExtractor",
                "roi_layer": {"type": "RoIAlign", "output_size": 7, "sampling_ratio": 0},
                "out_channels": 256,
                "featmap_strides": [4, 8, 16, 32],
            },
            "bbox_head": {
                "type": "Shared2FCBBoxHead",
                "in_channels": 256,
                "fc_out_channels": 1024,
                "roi_feat_size": 7,
                "num_classes": num_classes,
                "bbox_coder": {
                    "type": "DeltaXYWHBBoxCoder",
                    "target_means": [0.0] * 4,
                    "target_stds": [0.1, 0.1, 0.2, 0.2],
                },
                "reg_class_agnostic": False,
                "loss_cls": {"type": "CrossEntropyLoss", "use_sigmoid": False, "loss_weight": 1.0},
                "loss_bbox": {"type": "L1Loss", "loss_weight": 1.0},
            },
        },
        "train_cfg": {
            "rpn": {
                "assigner": _max_iou(0.7, 0.3, 0.3, True),
                "sampler": _random_sampler(256, 0.5, False),
                "allowed_border": -1,
                "pos_weight": -1,
                "debug": False,
            },
            "rpn_proposal": {"nms_pre": 2000, "max_per_img": 1000, "nms": _nms(0.7), "min_bbox_size": 0},
            "rcnn": {
                "assigner": _max_iou(0.5, 0.5, 0.5, False),
                "sampler": _random_sampler(512, 0.25, True),
                "pos_weight": -1,
                "debug": False,
            },
        },
        "test_cfg": {
            "rpn": {"nms_pre": 1000, "max_per_img": 1000, "nms": _nms(0.7), "min_bbox_size": 0},
            "rcnn": {"score_thr": 0.05, "nms": _nms(0.5), "max_per_img": 100},
        },
    }
