"""Dense (per-location) heads: the RPN and its target and proposal functions."""

from visdet.models.dense_heads.proposals import ProposalConfig
from visdet.models.dense_heads.rpn_head import RPNHead

__all__ = ["ProposalConfig", "RPNHead"]
