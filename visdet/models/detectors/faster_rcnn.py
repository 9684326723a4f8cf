"""``FasterRCNN``: a ``TwoStageDetector`` with an RPN and a standard RoI head (Ren et al., 2015)."""

from __future__ import annotations

from torch import nn

from visdet.models.detectors.two_stage import TwoStageDetector


class FasterRCNN(TwoStageDetector):
    """Faster R-CNN; see ``TwoStageDetector`` for the inputs, metas and outputs.

    Args:
        backbone: Image -> multi-level features (e.g. ``ResNet``).
        neck: ``FPN`` or ``None``.
        rpn_head: ``RPNHead``.
        roi_head: ``StandardRoIHead``.
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
