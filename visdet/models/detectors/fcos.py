"""``FCOS``: backbone -> FPN -> ``FCOSHead`` (mmdet's ``FCOS`` detector).

A ``SingleStageDetector``; the head is ``bbox_head``, so state dict keys are mmdet's
(``bbox_head.cls_convs.0.gn.weight``, ``bbox_head.scales.0.scale``). Losses are
``loss_cls`` (focal), ``loss_bbox`` (IoU) and ``loss_centerness``.
"""

from __future__ import annotations

from visdet.models.detectors.single_stage import SingleStageDetector


class FCOS(SingleStageDetector):
    """FCOS; see ``SingleStageDetector`` for the arguments, inputs and outputs."""
