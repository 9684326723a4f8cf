"""Dense (per-location) heads: their shared base, the RPN, and their target and proposal functions."""

from visdet.models.dense_heads.base_dense_head import BaseDenseHead
from visdet.models.dense_heads.proposals import ProposalConfig
from visdet.models.dense_heads.rpn_head import RPNHead

__all__ = ["BaseDenseHead", "ProposalConfig", "RPNHead"]
