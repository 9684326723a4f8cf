"""``SamplingResult``: the positive and negative priors chosen for the loss.

Shape shorthand: P sampled positives, Q sampled negatives, G ground-truth boxes.
Field names are mmdet 3.3's, so heads read ``pos_priors``, ``pos_gt_bboxes``,
``pos_gt_labels``, ``pos_assigned_gt_inds``, ``avg_factor`` the same way.
"""

from __future__ import annotations

from typing import Any

import torch

from visdet.models.task_modules.assign_result import AssignResult


class SamplingResult:
    """Indices and boxes of the sampled priors.

    Args:
        pos_inds: ``LongTensor[P]`` indices of positive priors (into ``priors``).
        neg_inds: ``LongTensor[Q]`` indices of negative priors.
        priors: ``Tensor[N, 4]`` all candidate priors (gt boxes first when they were added).
        gt_bboxes: ``Tensor[G, 4]`` ground-truth boxes.
        assign_result: The assignment over the N priors.
        gt_flags: ``UInt8Tensor[N]``, 1 where the prior is a gt box added as a proposal.
        avg_factor_with_neg: Whether ``avg_factor`` counts negatives too (random
            sampling) or only positives (pseudo sampling).

    Attributes:
        num_pos: ``max(P, 1)``; num_neg: ``max(Q, 1)`` (never zero, to divide by).
        avg_factor: ``num_pos + num_neg`` or ``num_pos``.
        pos_priors / neg_priors: ``Tensor[P, 4]`` / ``Tensor[Q, 4]``.
        pos_is_gt: ``UInt8Tensor[P]``.
        pos_assigned_gt_inds: ``LongTensor[P]``, 0-based gt index of each positive.
        pos_gt_labels: ``LongTensor[P]``.
        pos_gt_bboxes: ``Tensor[P, 4]``, the gt box of each positive.
    """

    def __init__(
        self,
        pos_inds: torch.Tensor,
        neg_inds: torch.Tensor,
        priors: torch.Tensor,
        gt_bboxes: torch.Tensor,
        assign_result: AssignResult,
        gt_flags: torch.Tensor,
        avg_factor_with_neg: bool = True,
    ) -> None:
        self.pos_inds = pos_inds
        self.neg_inds = neg_inds
        self.num_pos = max(pos_inds.numel(), 1)
        self.num_neg = max(neg_inds.numel(), 1)
        self.avg_factor_with_neg = avg_factor_with_neg
        self.avg_factor = self.num_pos + self.num_neg if avg_factor_with_neg else self.num_pos
        self.pos_priors = priors[pos_inds]
        self.neg_priors = priors[neg_inds]
        self.pos_is_gt = gt_flags[pos_inds]
        self.num_gts = gt_bboxes.shape[0]
        self.pos_assigned_gt_inds = assign_result.gt_inds[pos_inds] - 1
        self.pos_gt_labels = assign_result.labels[pos_inds]
        if gt_bboxes.numel() == 0:
            if self.pos_assigned_gt_inds.numel() != 0:
                raise ValueError(
                    f"{self.pos_assigned_gt_inds.numel()} positives were sampled but there "
                    "are no gt boxes"
                )
            self.pos_gt_bboxes = gt_bboxes.view(-1, 4)
        else:
            if gt_bboxes.dim() < 2:
                gt_bboxes = gt_bboxes.view(-1, 4)
            self.pos_gt_bboxes = gt_bboxes[self.pos_assigned_gt_inds.long()]

    @property
    def priors(self) -> torch.Tensor:
        """``Tensor[P + Q, 4]``: positive then negative priors."""
        return torch.cat([self.pos_priors, self.neg_priors], dim=0)

    def to(self, device: torch.device | str) -> SamplingResult:
        """Move every tensor field to ``device`` in place; returns ``self``."""
        for key, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                setattr(self, key, value.to(device))
        return self

    @property
    def info(self) -> dict[str, Any]:
        """The main fields as a dict."""
        return {
            "pos_inds": self.pos_inds,
            "neg_inds": self.neg_inds,
            "pos_priors": self.pos_priors,
            "neg_priors": self.neg_priors,
            "pos_is_gt": self.pos_is_gt,
            "num_gts": self.num_gts,
            "pos_assigned_gt_inds": self.pos_assigned_gt_inds,
            "num_pos": self.num_pos,
            "num_neg": self.num_neg,
            "avg_factor": self.avg_factor,
        }

    def __repr__(self) -> str:
        return (
            f"SamplingResult(num_pos={self.pos_inds.numel()}, num_neg={self.neg_inds.numel()}, "
            f"num_gts={self.num_gts}, avg_factor={self.avg_factor})"
        )
