"""The loss side of the DETR family's heads, as mixins: DETRHead's and DeformableDETRHead's.

Shape shorthand: L decoder layers, B images, Q queries, C ``cls_out_channels`` (the class
count for a sigmoid classifier), G gts of an image, P encoder proposals (two-stage).
Predictions: class logits ``[L, B, Q, C]`` and boxes ``[L, B, Q, 4]`` as sigmoid outputs
in normalised ``(cx, cy, w, h)``. Gts: ``Instances`` with absolute xyxy ``bboxes [G, 4]``
and ``labels [G]`` (background index = ``num_classes``). Metas: dicts (or ``ImageMeta``)
with ``img_shape`` ``(h, w)``.

What mmdet 3.3 computes, per decoder layer (:meth:`DETRLossMixin.loss_by_feat_single`):

1. Each image's queries are matched to its gts by ``self.assigner`` (Hungarian) on the
   boxes converted to absolute xyxy. Matched queries get their gt's class and its box as
   target, normalised by the image size and in ``(cx, cy, w, h)``; the others get the
   background class and no box target.
2. ``loss_cls`` over every query, divided by ``num_pos + bg_cls_weight * num_neg``
   (``bg_cls_weight`` is 0 for these heads), at least 1. With ``sync_cls_avg_factor`` that
   factor is a one-element tensor averaged over processes, so ``loss_cls`` comes out with
   shape ``[1]`` (mmdet's shape, kept); otherwise it is a number.
3. ``loss_bbox`` (L1 on the normalised boxes) and ``loss_iou`` (on absolute xyxy boxes,
   both scaled by the image size) over the matched queries, divided by the positive count
   averaged over processes and clamped at 1.

Names: the last layer's terms are ``loss_cls``, ``loss_bbox``, ``loss_iou``; layer i < L-1
gives ``d{i}.loss_cls`` and so on. Deformable DETR's two-stage encoder proposals add
``enc_loss_cls``, ``enc_loss_bbox``, ``enc_loss_iou``, matched against the gts with every
label set to 0 (one foreground class).

The host class (a head ``nn.Module``) must provide these attributes (checked on every
call, with an error naming the missing ones):

* ``num_classes`` (int): K classes; the background label is K.
* ``cls_out_channels`` (int): C, the width of the class logits (K for a sigmoid loss).
* ``loss_cls``: ``(scores [N, C], labels [N], weight [N], avg_factor=) -> loss``; a
  ``QualityFocalLoss`` gets ``(labels, IoU scores)`` instead, as in mmdet.
* ``loss_bbox``, ``loss_iou``: ``(pred [N, 4], target [N, 4], weight [N, 4], avg_factor=)``.
* ``assigner``: ``assign(pred_instances, gt_instances, img_meta) -> AssignResult``.
* ``bg_cls_weight`` (float): weight of the negatives in the classification normaliser.
* ``sync_cls_avg_factor`` (bool): average the normaliser over processes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from visdet.models.losses import QualityFocalLoss, reduce_mean
from visdet.ops.bbox_overlaps import bbox_overlaps
from visdet.structures.boxes import bbox_cxcywh_to_xyxy, bbox_xyxy_to_cxcywh
from visdet.structures.image_meta import ImageMeta, image_metas
from visdet.structures.instances import Instances

Meta = ImageMeta | Mapping[str, Any]
#: What a host of :class:`DETRLossMixin` must have (see the module docstring).
HOST_ATTRIBUTES = ("num_classes", "cls_out_channels", "loss_cls", "loss_bbox", "loss_iou", "assigner",
                   "bg_cls_weight", "sync_cls_avg_factor")  # fmt: skip


def check_host(host: Any, attributes: Sequence[str], mixin: str) -> None:
    """Raise ``AttributeError`` naming every attribute of ``attributes`` that ``host`` lacks."""
    missing = [name for name in attributes if not hasattr(host, name)]
    if missing:
        raise AttributeError(
            f"{type(host).__name__} uses {mixin} but lacks the attribute(s) {', '.join(missing)}; "
            f"a host must set {', '.join(attributes)} (see visdet.models.dense_heads.detr_loss)"
        )


def image_factors(bbox_preds: Tensor, metas: Sequence[ImageMeta]) -> Tensor:
    """``[B * Q, 4]``: each image's ``(w, h, w, h)`` repeated over its queries (``bbox_preds [B, Q, 4]``)."""
    factors = []
    for meta, preds in zip(metas, bbox_preds):
        img_h, img_w = meta.img_shape[0], meta.img_shape[1]
        factors.append(preds.new_tensor([img_w, img_h, img_w, img_h]).unsqueeze(0).repeat(preds.size(0), 1))
    return torch.cat(factors, 0)


