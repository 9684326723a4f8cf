"""Match costs of the Hungarian assigner (DETR family): one ``[Q, G]`` cost matrix each.

Shape shorthand: Q predictions (queries), G ground-truth instances, C classes. Every cost
is called as ``cost(pred_instances, gt_instances, img_meta)`` and returns ``Tensor[Q, G]``
already multiplied by its ``weight``; :class:`~visdet.models.task_modules.HungarianAssigner`
sums them. Conventions, as mmdet 3.3:

* ``pred_instances.bboxes`` and ``gt_instances.bboxes`` are absolute ``(x1, y1, x2, y2)``
  (the head converts its normalised ``(cx, cy, w, h)`` predictions before assigning).
* ``pred_instances.scores`` are logits ``[Q, C]``; ``gt_instances.labels`` are ``[G]``.
* A lower cost is a better match. Constants that do not change the matching are left out
  (the IoU cost is ``-IoU``, not ``1 - IoU``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from visdet.ops.bbox_overlaps import OVERLAP_MODES, bbox_overlaps
from visdet.structures.boxes import bbox_xyxy_to_cxcywh
from visdet.structures.image_meta import ImageMeta, as_image_meta
from visdet.structures.instances import Instances

BOX_FORMATS = ("xyxy", "xywh")


def _image_hw(img_meta: ImageMeta | Mapping[str, Any] | None, where: str) -> tuple[Any, Any]:
    if img_meta is None:
        raise ValueError(f"{where} normalises boxes by the image size and needs img_meta with 'img_shape'")
    meta = as_image_meta(img_meta, where).require("img_shape", where=where)
    return meta.img_shape[0], meta.img_shape[1]


class BBoxL1Cost:
    """L1 distance between boxes normalised by the image size (``[Q, G]``).

    Boxes are divided by ``(w, h, w, h)`` of ``img_meta['img_shape']``; with
    ``box_format="xywh"`` both sets are first converted to ``(cx, cy, w, h)`` (DETR's
    format). The distance is ``torch.cdist(p=1)``, as mmdet computes it.

    Args:
        box_format: ``"xyxy"`` or ``"xywh"`` (the latter is centre-size, for DETR).
        weight: Multiplier of the cost.
    """

    def __init__(self, *, box_format: str = "xyxy", weight: float = 1.0) -> None:
        if box_format not in BOX_FORMATS:
            raise ValueError(f"BBoxL1Cost box_format must be one of {BOX_FORMATS}, got {box_format!r}")
        self.box_format = box_format
        self.weight = weight

    def __call__(
        self, pred_instances: Instances, gt_instances: Instances, img_meta: ImageMeta | Mapping[str, Any] | None = None
    ) -> Tensor:
        """``Tensor[Q, G]``: weighted L1 distances of ``pred_instances.bboxes`` to ``gt_instances.bboxes``."""
        pred_bboxes, gt_bboxes = pred_instances.bboxes, gt_instances.bboxes
        if self.box_format == "xywh":
            gt_bboxes = bbox_xyxy_to_cxcywh(gt_bboxes)
            pred_bboxes = bbox_xyxy_to_cxcywh(pred_bboxes)
        img_h, img_w = _image_hw(img_meta, "BBoxL1Cost")
        factor = gt_bboxes.new_tensor([img_w, img_h, img_w, img_h]).unsqueeze(0)
        return torch.cdist(pred_bboxes / factor, gt_bboxes / factor, p=1) * self.weight


class IoUCost:
    """Negative pairwise IoU (or GIoU) of predicted and gt boxes (``[Q, G]``).

    float16 boxes are compared in float32 and the result cast back (mmdet's overflow guard).

    Args:
        iou_mode: ``"iou"``, ``"iof"`` or ``"giou"``.
        weight: Multiplier of the cost.
    """

    def __init__(self, *, iou_mode: str = "giou", weight: float = 1.0) -> None:
        if iou_mode not in OVERLAP_MODES:
            raise ValueError(f"IoUCost iou_mode must be one of {OVERLAP_MODES}, got {iou_mode!r}")
        self.iou_mode = iou_mode
        self.weight = weight

    def __call__(
        self, pred_instances: Instances, gt_instances: Instances, img_meta: ImageMeta | Mapping[str, Any] | None = None
    ) -> Tensor:
        """``Tensor[Q, G]``: ``-overlap * weight``; ``img_meta`` is not used."""
        pred_bboxes, gt_bboxes = pred_instances.bboxes, gt_instances.bboxes
        half = pred_bboxes.dtype == torch.float16
        if half:
            pred_bboxes = pred_bboxes.to(torch.float32)
        overlaps = bbox_overlaps(pred_bboxes, gt_bboxes, mode=self.iou_mode, is_aligned=False)
        if half:
            overlaps = overlaps.to(torch.float16)
        return -overlaps * self.weight


class ClassificationCost:
    """Negative softmax probability of each gt's class (``[Q, G]``; DETR's softmax head).

    Args:
        weight: Multiplier of the cost.
    """

    def __init__(self, *, weight: float = 1.0) -> None:
        self.weight = weight

    def __call__(
        self, pred_instances: Instances, gt_instances: Instances, img_meta: ImageMeta | Mapping[str, Any] | None = None
    ) -> Tensor:
        """``Tensor[Q, G]``: ``-softmax(scores)[:, labels] * weight``; ``img_meta`` is not used."""
        probs = pred_instances.scores.softmax(-1)
        return -probs[:, gt_instances.labels] * self.weight


class FocalLossCost:
    """Focal-loss cost of classifying each query as each gt's class (``[Q, G]``).

    With ``p = sigmoid(logit)``: ``pos = -log(p + eps) * alpha * (1 - p) ** gamma`` and
    ``neg = -log(1 - p + eps) * (1 - alpha) * p ** gamma``; the cost of query q for gt g is
    ``pos[q, c_g] - neg[q, c_g]``. With ``binary_input=True`` the inputs are masks
    (``pred_instances.masks [Q, ...]`` logits, ``gt_instances.masks [G, ...]`` binary) and
    the cost sums ``pos`` over the gt's foreground pixels and ``neg`` over its background,
    divided by the pixel count.

    Args:
        alpha: Weight of the positive term.
        gamma: Focusing exponent.
        eps: Added inside the logarithms.
        binary_input: Masks instead of class labels.
        weight: Multiplier of the cost.
    """

    def __init__(
        self,
        *,
        alpha: float = 0.25,
        gamma: float = 2,
        eps: float = 1e-12,
        binary_input: bool = False,
        weight: float = 1.0,
    ) -> None:
        self.alpha = alpha
        self.gamma = gamma
        self.eps = eps
        self.binary_input = binary_input
        self.weight = weight

    def _terms(self, logits: Tensor) -> tuple[Tensor, Tensor]:
        prob = logits.sigmoid()
        neg = -(1 - prob + self.eps).log() * (1 - self.alpha) * prob.pow(self.gamma)
        pos = -(prob + self.eps).log() * self.alpha * (1 - prob).pow(self.gamma)
        return pos, neg

    def __call__(
        self, pred_instances: Instances, gt_instances: Instances, img_meta: ImageMeta | Mapping[str, Any] | None = None
    ) -> Tensor:
        """``Tensor[Q, G]``: the weighted focal cost; ``img_meta`` is not used."""
        if self.binary_input:
            pred = pred_instances.masks.flatten(1)
            gt = gt_instances.masks.flatten(1).float()
            pos, neg = self._terms(pred)
            cost = torch.einsum("nc,mc->nm", pos, gt) + torch.einsum("nc,mc->nm", neg, 1 - gt)
            return cost / pred.shape[1] * self.weight
        pos, neg = self._terms(pred_instances.scores)
        labels = gt_instances.labels
        return (pos[:, labels] - neg[:, labels]) * self.weight
