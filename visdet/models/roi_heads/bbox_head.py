"""``BBoxHead``: the plain RoI box head, predictors straight on the (pooled) RoI features.

It is ``ConvFCBBoxHead`` with no convs and no fcs; its state dict holds only ``fc_cls``
and ``fc_reg``, as mmdet's ``BBoxHead`` does. Shapes as in ``convfc_bbox_head``.
"""

from __future__ import annotations

from typing import Any

from visdet.models.roi_heads.convfc_bbox_head import ConvFCBBoxHead


class BBoxHead(ConvFCBBoxHead):
    """Linear classifier and regressor on RoI features (optionally average-pooled).

    Args:
        **kwargs: The non-branch arguments of ``ConvFCBBoxHead`` (``with_avg_pool``,
            ``in_channels``, ``roi_feat_size``, ``num_classes``, ``bbox_coder``,
            ``loss_cls``, ``loss_bbox``, ``reg_class_agnostic``, ...).
    """

    def __init__(self, **kwargs: Any) -> None:
        branch_args = sorted(k for k in kwargs if k.startswith("num_") and k != "num_classes")
        if branch_args:
            raise TypeError(f"BBoxHead has no conv/fc branches; unexpected arguments {branch_args}")
        super().__init__(**kwargs)