def cls_avg_factor(num_pos: int, num_neg: int, bg_cls_weight: float, sync: bool, like: Tensor) -> Any:
    """Mmdet's classification normaliser: a number, or a ``[1]`` tensor when ``sync``; at least 1.

    ``max(factor, 1)`` is Python's, as in mmdet: a synced factor below 1 becomes the int 1.
    """
    factor: Any = num_pos * 1.0 + num_neg * bg_cls_weight
    if sync:
        factor = reduce_mean(like.new_tensor([factor]))
    return max(factor, 1)


def box_losses(host: Any, bbox_preds: Tensor, bbox_targets: Tensor, bbox_weights: Tensor, num_pos: int,
               metas: Sequence[ImageMeta], like: Tensor) -> tuple[Tensor, Tensor]:  # fmt: skip
    """``(loss_bbox, loss_iou)`` of ``bbox_preds [B, Q, 4]`` against the flat targets ``[B * Q, 4]``.

    The positive count is averaged over processes and clamped at 1 (``like``: the tensor
    whose dtype and device the count takes, mmdet's ``loss_cls``).
    """
    avg_factor = torch.clamp(reduce_mean(like.new_tensor([num_pos])), min=1).item()
    factors = image_factors(bbox_preds, metas)
    flat_preds = bbox_preds.reshape(-1, 4)
    boxes = bbox_cxcywh_to_xyxy(flat_preds) * factors
    boxes_gt = bbox_cxcywh_to_xyxy(bbox_targets) * factors
    loss_iou = host.loss_iou(boxes, boxes_gt, bbox_weights, avg_factor=avg_factor)
    loss_bbox = host.loss_bbox(flat_preds, bbox_targets, bbox_weights, avg_factor=avg_factor)
    return loss_bbox, loss_iou


def classification_loss(host: Any, cls_scores: Tensor, bbox_preds: Tensor, labels: Tensor, label_weights: Tensor,
                        bbox_targets: Tensor, avg_factor: Any) -> Tensor:  # fmt: skip
    """``host.loss_cls`` on ``cls_scores [N, C]``; QualityFocalLoss gets the IoU of each positive as its score."""
    if isinstance(host.loss_cls, QualityFocalLoss):
        pos_inds = ((labels >= 0) & (labels < host.num_classes)).nonzero().squeeze(1)
        scores = label_weights.new_zeros(labels.shape)
        pos_targets = bbox_cxcywh_to_xyxy(bbox_targets[pos_inds])
        pos_preds = bbox_cxcywh_to_xyxy(bbox_preds.reshape(-1, 4)[pos_inds])
        scores[pos_inds] = bbox_overlaps(pos_preds.detach(), pos_targets, is_aligned=True)
        return host.loss_cls(cls_scores, (labels, scores), label_weights, avg_factor=avg_factor)
    return host.loss_cls(cls_scores, labels, label_weights, avg_factor=avg_factor)


