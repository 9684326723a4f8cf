"""``RPN``: a region proposal network on its own (mmdet's ``RPN`` detector).

A ``SingleStageDetector`` whose dense head is an ``RPNHead``: detections are the
class-agnostic proposals (label 0), e.g. for proposal recall (``CocoMetric`` with
``metric="proposal"``). The head is registered as ``bbox_head``, so state dict keys are
mmdet's (``bbox_head.rpn_conv.weight``).
"""

from __future__ import annotations

from torch import nn

from visdet.models.detectors.single_stage import SingleStageDetector


class RPN(SingleStageDetector):
    """Region proposal network; see ``SingleStageDetector`` for inputs and outputs.

    Args:
        backbone: Image -> multi-level features.
        rpn_head: ``RPNHead`` (with its training and test settings).
        neck: ``FPN`` or ``None``.
        data_preprocessor: Optional ``DetDataPreprocessor``.
    """

    def __init__(
        self,
        *,
        backbone: nn.Module,
        rpn_head: nn.Module,
        neck: nn.Module | None = None,
        data_preprocessor: nn.Module | None = None,
    ) -> None:
        super().__init__(backbone=backbone, bbox_head=rpn_head, neck=neck, data_preprocessor=data_preprocessor)
