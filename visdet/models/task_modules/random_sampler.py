"""``RandomSampler``: sample a fixed budget of positives and negatives uniformly at random.

Randomness: every draw is ``torch.randperm(n)`` on torch's global CPU generator, the same
calls in the same order as mmdet 3.3 (positives first, then negatives, each only when
there are more candidates than wanted), so a given ``torch.manual_seed`` picks the same
priors in visdet and mmdet.
"""

from __future__ import annotations

import torch

from visdet.models.task_modules.assign_result import AssignResult
from visdet.models.task_modules.sampling_result import SamplingResult
from visdet.structures.instances import Instances


class RandomSampler:
    """Pick up to ``num`` priors, a ``pos_fraction`` share of them positive.

    Args:
        num: Total number of sampled priors (positives + negatives).
        pos_fraction: Largest share of positives; ``int(num * pos_fraction)`` at most.
        neg_pos_ub: When ``>= 0``, at most ``neg_pos_ub * max(1, P)`` negatives.
        add_gt_as_proposals: Prepend the gt boxes to the priors, each a positive of
            itself (two-stage training does this so every gt has a positive).
    """

    def __init__(
        self,
        *,
        num: int,
        pos_fraction: float,
        neg_pos_ub: int = -1,
        add_gt_as_proposals: bool = True,
    ) -> None:
        if num < 0:
            raise ValueError(f"num must be >= 0, got {num}")
        if not 0 <= pos_fraction <= 1:
            raise ValueError(f"pos_fraction must be in [0, 1], got {pos_fraction}")
        self.num = num
        self.pos_fraction = pos_fraction
        self.neg_pos_ub = neg_pos_ub
        self.add_gt_as_proposals = add_gt_as_proposals

    @staticmethod
    def random_choice(gallery: torch.Tensor, num: int) -> torch.Tensor:
        """``num`` distinct entries of ``gallery`` (``LongTensor[M]``), in random order.

        Draws ``torch.randperm(M)`` on the CPU generator, then moves it to the
        gallery's device (mmdet's order of operations).
        """
        if len(gallery) < num:
            raise ValueError(f"cannot choose {num} of a gallery of {len(gallery)}")
        perm = torch.randperm(gallery.numel())[:num].to(device=gallery.device)
        return gallery[perm]

    def _sample_pos(self, assign_result: AssignResult, num_expected: int) -> torch.Tensor:
        pos_inds = torch.nonzero(assign_result.gt_inds > 0, as_tuple=False)
        if pos_inds.numel() != 0:
            pos_inds = pos_inds.squeeze(1)
        if pos_inds.numel() <= num_expected:
            return pos_inds
        return self.random_choice(pos_inds, num_expected)

    def _sample_neg(self, assign_result: AssignResult, num_expected: int) -> torch.Tensor:
        neg_inds = torch.nonzero(assign_result.gt_inds == 0, as_tuple=False)
        if neg_inds.numel() != 0:
            neg_inds = neg_inds.squeeze(1)
        if len(neg_inds) <= num_expected:
            return neg_inds
        return self.random_choice(neg_inds, num_expected)

    def sample(
        self,
        assign_result: AssignResult,
        pred_instances: Instances,
        gt_instances: Instances,
    ) -> SamplingResult:
        """Sample positives and negatives.

        Args:
            assign_result: Assignment of ``pred_instances.priors``.
            pred_instances: Has ``priors`` ``Tensor[N, 4]``.
            gt_instances: Has ``bboxes`` ``Tensor[G, 4]`` and ``labels`` ``LongTensor[G]``.

        Returns:
            The :class:`SamplingResult`; indices are sorted and refer to the priors with
            the gt boxes prepended when ``add_gt_as_proposals`` (``assign_result`` itself
            is left unchanged, unlike mmdet's in-place ``add_gt_``).
        """
        gt_bboxes = gt_instances.bboxes
        gt_labels = gt_instances.labels
        priors = pred_instances.priors
        if priors.dim() < 2:
            priors = priors[None, :]
        gt_flags = priors.new_zeros((priors.shape[0],), dtype=torch.uint8)
        if self.add_gt_as_proposals and len(gt_bboxes) > 0:
            priors = torch.cat([gt_bboxes, priors], dim=0)
            assign_result = assign_result.with_gt_prepended(gt_labels)
            gt_ones = priors.new_ones(gt_bboxes.shape[0], dtype=torch.uint8)
            gt_flags = torch.cat([gt_ones, gt_flags])

        num_expected_pos = int(self.num * self.pos_fraction)
        pos_inds = self._sample_pos(assign_result, num_expected_pos).unique()
        num_sampled_pos = pos_inds.numel()
        num_expected_neg = self.num - num_sampled_pos
        if self.neg_pos_ub >= 0:
            neg_upper_bound = int(self.neg_pos_ub * max(1, num_sampled_pos))
            num_expected_neg = min(num_expected_neg, neg_upper_bound)
        neg_inds = self._sample_neg(assign_result, num_expected_neg).unique()
        return SamplingResult(
            pos_inds=pos_inds,
            neg_inds=neg_inds,
            priors=priors,
            gt_bboxes=gt_bboxes,
            assign_result=assign_result,
            gt_flags=gt_flags,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num={self.num}, pos_fraction={self.pos_fraction}, "
            f"neg_pos_ub={self.neg_pos_ub}, add_gt_as_proposals={self.add_gt_as_proposals})"
        )
