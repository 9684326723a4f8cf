"""Losses with mmdet 3.3's weighting, reduction and ``avg_factor`` semantics."""

from visdet.models.losses.accuracy import Accuracy, accuracy
from visdet.models.losses.cross_entropy_loss import (
    CrossEntropyLoss,
    binary_cross_entropy,
    cross_entropy,
    mask_cross_entropy,
)
from visdet.models.losses.dice_loss import DiceLoss, dice_loss
from visdet.models.losses.focal_loss import (
    FocalLoss,
    focal_loss_with_prob,
    sigmoid_focal_loss,
    sigmoid_focal_loss_kernel,
)
from visdet.models.losses.gfocal_loss import QualityFocalLoss, quality_focal_loss
from visdet.models.losses.iou_loss import GIoULoss, IoULoss, giou_loss, iou_loss
from visdet.models.losses.reduction import reduce_loss, reduce_mean, weight_reduce_loss
from visdet.models.losses.smooth_l1_loss import L1Loss, SmoothL1Loss, l1_loss, smooth_l1_loss
from visdet.models.losses.weighted_loss import WeightedLoss

__all__ = [
    "Accuracy",
    "CrossEntropyLoss",
    "DiceLoss",
    "FocalLoss",
    "GIoULoss",
    "IoULoss",
    "L1Loss",
    "QualityFocalLoss",
    "SmoothL1Loss",
    "WeightedLoss",
    "accuracy",
    "binary_cross_entropy",
    "cross_entropy",
    "dice_loss",
    "focal_loss_with_prob",
    "giou_loss",
    "iou_loss",
    "l1_loss",
    "mask_cross_entropy",
    "quality_focal_loss",
    "reduce_loss",
    "reduce_mean",
    "sigmoid_focal_loss",
    "sigmoid_focal_loss_kernel",
    "smooth_l1_loss",
    "weight_reduce_loss",
]
