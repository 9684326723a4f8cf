"""``HungarianAssigner``: one-to-one matching of Q predictions to G gts (DETR family).

The cost ``[Q, G]`` is the sum of the match costs (:mod:`visdet.models.task_modules.match_costs`);
scipy's ``linear_sum_assignment`` finds the matching of least total cost on the CPU (min(Q, G)
pairs). Result, as mmdet 3.3:

* matched predictions get their gt (1-based ``gt_inds``) and its label; every other
  prediction is a negative (``gt_inds`` 0, label -1);
* ``max_overlaps`` is ``None`` (the matching has no overlaps);
* without gt every prediction is a negative; without predictions the result is empty.

Ties between equal total costs are broken by scipy's algorithm (the same call on the same
matrix as mmdet, so the same pairs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from visdet.models.task_modules.assign_result import AssignResult
from visdet.structures.instances import Instances

MatchCost = Callable[..., Tensor]


class HungarianAssigner:
    """Assign each prediction to at most one gt by minimum-cost bipartite matching.

    Args:
        match_costs: The costs to sum, each ``(pred_instances, gt_instances, img_meta)
            -> Tensor[Q, G]`` (e.g. :class:`FocalLossCost`, :class:`BBoxL1Cost`,
            :class:`IoUCost`); one cost or a non-empty sequence.
    """

    def __init__(self, *, match_costs: MatchCost | Sequence[MatchCost]) -> None:
        costs = list(match_costs) if isinstance(match_costs, Sequence) else [match_costs]
        if not costs:
            raise ValueError("HungarianAssigner needs at least one match cost, got an empty list")
        for cost in costs:
            if not callable(cost):
                raise TypeError(f"a match cost must be callable, got {type(cost).__name__}")
        self.match_costs = costs

    def assign(
        self,
        pred_instances: Instances,
        gt_instances: Instances,
        img_meta: Mapping[str, Any] | Any | None = None,
        **kwargs: Any,
    ) -> AssignResult:
        """Match the Q predictions of ``pred_instances`` to the G gts of ``gt_instances``.

        Args:
            pred_instances: ``scores [Q, C]`` logits and ``bboxes [Q, 4]`` absolute xyxy
                (whatever the costs read).
            gt_instances: ``labels [G]`` and ``bboxes [G, 4]`` absolute xyxy.
            img_meta: The image's meta (``img_shape``), passed to every cost.
            **kwargs: Ignored (mmdet's signature).

        Returns:
            The :class:`AssignResult` described in the module docstring.
        """
        gt_labels = gt_instances.labels
        if not isinstance(gt_labels, Tensor):
            raise TypeError(f"gt_instances.labels must be a tensor, got {type(gt_labels).__name__}")
        num_gts, num_preds = len(gt_instances), len(pred_instances)
        device = gt_labels.device
        gt_inds = torch.full((num_preds,), -1, dtype=torch.long, device=device)
        labels = torch.full((num_preds,), -1, dtype=torch.long, device=device)
        if num_gts == 0 or num_preds == 0:
            if num_gts == 0:
                gt_inds[:] = 0
            return AssignResult(num_gts=num_gts, gt_inds=gt_inds, max_overlaps=None, labels=labels)

        costs = [cost(pred_instances=pred_instances, gt_instances=gt_instances, img_meta=img_meta)
                 for cost in self.match_costs]  # fmt: skip
        cost = torch.stack(costs).sum(dim=0).detach().cpu()
        rows, cols = linear_sum_assignment(cost)
        rows = torch.from_numpy(rows).to(device)
        cols = torch.from_numpy(cols).to(device)
        gt_inds[:] = 0
        gt_inds[rows] = cols + 1
        labels[rows] = gt_labels[cols]
        return AssignResult(num_gts=num_gts, gt_inds=gt_inds, max_overlaps=None, labels=labels)
