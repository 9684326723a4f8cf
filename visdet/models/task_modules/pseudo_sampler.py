"""``PseudoSampler``: take every positive and every negative (no sampling).

Used by one-stage heads and RPN setups that weigh all priors; ``avg_factor`` counts
only positives, as in mmdet 3.3.
"""

from __future__ import annotations

import torch

from visdet.models.task_modules.assign_result import AssignResult
from visdet.models.task_modules.sampling_result import SamplingResult
from visdet.structures.instances import Instances


class PseudoSampler:
    """Return all priors with ``gt_inds > 0`` as positives and ``== 0`` as negatives."""

    def sample(
        self,
        assign_result: AssignResult,
        pred_instances: Instances,
        gt_instances: Instances,
    ) -> SamplingResult:
        """Wrap the assignment in a :class:`SamplingResult`.

        Args:
            assign_result: Assignment of ``pred_instances.priors``.
            pred_instances: Has ``priors`` ``Tensor[N, 4]``.
            gt_instances: Has ``bboxes`` ``Tensor[G, 4]``.

        Returns:
            The sampling result; ignored priors (``gt_inds == -1``) are in neither set.
        """
        priors = pred_instances.priors
        pos_inds = torch.nonzero(assign_result.gt_inds > 0, as_tuple=False).squeeze(-1).unique()
        neg_inds = torch.nonzero(assign_result.gt_inds == 0, as_tuple=False).squeeze(-1).unique()
        gt_flags = priors.new_zeros(priors.shape[0], dtype=torch.uint8)
        return SamplingResult(
            pos_inds=pos_inds,
            neg_inds=neg_inds,
            priors=priors,
            gt_bboxes=gt_instances.bboxes,
            assign_result=assign_result,
            gt_flags=gt_flags,
            avg_factor_with_neg=False,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
