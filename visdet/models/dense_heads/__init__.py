"""Dense (per-location) heads: their shared base, RPN, RetinaNet, FCOS, RTMDet; their targets, losses, prediction."""

from visdet.models.dense_heads.anchor_free_head import AnchorFreeHead
from visdet.models.dense_heads.base_dense_head import BaseDenseHead
from visdet.models.dense_heads.deformable_detr_head import DeformableDETRHead
from visdet.models.dense_heads.dense_predict import DenseTestConfig
from visdet.models.dense_heads.dino_head import DINOHead
from visdet.models.dense_heads.fcos_head import FCOSHead
from visdet.models.dense_heads.mask_feat_module import MaskFeatModule
from visdet.models.dense_heads.proposals import ProposalConfig
from visdet.models.dense_heads.retina_head import RetinaHead
from visdet.models.dense_heads.rpn_head import RPNHead
from visdet.models.dense_heads.rtmdet_head import RTMDetHead, RTMDetSepBNHead
from visdet.models.dense_heads.rtmdet_ins_head import RTMDetInsHead, RTMDetInsSepBNHead, RTMDetInsTestConfig

__all__ = [
    "AnchorFreeHead",
    "BaseDenseHead",
    "DeformableDETRHead",
    "DINOHead",
    "DenseTestConfig",
    "FCOSHead",
    "ProposalConfig",
    "RPNHead",
    "MaskFeatModule",
    "RTMDetHead",
    "RTMDetInsHead",
    "RTMDetInsSepBNHead",
    "RTMDetInsTestConfig",
    "RTMDetSepBNHead",
    "RetinaHead",
]
