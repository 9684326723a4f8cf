"""``DynamicSoftLabelAssigner``: RTMDet's prior-to-gt assignment by a soft matching cost.

Shape shorthand: N priors ``[N, 4]`` (x, y, stride_w, stride_h), their decoded boxes
``[N, 4]`` and class logits ``[N, C]``; G gt boxes. Steps, as mmdet 3.3:

1. Candidates: priors whose centre lies strictly inside at least one gt box (V of them).
2. Cost ``[V, G]`` = soft classification cost + IoU cost + centre prior, where the soft
   label of a candidate for gt g is ``IoU(box, g)`` on g's class, the classification cost
   is ``BCE(logits, soft label) * |soft label - sigmoid(logits)|^2`` summed over the
   classes, the IoU cost is ``-log(IoU + 1e-7) * iou_weight``, and the centre prior is
   ``10 ** (distance / stride - soft_center_radius)`` with the distance from the prior to
   the gt centre (the mask's centre of mass when the gt has ``masks``).
3. Dynamic k (SimOTA): each gt takes its ``k`` cheapest candidates, ``k`` the integer part
   of the sum of its ``topk`` best IoUs (at least 1); a candidate taken by several gts
   keeps the cheapest (first on ties). ``torch.topk`` and ``torch.min`` choose among equal
   costs, as in mmdet.

Result: matched priors get their gt (1-based ``gt_inds``), its label and ``max_overlaps`` =
the IoU with it; every other prior is a negative (0) with ``max_overlaps = -1e8``. The
overlaps are float32 whatever the boxes' dtype (mmdet fills a float32 tensor; kept, as the
soft IoU targets of RTMDet's classification loss come from here). With float64 boxes mmdet
fails there (an index-put of float64 IoUs into the float32 tensor); visdet rounds them to
float32, which is what the parity suite's float64 reference is given too
(:mod:`parity.precision`). Without gt or priors, or
without candidates, everything is negative with overlap 0.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from visdet.models.task_modules.assign_result import AssignResult
from visdet.models.task_modules.bbox_overlaps_2d import BboxOverlaps2D
from visdet.structures.instances import Instances

#: mmdet's overlap of unmatched priors.
INF = 100000000
#: mmdet's epsilon in the IoU cost and the mask centre's normaliser.
EPS = 1.0e-7
#: The exponent of the modulating factor of the soft classification cost.
SOFT_CLS_COST_POWER = 2.0


def center_of_mass(masks: Tensor, eps: float = 1e-7) -> Tensor:
    """Centres ``[G, 2]`` (x, y) of masks ``[G, H, W]``, in pixel indices."""
    _, h, w = masks.shape
    grid_h = torch.arange(h, device=masks.device)[:, None]
    grid_w = torch.arange(w, device=masks.device)
    normalizer = masks.sum(dim=(1, 2)).float().clamp(min=eps)
    center_y = (masks * grid_h).sum(dim=(1, 2)) / normalizer
    center_x = (masks * grid_w).sum(dim=(1, 2)) / normalizer
    return torch.cat([center_x[:, None], center_y[:, None]], dim=1)


class DynamicSoftLabelAssigner:
    """Assign priors to gt by the dynamic soft-label cost; see the module docstring.

    Args:
        soft_center_radius: Centre prior radius, in strides.
        topk: How many best IoUs of a gt give its dynamic k.
        iou_weight: Weight of the IoU cost.
        iou_calculator: ``(boxes1, boxes2) -> IoU [M, N]``; default :class:`BboxOverlaps2D`.
    """

    def __init__(
        self,
        *,
        soft_center_radius: float = 3.0,
        topk: int = 13,
        iou_weight: float = 3.0,
        iou_calculator: Callable[..., Tensor] | None = None,
    ) -> None:
        if topk < 1:
            raise ValueError(f"topk must be >= 1, got {topk}")
        self.soft_center_radius = soft_center_radius
        self.topk = topk
        self.iou_weight = iou_weight
        self.iou_calculator = iou_calculator if iou_calculator is not None else BboxOverlaps2D()

    def assign(
        self, pred_instances: Instances, gt_instances: Instances, gt_instances_ignore: Instances | None = None
    ) -> AssignResult:
        """Assign the N priors of ``pred_instances`` to the G boxes of ``gt_instances``.

        Args:
            pred_instances: ``priors [N, 4]`` (centre x, y and strides), ``bboxes [N, 4]``
                decoded predictions, ``scores [N, C]`` class logits.
            gt_instances: ``bboxes [G, 4]``, ``labels [G]``; optional ``masks`` (``[G, H, W]``
                tensor, or bitmap/polygon masks, converted to one).
            gt_instances_ignore: Not used (as in mmdet).
        """
        gt_bboxes, gt_labels = gt_instances.bboxes, gt_instances.labels
        decoded, scores, priors = pred_instances.bboxes, pred_instances.scores, pred_instances.priors
        num_gt, num_bboxes = gt_bboxes.size(0), decoded.size(0)
        if priors.dim() != 2 or priors.size(-1) < 3:
            raise ValueError(f"DynamicSoftLabelAssigner needs priors [N, 4] with strides, got {tuple(priors.shape)}")
        assigned_gt_inds = decoded.new_full((num_bboxes,), 0, dtype=torch.long)
        if num_gt == 0 or num_bboxes == 0:
            return _all_negative(num_gt, assigned_gt_inds, decoded)

        prior_center = priors[:, :2]
        deltas = torch.cat([prior_center[:, None] - gt_bboxes[:, :2], gt_bboxes[:, 2:] - prior_center[:, None]], dim=-1)
        valid_mask = deltas.min(dim=-1).values.gt(0).sum(dim=1) > 0
        valid_decoded = decoded[valid_mask]
        num_valid = valid_decoded.size(0)
        if num_valid == 0:
            return _all_negative(num_gt, assigned_gt_inds, decoded)

        if gt_instances.has("masks"):
            masks = gt_instances.masks
            if not isinstance(masks, Tensor):  # BitmapMasks / PolygonMasks (mmdet takes tensors only)
                masks = masks.to_tensor(dtype=gt_bboxes.dtype, device=gt_bboxes.device)
            gt_center = center_of_mass(masks, eps=EPS)
        else:
            gt_center = (gt_bboxes[:, :2] + gt_bboxes[:, 2:]) / 2.0
        valid_prior = priors[valid_mask]
        strides = valid_prior[:, 2]
        distance = (valid_prior[:, None, :2] - gt_center[None, :, :]).pow(2).sum(-1).sqrt() / strides[:, None]
        soft_center_prior = torch.pow(10, distance - self.soft_center_radius)

        pairwise_ious = self.iou_calculator(valid_decoded, gt_bboxes)
        iou_cost = -torch.log(pairwise_ious + EPS) * self.iou_weight
        # mmdet's one-hot labels are float32 (``.float()``); the product with the IoUs promotes
        onehot = F.one_hot(gt_labels.to(torch.int64), scores.shape[-1]).float().unsqueeze(0).repeat(num_valid, 1, 1)
        valid_scores = scores[valid_mask].unsqueeze(1).repeat(1, num_gt, 1)
        soft_label = onehot * pairwise_ious[..., None]
        modulating = soft_label - valid_scores.sigmoid()
        soft_cls_cost = F.binary_cross_entropy_with_logits(valid_scores, soft_label, reduction="none")
        soft_cls_cost = (soft_cls_cost * modulating.abs().pow(SOFT_CLS_COST_POWER)).sum(dim=-1)
        cost = soft_cls_cost + iou_cost + soft_center_prior

        matched_ious, matched_gt_inds, fg_mask = self.dynamic_k_matching(cost, pairwise_ious, num_gt)
        matched = valid_mask.clone()
        matched[valid_mask] = fg_mask
        assigned_gt_inds[matched] = matched_gt_inds + 1
        assigned_labels = assigned_gt_inds.new_full((num_bboxes,), -1)
        assigned_labels[matched] = gt_labels[matched_gt_inds].long()
        max_overlaps = assigned_gt_inds.new_full((num_bboxes,), -INF, dtype=torch.float32)
        max_overlaps[matched] = matched_ious.to(max_overlaps.dtype)
        return AssignResult(num_gt, assigned_gt_inds, max_overlaps, labels=assigned_labels)

    def dynamic_k_matching(self, cost: Tensor, pairwise_ious: Tensor, num_gt: int) -> tuple[Tensor, Tensor, Tensor]:
        """SimOTA's dynamic-k matching of V candidates to G gts.

        Args:
            cost: ``Tensor[V, G]`` matching cost.
            pairwise_ious: ``Tensor[V, G]`` IoUs of the candidates' boxes with the gts.
            num_gt: G.

        Returns:
            ``(ious [M], gt_inds [M], fg_mask [V])``: the IoU with and the 0-based gt of
            each of the M matched candidates, and which candidates matched.
        """
        matching_matrix = torch.zeros_like(cost, dtype=torch.uint8)
        candidate_topk = min(self.topk, pairwise_ious.size(0))
        topk_ious, _ = torch.topk(pairwise_ious, candidate_topk, dim=0)
        dynamic_ks = torch.clamp(topk_ious.sum(0).int(), min=1)
        for gt_idx in range(num_gt):
            _, pos_idx = torch.topk(cost[:, gt_idx], k=int(dynamic_ks[gt_idx]), largest=False)
            matching_matrix[:, gt_idx][pos_idx] = 1
        multiple = matching_matrix.sum(1) > 1
        if multiple.sum() > 0:
            _, cost_argmin = torch.min(cost[multiple, :], dim=1)
            matching_matrix[multiple, :] *= 0
            matching_matrix[multiple, cost_argmin] = 1
        fg_mask = matching_matrix.sum(1) > 0
        matched_gt_inds = matching_matrix[fg_mask, :].argmax(1)
        matched_ious = (matching_matrix * pairwise_ious).sum(1)[fg_mask]
        return matched_ious, matched_gt_inds, fg_mask

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(soft_center_radius={self.soft_center_radius}, topk={self.topk}, "
                f"iou_weight={self.iou_weight})")  # fmt: skip


def _all_negative(num_gt: int, assigned_gt_inds: Tensor, decoded: Tensor) -> AssignResult:
    """Every prior negative, overlap 0 in the boxes' dtype, label -1 (mmdet's empty result)."""
    num_bboxes = assigned_gt_inds.numel()
    return AssignResult(num_gt, assigned_gt_inds, decoded.new_zeros((num_bboxes,)),
                        labels=decoded.new_full((num_bboxes,), -1, dtype=torch.long))  # fmt: skip
