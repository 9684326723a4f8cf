"""The loss side of DINO's head, as a mixin: matching, encoder and denoising terms (mmdet 3.3).

Shape shorthand as :mod:`visdet.models.dense_heads.detr_loss`, plus D denoising queries
and N groups (``dn_meta = {"num_denoising_queries": D, "num_denoising_groups": N}``, what
the ``CdnQueryGenerator`` returns). The decoder's outputs ``[L, B, D + Q, ...]`` hold the
D denoising queries first, then the Q matching queries (:func:`split_outputs`).

Terms, as mmdet's ``DINOHead.loss_by_feat``:

* the matching queries: DETR's per-layer terms (``loss_cls`` ..., ``d{i}.loss_cls`` ...);
* the encoder's selected proposals (``enc_loss_cls``, ``enc_loss_bbox``, ``enc_loss_iou``),
  matched against the gts with their real labels (Deformable DETR uses label 0 there);
* the denoising queries, without matching (``dn_loss_cls`` ... for the last layer,
  ``d{i}.dn_loss_cls`` ... for the others): each group holds ``D / N`` queries, its
  first half the positive copies of the image's gts (query ``g * D / N + j`` is gt j), its
  second half negatives. Every query gets the class loss (background for all but the
  positives, which get their gt's class); the positives get box targets. Images with
  fewer gts than the batch's largest count have padding queries that are background.

mmdet's quirks kept: the denoising box targets are made in torch's default dtype
(``torch.zeros(D, 4)``, float32 in a float32 session, whatever the predictions' dtype); a
batch with no denoising query (D = 0) gives ``dn_loss_cls`` ``zeros(1)``. Difference:
``dn_meta=None`` means no denoising terms here (mmdet fails on it).

The host needs what :class:`~visdet.models.dense_heads.detr_loss.DETRLossMixin` needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from visdet.models.dense_heads.detr_loss import (
    DETRLossMixin,
    Meta,
    box_losses,
    classification_loss,
    cls_avg_factor,
    layer_loss_dict,
)
from visdet.structures.boxes import bbox_xyxy_to_cxcywh
from visdet.structures.image_meta import image_metas
from visdet.structures.instances import Instances

DN_META_KEYS = ("num_denoising_queries", "num_denoising_groups")


def _check_dn_meta(dn_meta: Mapping[str, Any]) -> None:
    if not isinstance(dn_meta, Mapping):
        raise TypeError(f"dn_meta must be a dict with {DN_META_KEYS}, got {type(dn_meta).__name__}")
    missing = [key for key in DN_META_KEYS if key not in dn_meta]
    if missing:
        raise KeyError(f"dn_meta lacks {', '.join(missing)} (has {sorted(dn_meta)})")
    if dn_meta["num_denoising_groups"] < 1:
        raise ValueError(f"dn_meta num_denoising_groups must be >= 1, got {dn_meta['num_denoising_groups']}")


def split_outputs(
    all_layers_cls_scores: Tensor, all_layers_bbox_preds: Tensor, dn_meta: Mapping[str, Any] | None
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """``(matching scores, matching boxes, denoising scores, denoising boxes)`` of ``[L, B, D + Q, ...]``.

    The first ``dn_meta["num_denoising_queries"]`` queries are the denoising ones; without
    ``dn_meta`` every query is a matching one and the denoising parts are ``None``.
    """
    if dn_meta is None:
        return all_layers_cls_scores, all_layers_bbox_preds, None, None
    num_dn = dn_meta["num_denoising_queries"]
    return (all_layers_cls_scores[:, :, num_dn:, :], all_layers_bbox_preds[:, :, num_dn:, :],
            all_layers_cls_scores[:, :, :num_dn, :], all_layers_bbox_preds[:, :, :num_dn, :])  # fmt: skip


class DINOLossMixin(DETRLossMixin):
    """DINOHead's losses for a host head; see the module docstring."""

    def loss_by_feat(  # type: ignore[override]
        self,
        all_layers_cls_scores: Tensor,
        all_layers_bbox_preds: Tensor,
        enc_cls_scores: Tensor | None,
        enc_bbox_preds: Tensor | None,
        batch_gt_instances: Sequence[Instances],
        batch_img_metas: Sequence[Meta],
        dn_meta: Mapping[str, Any] | None,
        batch_gt_instances_ignore: Sequence[Instances] | None = None,
    ) -> dict[str, Tensor]:
        """Matching, encoder and denoising terms.

        Args:
            all_layers_cls_scores: ``[L, B, D + Q, C]`` logits, denoising queries first.
            all_layers_bbox_preds: ``[L, B, D + Q, 4]`` normalised ``(cx, cy, w, h)``.
            enc_cls_scores: ``[B, Q, C]`` logits of the encoder's selected proposals, or ``None``.
            enc_bbox_preds: ``[B, Q, 4]`` the proposals (normalised cxcywh), or ``None``.
            batch_gt_instances: Per image ``bboxes [G, 4]`` (absolute xyxy), ``labels [G]``.
            batch_img_metas: Per image metas with ``img_shape``.
            dn_meta: ``num_denoising_queries`` and ``num_denoising_groups``, or ``None``.
            batch_gt_instances_ignore: Must be ``None``.
        """
        if dn_meta is not None:
            _check_dn_meta(dn_meta)
        match_cls, match_bbox, dn_cls, dn_bbox = split_outputs(all_layers_cls_scores, all_layers_bbox_preds, dn_meta)
        losses = self.decoder_losses(match_cls, match_bbox, batch_gt_instances, batch_img_metas,
                                     batch_gt_instances_ignore)  # fmt: skip
        if enc_cls_scores is not None:
            if enc_bbox_preds is None:
                raise ValueError("enc_cls_scores is given without enc_bbox_preds")
            enc_terms = self.loss_by_feat_single(enc_cls_scores, enc_bbox_preds, batch_gt_instances, batch_img_metas)
            losses.update(zip(("enc_loss_cls", "enc_loss_bbox", "enc_loss_iou"), enc_terms))
        if dn_cls is not None:
            per_layer = self.loss_dn(dn_cls, dn_bbox, batch_gt_instances, batch_img_metas, dn_meta)
            losses.update(layer_loss_dict(list(zip(*per_layer)), "dn_loss"))
        return losses

    def loss_dn(
        self,
        all_layers_denoising_cls_scores: Tensor,
        all_layers_denoising_bbox_preds: Tensor,
        batch_gt_instances: Sequence[Instances],
        batch_img_metas: Sequence[Meta],
        dn_meta: Mapping[str, Any],
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """Per-layer denoising terms: ``(cls list, bbox list, iou list)``, one entry per layer.

        Args:
            all_layers_denoising_cls_scores: ``[L, B, D, C]``.
            all_layers_denoising_bbox_preds: ``[L, B, D, 4]``.
            batch_gt_instances: Per image gts.
            batch_img_metas: Per image metas with ``img_shape``.
            dn_meta: ``num_denoising_queries`` and ``num_denoising_groups``.
        """
        layers = zip(all_layers_denoising_cls_scores, all_layers_denoising_bbox_preds)
        per_layer = [self._loss_dn_single(cls, bbox, batch_gt_instances, batch_img_metas, dn_meta)
                     for cls, bbox in layers]  # fmt: skip
        cls_terms, bbox_terms, iou_terms = (list(terms) for terms in zip(*per_layer))
        return cls_terms, bbox_terms, iou_terms

    def _loss_dn_single(
        self,
        dn_cls_scores: Tensor,
        dn_bbox_preds: Tensor,
        batch_gt_instances: Sequence[Instances],
        batch_img_metas: Sequence[Meta],
        dn_meta: Mapping[str, Any],
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(loss_cls, loss_bbox, loss_iou)`` of one layer's denoising queries ``[B, D, C]``, ``[B, D, 4]``."""
        self._check_detr_loss_host()
        _check_dn_meta(dn_meta)
        metas = image_metas(batch_img_metas, num_images=dn_cls_scores.size(0), require=("img_shape",))
        (labels_list, label_weights_list, bbox_targets_list, bbox_weights_list, num_pos,
         num_neg) = self.get_dn_targets(batch_gt_instances, metas, dn_meta)  # fmt: skip
        labels = torch.cat(labels_list, 0)
        label_weights = torch.cat(label_weights_list, 0)
        bbox_targets = torch.cat(bbox_targets_list, 0)
        bbox_weights = torch.cat(bbox_weights_list, 0)

        flat_scores = dn_cls_scores.reshape(-1, self.cls_out_channels)
        avg_factor = cls_avg_factor(num_pos, num_neg, self.bg_cls_weight, self.sync_cls_avg_factor, flat_scores)
        if len(flat_scores) > 0:
            loss_cls = classification_loss(self, flat_scores, dn_bbox_preds, labels, label_weights, bbox_targets,
                                           avg_factor)  # fmt: skip
        else:  # no denoising query in the batch (no gt at all): mmdet's zeros(1)
            loss_cls = torch.zeros(1, dtype=flat_scores.dtype, device=flat_scores.device)
        loss_bbox, loss_iou = box_losses(self, dn_bbox_preds, bbox_targets, bbox_weights, num_pos, metas, loss_cls)
        return loss_cls, loss_bbox, loss_iou

    def get_dn_targets(
        self, batch_gt_instances: Sequence[Instances], batch_img_metas: Sequence[Meta], dn_meta: Mapping[str, Any]
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor], int, int]:
        """Per image denoising targets (lists as :meth:`get_targets`) and the positive and negative counts."""
        self._check_detr_loss_host()
        _check_dn_meta(dn_meta)
        if len(batch_gt_instances) != len(batch_img_metas):
            raise ValueError(f"got {len(batch_gt_instances)} gt sets and {len(batch_img_metas)} metas")
        results = [self._get_dn_targets_single(gt, meta, dn_meta)
                   for gt, meta in zip(batch_gt_instances, batch_img_metas)]  # fmt: skip
        labels, label_weights, bbox_targets, bbox_weights, pos_inds, neg_inds = map(list, zip(*results))
        num_pos = sum(inds.numel() for inds in pos_inds)
        num_neg = sum(inds.numel() for inds in neg_inds)
        return labels, label_weights, bbox_targets, bbox_weights, num_pos, num_neg

    def _get_dn_targets_single(
        self, gt_instances: Instances, img_meta: Meta, dn_meta: Mapping[str, Any]
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        """One image's denoising targets; see the module docstring for the layout.

        Returns:
            ``(labels [D], label_weights [D], bbox_targets [D, 4], bbox_weights [D, 4],
            pos_inds, neg_inds)``.
        """
        (meta,) = image_metas([img_meta], require=("img_shape",))
        gt_bboxes, gt_labels = gt_instances.bboxes, gt_instances.labels
        num_groups = dn_meta["num_denoising_groups"]
        num_dn = dn_meta["num_denoising_queries"]
        per_group = int(num_dn / num_groups)  # mmdet divides, then truncates
        device = gt_bboxes.device
        if len(gt_labels) > 0:
            gt_index = torch.arange(len(gt_labels), dtype=torch.long, device=device).unsqueeze(0).repeat(num_groups, 1)
            pos_assigned_gt_inds = gt_index.flatten()
            group_start = torch.arange(num_groups, dtype=torch.long, device=device).unsqueeze(1) * per_group
            pos_inds = (group_start + gt_index).flatten()
        else:
            pos_inds = pos_assigned_gt_inds = gt_bboxes.new_tensor([], dtype=torch.long)
        neg_inds = pos_inds + per_group // 2

        labels = gt_bboxes.new_full((num_dn,), self.num_classes, dtype=torch.long)
        labels[pos_inds] = gt_labels[pos_assigned_gt_inds]
        label_weights = gt_bboxes.new_ones(num_dn)
        # torch's default dtype, not the boxes' (mmdet's torch.zeros)
        bbox_targets = torch.zeros(num_dn, 4, device=device)
        bbox_weights = torch.zeros(num_dn, 4, device=device)
        bbox_weights[pos_inds] = 1.0
        img_h, img_w = meta.img_shape[0], meta.img_shape[1]
        factor = gt_bboxes.new_tensor([img_w, img_h, img_w, img_h]).unsqueeze(0)
        bbox_targets[pos_inds] = bbox_xyxy_to_cxcywh(gt_bboxes / factor).repeat([num_groups, 1])
        return labels, label_weights, bbox_targets, bbox_weights, pos_inds, neg_inds
