"""Dense (per-location) heads: their shared base, RPN and RetinaNet, and their target, loss and prediction functions."""

from visdet.models.dense_heads.base_dense_head import BaseDenseHead
from visdet.models.dense_heads.dense_predict import DenseTestConfig
from visdet.models.dense_heads.proposals import ProposalConfig
from visdet.models.dense_heads.retina_head import RetinaHead
from visdet.models.dense_heads.rpn_head import RPNHead

__all__ = ["BaseDenseHead", "DenseTestConfig", "ProposalConfig", "RPNHead", "RetinaHead"]
