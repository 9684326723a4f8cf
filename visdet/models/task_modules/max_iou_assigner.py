"""``MaxIoUAssigner``: assign priors to ground truth by IoU thresholds (R-CNN, RPN, RetinaNet).

Shape shorthand: N priors, G ground-truth boxes, ``overlaps`` is ``Tensor[G, N]``.

The steps, in mmdet 3.3's order (later steps overwrite earlier ones):

1. every prior starts as ignored (``-1``);
2. priors whose best IoU is in the negative range become negatives (``0``);
3. priors whose best IoU is ``>= pos_iou_thr`` become positives of that gt;
4. with ``match_low_quality``, each gt whose best IoU is ``>= min_pos_iou`` claims its
   best prior(s) — all ties with ``gt_max_assign_all`` — even below ``pos_iou_thr``;
   when several gts claim one prior, the gt with the largest index wins (mmdet loops
   over gts in order). This may replace a step-3 assignment.

Priors that overlap an ignore box by more than ``ignore_iof_thr`` (IoF) get overlap
``-1`` with every gt, so they stay ignored unless step 4 claims them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from visdet.models.task_modules.assign_result import AssignResult
from visdet.models.task_modules.bbox_overlaps_2d import BboxOverlaps2D
from visdet.structures.instances import Instances

IoUCalculator = Callable[..., torch.Tensor]


class MaxIoUAssigner:
    """Assign each prior a gt index (1-based), background (0) or ignore (-1) by IoU.

    Args:
        pos_iou_thr: Priors with best IoU ``>= pos_iou_thr`` are positives.
        neg_iou_thr: A float ``t``: priors with best IoU in ``[0, t)`` are negatives; a
            pair ``(lo, hi)``: best IoU in ``[lo, hi)``.
        min_pos_iou: Smallest IoU a gt's best prior needs to be claimed in step 4.
        gt_max_assign_all: In step 4, claim every prior tied at the gt's best IoU
            (otherwise only the first).
        ignore_iof_thr: IoF above which a prior counts as covered by an ignore box;
            negative disables ignoring.
        ignore_wrt_candidates: IoF measured over the prior's area (True) or over the
            ignore box's area (False).
        match_low_quality: Whether to run step 4 (on for RPN / one-stage heads, off for
            R-CNN heads in mmdet's configs).
        gpu_assign_thr: When positive and there are more than this many gts, compute
            on CPU and move the result back (saves accelerator memory).
        iou_calculator: Callable ``(boxes1, boxes2, mode=...) -> overlaps``; default
            :class:`BboxOverlaps2D`.
    """

    def __init__(
        self,
        *,
        pos_iou_thr: float,
        neg_iou_thr: float | tuple[float, float],
        min_pos_iou: float = 0.0,
        gt_max_assign_all: bool = True,
        ignore_iof_thr: float = -1,
        ignore_wrt_candidates: bool = True,
        match_low_quality: bool = True,
        gpu_assign_thr: float = -1,
        iou_calculator: IoUCalculator | None = None,
    ) -> None:
        if isinstance(neg_iou_thr, (list, tuple)):
            if len(neg_iou_thr) != 2:
                raise ValueError(f"neg_iou_thr as a range needs 2 values, got {neg_iou_thr!r}")
            neg_iou_thr = (float(neg_iou_thr[0]), float(neg_iou_thr[1]))
        elif isinstance(neg_iou_thr, (int, float)) and not isinstance(neg_iou_thr, bool):
            # mmdet silently skips step 2 for an int threshold; visdet treats it as a float.
            neg_iou_thr = float(neg_iou_thr)
        else:
            raise TypeError(f"neg_iou_thr must be a float or a (lo, hi) pair, got {neg_iou_thr!r}")
        self.pos_iou_thr = pos_iou_thr
        self.neg_iou_thr = neg_iou_thr
        self.min_pos_iou = min_pos_iou
        self.gt_max_assign_all = gt_max_assign_all
        self.ignore_iof_thr = ignore_iof_thr
        self.ignore_wrt_candidates = ignore_wrt_candidates
        self.match_low_quality = match_low_quality
        self.gpu_assign_thr = gpu_assign_thr
        self.iou_calculator = BboxOverlaps2D() if iou_calculator is None else iou_calculator

    def assign(
        self,
        pred_instances: Instances,
        gt_instances: Instances,
        gt_instances_ignore: Instances | None = None,
    ) -> AssignResult:
        """Assign ``pred_instances.priors`` to ``gt_instances``.

        Args:
            pred_instances: Has ``priors``, ``Tensor[N, 4]`` (anchors or proposals).
            gt_instances: Has ``bboxes`` ``Tensor[G, 4]`` and ``labels`` ``LongTensor[G]``.
            gt_instances_ignore: Optional, has ``bboxes`` ``Tensor[I, 4]`` to ignore.

        Returns:
            The :class:`AssignResult` over the N priors.
        """
        priors = pred_instances.priors
        gt_bboxes = gt_instances.bboxes
        gt_labels = gt_instances.labels
        gt_bboxes_ignore = None if gt_instances_ignore is None else gt_instances_ignore.bboxes

        assign_on_cpu = self.gpu_assign_thr > 0 and gt_bboxes.shape[0] > self.gpu_assign_thr
        if assign_on_cpu:
            device = priors.device
            priors, gt_bboxes, gt_labels = priors.cpu(), gt_bboxes.cpu(), gt_labels.cpu()
            if gt_bboxes_ignore is not None:
                gt_bboxes_ignore = gt_bboxes_ignore.cpu()

        overlaps = self.iou_calculator(gt_bboxes, priors)
        if (
            self.ignore_iof_thr > 0
            and gt_bboxes_ignore is not None
            and gt_bboxes_ignore.numel() > 0
            and priors.numel() > 0
        ):
            if self.ignore_wrt_candidates:
                ignore_max = (
                    self.iou_calculator(priors, gt_bboxes_ignore, mode="iof").max(dim=1).values
                )
            else:
                ignore_max = (
                    self.iou_calculator(gt_bboxes_ignore, priors, mode="iof").max(dim=0).values
                )
            overlaps[:, ignore_max > self.ignore_iof_thr] = -1

        result = self.assign_wrt_overlaps(overlaps, gt_labels)
        if assign_on_cpu:
            result.gt_inds = result.gt_inds.to(device)
            result.max_overlaps = result.max_overlaps.to(device)
            result.labels = result.labels.to(device)
        return result

    def assign_wrt_overlaps(self, overlaps: torch.Tensor, gt_labels: torch.Tensor) -> AssignResult:
        """Assign from a precomputed ``overlaps`` ``Tensor[G, N]`` and ``gt_labels`` ``[G]``."""
        if overlaps.dim() != 2:
            raise ValueError(f"overlaps must be [G, N], got shape {tuple(overlaps.shape)}")
        num_gts, num_bboxes = overlaps.shape
        assigned_gt_inds = overlaps.new_full((num_bboxes,), -1, dtype=torch.long)
        if num_gts == 0 or num_bboxes == 0:
            if num_gts == 0:
                assigned_gt_inds[:] = 0  # no gt: everything is background
            return AssignResult(
                num_gts=num_gts,
                gt_inds=assigned_gt_inds,
                max_overlaps=overlaps.new_zeros((num_bboxes,)),
                labels=overlaps.new_full((num_bboxes,), -1, dtype=torch.long),
            )

        max_overlaps, argmax_overlaps = overlaps.max(dim=0)
        gt_max_overlaps, gt_argmax_overlaps = overlaps.max(dim=1)

        # 2. negatives
        if isinstance(self.neg_iou_thr, tuple):
            low, high = self.neg_iou_thr
            assigned_gt_inds[(max_overlaps >= low) & (max_overlaps < high)] = 0
        else:
            assigned_gt_inds[(max_overlaps >= 0) & (max_overlaps < self.neg_iou_thr)] = 0

        # 3. positives above the threshold
        pos = max_overlaps >= self.pos_iou_thr
        assigned_gt_inds[pos] = argmax_overlaps[pos] + 1

        # 4. each gt claims its best prior(s); for a prior claimed by several gts the
        #    largest gt index wins, which is what mmdet's in-order loop leaves behind.
        if self.match_low_quality:
            eligible = gt_max_overlaps >= self.min_pos_iou  # [G]
            if self.gt_max_assign_all:
                claims = overlaps == gt_max_overlaps[:, None]
            else:
                prior_ids = torch.arange(num_bboxes, device=overlaps.device)
                claims = gt_argmax_overlaps[:, None] == prior_ids[None, :]
            claims &= eligible[:, None]
            gt_ids = torch.arange(1, num_gts + 1, device=overlaps.device, dtype=torch.long)
            winner = (claims.long() * gt_ids[:, None]).max(dim=0).values  # 0 when unclaimed
            assigned_gt_inds = torch.where(winner > 0, winner, assigned_gt_inds)

        assigned_labels = assigned_gt_inds.new_full((num_bboxes,), -1)
        pos_inds = torch.nonzero(assigned_gt_inds > 0, as_tuple=False).squeeze(1)
        if pos_inds.numel() > 0:
            assigned_labels[pos_inds] = gt_labels[assigned_gt_inds[pos_inds] - 1].to(
                assigned_labels.dtype
            )
        return AssignResult(
            num_gts=num_gts,
            gt_inds=assigned_gt_inds,
            max_overlaps=max_overlaps,
            labels=assigned_labels,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(pos_iou_thr={self.pos_iou_thr}, "
            f"neg_iou_thr={self.neg_iou_thr}, "
            f"min_pos_iou={self.min_pos_iou}, match_low_quality={self.match_low_quality})"
        )
