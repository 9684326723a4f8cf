"""``CascadeRCNN``: a ``TwoStageDetector`` whose RoI head is a ``CascadeRoIHead`` (Cai and Vasconcelos, 2018).

With mask heads in the cascade it is mmdet's Cascade Mask R-CNN (mmdet names both
``CascadeRCNN``): ``loss`` adds ``s<i>.loss_mask`` per stage (ground truth needs ``masks``)
and ``predict`` results carry ``masks [N, H, W]``. Loss names are per stage:
``s0.loss_cls``, ``s0.acc``, ``s0.loss_bbox``, ``s1.loss_cls``, ...
"""

from __future__ import annotations

from torch import nn

from visdet.models.detectors.two_stage import TwoStageDetector


class CascadeRCNN(TwoStageDetector):
    """Cascade (Mask) R-CNN; see ``TwoStageDetector`` for the inputs, metas and outputs.

    Args:
        backbone: Image -> multi-level features (e.g. ``ResNet``).
        neck: ``FPN`` or ``None``.
        rpn_head: ``RPNHead``.
        roi_head: ``CascadeRoIHead`` (with or without mask heads).
        data_preprocessor: Optional ``DetDataPreprocessor`` (weightless).
    """

    def __init__(
        self,
        *,
        backbone: nn.Module,
        rpn_head: nn.Module,
        roi_head: nn.Module,
        neck: nn.Module | None = None,
        data_preprocessor: nn.Module | None = None,
    ) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            rpn_head=rpn_head,
            roi_head=roi_head,
            data_preprocessor=data_preprocessor,
        )
