"""``MaskRCNN``: Faster R-CNN plus a mask branch in the RoI head (He et al., 2017).

A ``TwoStageDetector`` whose ``roi_head`` has a mask head: ``loss`` adds ``loss_mask``
(ground truth needs ``masks``: ``BitmapMasks``, ``PolygonMasks`` or a ``[G, H, W]``
tensor, at the padded input's size), and ``predict`` results carry ``masks [N, H, W]``
(bool, in the original image's pixels with ``rescale``).
"""

from __future__ import annotations

from torch import nn

from visdet.models.detectors.two_stage import TwoStageDetector


class MaskRCNN(TwoStageDetector):
    """Mask R-CNN; see ``TwoStageDetector`` for the inputs, metas and outputs.

    Args:
        backbone: Image -> multi-level features (e.g. ``ResNet``).
        neck: ``FPN`` or ``None``.
        rpn_head: ``RPNHead``.
        roi_head: ``StandardRoIHead`` with a ``mask_head``.
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
        if not getattr(roi_head, "with_mask", False):
            raise ValueError("MaskRCNN needs a roi_head with a mask_head")
        super().__init__(
            backbone=backbone,
            neck=neck,
            rpn_head=rpn_head,
            roi_head=roi_head,
            data_preprocessor=data_preprocessor,
        )