class DETRLossMixin:
    """DETRHead's losses (mmdet 3.3) for a host head; see the module docstring for what it needs."""

    def _check_detr_loss_host(self) -> None:
        check_host(self, HOST_ATTRIBUTES, "DETRLossMixin")

    def loss_by_feat(
        self,
        all_layers_cls_scores: Tensor,
        all_layers_bbox_preds: Tensor,
        batch_gt_instances: Sequence[Instances],
        batch_img_metas: Sequence[Meta],
        batch_gt_instances_ignore: Sequence[Instances] | None = None,
    ) -> dict[str, Tensor]:
        """Every decoder layer's losses (DETRHead's ``loss_by_feat``).

        Args:
            all_layers_cls_scores: ``[L, B, Q, C]`` logits.
            all_layers_bbox_preds: ``[L, B, Q, 4]`` normalised ``(cx, cy, w, h)``.
            batch_gt_instances: Per image ``bboxes [G, 4]`` (absolute xyxy), ``labels [G]``.
            batch_img_metas: Per image metas with ``img_shape``.
            batch_gt_instances_ignore: Must be ``None`` (as mmdet).

        Returns:
            ``loss_cls``, ``loss_bbox``, ``loss_iou`` of the last layer and
            ``d{i}.loss_*`` of the others.
        """
        return self.decoder_losses(all_layers_cls_scores, all_layers_bbox_preds, batch_gt_instances,
                                   batch_img_metas, batch_gt_instances_ignore)  # fmt: skip

    def decoder_losses(
        self,
        all_layers_cls_scores: Tensor,
        all_layers_bbox_preds: Tensor,
        batch_gt_instances: Sequence[Instances],
        batch_img_metas: Sequence[Meta],
        batch_gt_instances_ignore: Sequence[Instances] | None = None,
    ) -> dict[str, Tensor]:
        """DETRHead's ``loss_by_feat`` under a name subclasses can call past their own override."""
        self._check_detr_loss_host()
        if batch_gt_instances_ignore is not None:
            raise ValueError(f"{type(self).__name__} supports only batch_gt_instances_ignore=None (as mmdet)")
        if all_layers_cls_scores.dim() != 4 or all_layers_bbox_preds.dim() != 4:
            raise ValueError(
                "all_layers_cls_scores and all_layers_bbox_preds must be [L, B, Q, C] and [L, B, Q, 4], got "
                f"{tuple(all_layers_cls_scores.shape)} and {tuple(all_layers_bbox_preds.shape)}"
            )
        per_layer = [
            self.loss_by_feat_single(cls_scores, bbox_preds, batch_gt_instances, batch_img_metas)
            for cls_scores, bbox_preds in zip(all_layers_cls_scores, all_layers_bbox_preds)
        ]
        return layer_loss_dict(per_layer, "loss")

    def loss_by_feat_single(
        self,
        cls_scores: Tensor,
        bbox_preds: Tensor,
        batch_gt_instances: Sequence[Instances],
        batch_img_metas: Sequence[Meta],
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(loss_cls, loss_bbox, loss_iou)`` of one layer: ``cls_scores [B, Q, C]``, ``bbox_preds [B, Q, 4]``."""
        self._check_detr_loss_host()
        metas = image_metas(batch_img_metas, num_images=cls_scores.size(0), require=("img_shape",))
        num_imgs = cls_scores.size(0)
        (labels_list, label_weights_list, bbox_targets_list, bbox_weights_list, num_pos,
         num_neg) = self.get_targets([cls_scores[i] for i in range(num_imgs)],
                                     [bbox_preds[i] for i in range(num_imgs)], batch_gt_instances, metas)  # fmt: skip
        labels = torch.cat(labels_list, 0)
        label_weights = torch.cat(label_weights_list, 0)
        bbox_targets = torch.cat(bbox_targets_list, 0)
        bbox_weights = torch.cat(bbox_weights_list, 0)

        flat_scores = cls_scores.reshape(-1, self.cls_out_channels)
        avg_factor = cls_avg_factor(num_pos, num_neg, self.bg_cls_weight, self.sync_cls_avg_factor, flat_scores)
        loss_cls = classification_loss(self, flat_scores, bbox_preds, labels, label_weights, bbox_targets,
                                       avg_factor)  # fmt: skip
        loss_bbox, loss_iou = box_losses(self, bbox_preds, bbox_targets, bbox_weights, num_pos, metas, loss_cls)
        return loss_cls, loss_bbox, loss_iou

    def get_targets(
        self,
        cls_scores_list: Sequence[Tensor],
        bbox_preds_list: Sequence[Tensor],
        batch_gt_instances: Sequence[Instances],
        batch_img_metas: Sequence[Meta],
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor], int, int]:
        """Per image targets of one layer.

        Returns:
            ``(labels, label_weights, bbox_targets, bbox_weights)`` lists (one entry per
            image: ``[Q]``, ``[Q]``, ``[Q, 4]``, ``[Q, 4]``), then the positive and negative
            counts over the batch.
        """
        self._check_detr_loss_host()
        if not (len(cls_scores_list) == len(bbox_preds_list) == len(batch_gt_instances) == len(batch_img_metas)):
            raise ValueError(
                f"get_targets got {len(cls_scores_list)} score maps, {len(bbox_preds_list)} box maps, "
                f"{len(batch_gt_instances)} gt sets and {len(batch_img_metas)} metas; they must be one per image"
            )
        results = [self._get_targets_single(*args)
                   for args in zip(cls_scores_list, bbox_preds_list, batch_gt_instances, batch_img_metas)]  # fmt: skip
        labels, label_weights, bbox_targets, bbox_weights, pos_inds, neg_inds = map(list, zip(*results))
        num_pos = sum(inds.numel() for inds in pos_inds)
        num_neg = sum(inds.numel() for inds in neg_inds)
        return labels, label_weights, bbox_targets, bbox_weights, num_pos, num_neg

    def _get_targets_single(
        self, cls_score: Tensor, bbox_pred: Tensor, gt_instances: Instances, img_meta: Meta
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        """One image's targets: ``(labels, label_weights, bbox_targets, bbox_weights, pos_inds, neg_inds)``.

        ``cls_score [Q, C]``, ``bbox_pred [Q, 4]`` normalised cxcywh. Box targets take the
        gt boxes' dtype (mmdet's ``zeros_like(..., dtype=gt_bboxes.dtype)``).
        """
        (meta,) = image_metas([img_meta], require=("img_shape",))
        img_h, img_w = meta.img_shape[0], meta.img_shape[1]
        factor = bbox_pred.new_tensor([img_w, img_h, img_w, img_h]).unsqueeze(0)
        num_bboxes = bbox_pred.size(0)
        bbox_pred = bbox_cxcywh_to_xyxy(bbox_pred) * factor
        result = self.assigner.assign(
            pred_instances=Instances(scores=cls_score, bboxes=bbox_pred), gt_instances=gt_instances, img_meta=meta
        )
        gt_bboxes, gt_labels = gt_instances.bboxes, gt_instances.labels
        pos_inds = torch.nonzero(result.gt_inds > 0, as_tuple=False).squeeze(-1).unique()
        neg_inds = torch.nonzero(result.gt_inds == 0, as_tuple=False).squeeze(-1).unique()
        pos_assigned_gt_inds = result.gt_inds[pos_inds] - 1

        labels = gt_bboxes.new_full((num_bboxes,), self.num_classes, dtype=torch.long)
        labels[pos_inds] = gt_labels[pos_assigned_gt_inds]
        label_weights = gt_bboxes.new_ones(num_bboxes)
        bbox_targets = torch.zeros_like(bbox_pred, dtype=gt_bboxes.dtype)
        bbox_weights = torch.zeros_like(bbox_pred, dtype=gt_bboxes.dtype)
        bbox_weights[pos_inds] = 1.0
        pos_gt_bboxes = gt_bboxes[pos_assigned_gt_inds.long(), :]
        bbox_targets[pos_inds] = bbox_xyxy_to_cxcywh(pos_gt_bboxes / factor)
        return labels, label_weights, bbox_targets, bbox_weights, pos_inds, neg_inds


def layer_loss_dict(per_layer: Sequence[tuple[Tensor, Tensor, Tensor]], stem: str) -> dict[str, Tensor]:
    """The loss dict of per-layer ``(cls, bbox, iou)`` terms, under mmdet's names.

    ``{stem}_cls`` ... for the last layer, ``d{i}.{stem}_cls`` ... for layer i of the others
    (``stem``: ``loss`` or ``dn_loss``).
    """
    if not per_layer:
        raise ValueError("no decoder layer to compute losses for (L = 0)")
    out: dict[str, Tensor] = {}
    for part, value in zip(("cls", "bbox", "iou"), per_layer[-1]):
        out[f"{stem}_{part}"] = value
    for i, terms in enumerate(per_layer[:-1]):
        for part, value in zip(("cls", "bbox", "iou"), terms):
            out[f"d{i}.{stem}_{part}"] = value
    return out


def binary_gt_instances(batch_gt_instances: Sequence[Instances]) -> list[Instances]:
    """Copies of the gts with every label 0 (the encoder proposals' one foreground class)."""
    out = []
    for gt in batch_gt_instances:
        fields = dict(gt.items())
        fields["labels"] = torch.zeros_like(gt.labels)
        out.append(Instances(**fields))
    return out


class DeformableDETRLossMixin(DETRLossMixin):
    """DeformableDETRHead's losses: DETR's per decoder layer, plus the two-stage encoder terms."""

    def loss_by_feat(  # type: ignore[override]
        self,
        all_layers_cls_scores: Tensor,
        all_layers_bbox_preds: Tensor,
        enc_cls_scores: Tensor | None,
        enc_bbox_preds: Tensor | None,
        batch_gt_instances: Sequence[Instances],
        batch_img_metas: Sequence[Meta],
        batch_gt_instances_ignore: Sequence[Instances] | None = None,
    ) -> dict[str, Tensor]:
        """DETR's terms of every decoder layer, and ``enc_loss_*`` when encoder outputs are given.

        Args:
            all_layers_cls_scores: ``[L, B, Q, C]`` logits.
            all_layers_bbox_preds: ``[L, B, Q, 4]`` normalised ``(cx, cy, w, h)``.
            enc_cls_scores: ``[B, P, C]`` encoder proposal logits (two-stage), or ``None``.
            enc_bbox_preds: ``[B, P, 4]`` encoder proposals (normalised cxcywh), or ``None``.
            batch_gt_instances: Per image gts; the encoder terms see every label as 0.
            batch_img_metas: Per image metas with ``img_shape``.
            batch_gt_instances_ignore: Must be ``None``.
        """
        losses = self.decoder_losses(all_layers_cls_scores, all_layers_bbox_preds, batch_gt_instances,
                                     batch_img_metas, batch_gt_instances_ignore)  # fmt: skip
        if enc_cls_scores is not None:
            if enc_bbox_preds is None:
                raise ValueError("enc_cls_scores is given without enc_bbox_preds")
            enc_terms = self.loss_by_feat_single(enc_cls_scores, enc_bbox_preds,
                                                 binary_gt_instances(batch_gt_instances), batch_img_metas)  # fmt: skip
            losses.update(zip(("enc_loss_cls", "enc_loss_bbox", "enc_loss_iou"), enc_terms))
        return losses
