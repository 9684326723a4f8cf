"""``RTMDet``: CSPNeXt -> CSPNeXtPAFPN -> ``RTMDetSepBNHead`` (mmdet's ``RTMDet`` detector).

A ``SingleStageDetector``; the head is ``bbox_head`` (``bbox_head.cls_convs.<l>.<i>.conv.weight``,
``bbox_head.rtm_cls.<l>.weight``, ...). Losses are ``loss_cls`` (Quality Focal Loss) and
``loss_bbox`` (GIoU), each summed over the levels.

``use_syncbn``: as mmdet, every BatchNorm becomes ``SyncBatchNorm`` when the model is built
inside a process group of more than one process; otherwise nothing changes.
"""

from __future__ import annotations

from typing import Any

import torch.distributed as dist
from torch import nn

from visdet.models.detectors.single_stage import SingleStageDetector


class RTMDet(SingleStageDetector):
    """RTMDet; see ``SingleStageDetector`` for the arguments, inputs and outputs.

    Args:
        use_syncbn: Convert the BatchNorms to ``SyncBatchNorm`` under a multi-process group.
        **kwargs: ``SingleStageDetector``'s arguments (``backbone``, ``neck``, ``bbox_head``,
            ``data_preprocessor``).
    """

    def __init__(self, *, use_syncbn: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.use_syncbn = use_syncbn
        if use_syncbn and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            nn.SyncBatchNorm.convert_sync_batchnorm(self)
