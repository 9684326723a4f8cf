"""``RetinaNet``: backbone -> FPN -> ``RetinaHead`` (mmdet's ``RetinaNet`` detector).

A ``SingleStageDetector``; the head is ``bbox_head``, so state dict keys are mmdet's
(``bbox_head.cls_convs.0.conv.weight``, ``bbox_head.retina_cls.weight``). Losses are
``loss_cls`` (focal) and ``loss_bbox``, each summed over the levels.
"""

from __future__ import annotations

from visdet.models.detectors.single_stage import SingleStageDetector


class RetinaNet(SingleStageDetector):
    """RetinaNet; see ``SingleStageDetector`` for the arguments, inputs and outputs."""
