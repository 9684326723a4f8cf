"""``StandardRoIHead``: the second stage of Faster R-CNN (box branch) and Mask R-CNN (plus mask branch).

Shapes: B images; per image ``N_i`` proposals ``[N_i, 4]`` xyxy; RoIs ``[R, 5]`` as
``(batch_index, x1, y1, x2, y2)``; K classes.

Training: per image, proposals are assigned to ground truth and sampled (the sampler
draws from torch's global RNG, image by image, in mmdet's order), then the box head
sees the pooled features of the sampled RoIs. Testing: all proposals are pooled,
scored, decoded and filtered by multi-class NMS.

Mask branch (optional): training pools the positive RoIs with ``mask_roi_extractor`` (or,
with ``share_roi_extractor``, reuses the box features of the positives) and adds
``loss_mask``; testing pools the detections' boxes (before rescaling, as mmdet) and pastes
each detection's mask, with the boxes rescaled by the mask head (mmdet's division).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from visdet.models.roi_heads.bbox_postprocess import RCNNTestConfig
from visdet.models.task_modules.protocols import Assigner, Sampler
from visdet.structures import ImageMeta, Instances, boxes_to_rois, empty_detections, image_metas


class StandardRoIHead(nn.Module):
    """RoI feature extraction plus a box head, with their train and test settings.

    Args:
        bbox_roi_extractor: Pools RoI features from the pyramid (``SingleRoIExtractor``).
        bbox_head: Box head with ``forward``, ``loss_and_target`` and ``predict_by_feat``.
        bbox_assigner: Assigns proposals to ground truth (training only).
        bbox_sampler: Samples assigned proposals (training only).
        pos_weight: Classification weight of positive RoIs (``<= 0``: 1); mmdet's
            ``train_cfg.rcnn.pos_weight``.
        test_cfg: Score threshold, NMS and detections per image (``test_cfg.rcnn``;
            ``mask_thr_binary`` for the mask branch).
        mask_head: Optional mask head (``FCNMaskHead``).
        mask_roi_extractor: RoI extractor of the mask branch; ``None`` with a mask head
            shares the box extractor (mmdet's ``share_roi_extractor``: the mask head reads
            the positives' box features).
        mask_size: Mask target size (mmdet's ``train_cfg.rcnn.mask_size``); needed to train
            the mask branch.
        soft_mask_target: Keep fractional mask targets (``train_cfg.rcnn.soft_mask_target``).
    """

    def __init__(
        self,
        *,
        bbox_roi_extractor: nn.Module,
        bbox_head: nn.Module,
        bbox_assigner: Assigner | None = None,
        bbox_sampler: Sampler | None = None,
        pos_weight: float = -1.0,
        test_cfg: RCNNTestConfig | None = None,
        mask_head: nn.Module | None = None,
        mask_roi_extractor: nn.Module | None = None,
        mask_size: int | Sequence[int] | None = None,
        soft_mask_target: bool = False,
    ) -> None:
        super().__init__()
        self.bbox_roi_extractor = bbox_roi_extractor
        self.bbox_head = bbox_head
        if mask_head is not None:
            if int(mask_head.num_classes) != int(bbox_head.num_classes):
                raise ValueError(
                    f"mask_head.num_classes ({mask_head.num_classes}) differs from "
                    f"bbox_head.num_classes ({bbox_head.num_classes})"
                )
            # mmdet registers the shared extractor under both names (it has no weights)
            self.share_roi_extractor = mask_roi_extractor is None
            self.mask_roi_extractor = bbox_roi_extractor if mask_roi_extractor is None else mask_roi_extractor
            self.mask_head = mask_head
        elif mask_roi_extractor is not None:
            raise ValueError("mask_roi_extractor is given without a mask_head")
        self.mask_size = mask_size
        self.soft_mask_target = soft_mask_target
        self.bbox_assigner = bbox_assigner
        self.bbox_sampler = bbox_sampler
        self.pos_weight = pos_weight
        self.test_cfg = test_cfg if test_cfg is not None else RCNNTestConfig()

    @property
    def with_mask(self) -> bool:
        """Whether the head has a mask branch."""
        return getattr(self, "mask_head", None) is not None

    @property
    def num_classes(self) -> int:
        """Number of object classes K of the box head."""
        return int(self.bbox_head.num_classes)

    def _bbox_forward(self, x: Sequence[Tensor], rois: Tensor) -> tuple[Tensor, Tensor]:
        return self.bbox_head(self._bbox_feats(x, rois))

    def _bbox_feats(self, x: Sequence[Tensor], rois: Tensor) -> Tensor:
        return self.bbox_roi_extractor(x[: self.bbox_roi_extractor.num_inputs], rois)

    def _mask_forward(self, x: Sequence[Tensor], rois: Tensor) -> Tensor:
        feats = self.mask_roi_extractor(x[: self.mask_roi_extractor.num_inputs], rois)
        return self.mask_head(feats)

    def forward(
        self,
        x: Sequence[Tensor],
        proposals: Sequence[Tensor],
        batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Raw box-head outputs for all proposals (no decoding, no NMS).

        Args:
            x: Pyramid features, ``[B, C, H_l, W_l]`` per level.
            proposals: Per image ``[N_i, 4]`` boxes.
            batch_img_metas: Not used (the detector passes it to every RoI head; a cascade
                clips moved boxes to ``img_shape``).

        Returns:
            ``cls_score [R, K + 1]`` and ``bbox_pred [R, 4K]``.
        """
        return self._bbox_forward(x, boxes_to_rois(list(proposals)))

    def loss(
        self,
        x: Sequence[Tensor],
        rpn_results_list: Sequence[Instances],
        batch_gt_instances: Sequence[Instances],
        batch_gt_instances_ignore: Sequence[Instances | None] | None = None,
        batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]] | None = None,
    ) -> dict[str, Tensor]:
        """Losses ``loss_cls``, ``acc`` and ``loss_bbox`` of the sampled proposals.

        Args:
            x: Pyramid features.
            rpn_results_list: Per image proposals with ``bboxes [N_i, 4]``.
            batch_gt_instances: Per image ground truth (``bboxes [G_i, 4]``, ``labels``).
            batch_gt_instances_ignore: Per image ignored boxes, or ``None``.
            batch_img_metas: Not used (the detector passes it to every RoI head).

        Returns:
            The box head's loss dict.
        """
        if self.bbox_assigner is None or self.bbox_sampler is None:
            raise ValueError("StandardRoIHead.loss needs bbox_assigner and bbox_sampler (training settings)")
        num_imgs = len(rpn_results_list)
        if len(batch_gt_instances) != num_imgs:
            raise ValueError(f"{num_imgs} proposal sets but {len(batch_gt_instances)} ground-truth sets")
        ignores = batch_gt_instances_ignore or [None] * num_imgs
        sampling_results = []
        for i in range(num_imgs):
            pred_instances = Instances(priors=rpn_results_list[i].bboxes)
            assign_result = self.bbox_assigner.assign(pred_instances, batch_gt_instances[i], ignores[i])
            sampling_results.append(self.bbox_sampler.sample(assign_result, pred_instances, batch_gt_instances[i]))
        rois = boxes_to_rois([res.priors for res in sampling_results])
        bbox_feats = self._bbox_feats(x, rois)
        cls_score, bbox_pred = self.bbox_head(bbox_feats)
        losses = self.bbox_head.loss_and_target(
            cls_score, bbox_pred, rois, sampling_results, pos_weight=self.pos_weight
        )
        if self.with_mask:
            losses = {**losses, **self._mask_loss(x, sampling_results, bbox_feats, batch_gt_instances)}
        return losses

    def _mask_loss(
        self,
        x: Sequence[Tensor],
        sampling_results: Sequence[Any],
        bbox_feats: Tensor,
        batch_gt_instances: Sequence[Instances],
    ) -> dict[str, Tensor]:
        if self.mask_size is None:
            raise ValueError("StandardRoIHead: training the mask branch needs mask_size (train_cfg.rcnn.mask_size)")
        if self.share_roi_extractor:
            # the positives come first in each image's sampled RoIs
            keep = torch.cat([
                torch.cat([torch.ones(len(res.pos_priors), dtype=torch.bool, device=bbox_feats.device),
                           torch.zeros(len(res.neg_priors), dtype=torch.bool, device=bbox_feats.device)])
                for res in sampling_results
            ])  # fmt: skip
            mask_preds = self.mask_head(bbox_feats[keep])
        else:
            mask_preds = self._mask_forward(x, boxes_to_rois([res.pos_priors for res in sampling_results]))
        out = self.mask_head.loss_and_target(
            mask_preds, sampling_results, batch_gt_instances, self.mask_size, self.soft_mask_target
        )
        return out["loss_mask"]

    def predict(
        self,
        x: Sequence[Tensor],
        rpn_results_list: Sequence[Instances],
        batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]],
        rescale: bool = False,
    ) -> list[Instances]:
        """Detections per image.

        Args:
            x: Pyramid features.
            rpn_results_list: Per image proposals with ``bboxes [N_i, 4]``.
            batch_img_metas: Per image metas (``img_shape``; ``scale_factor`` to rescale).
            rescale: Return boxes in the original image scale.

        Returns:
            One ``Instances`` (``bboxes``, ``scores``, ``labels``; ``masks [N, H, W]`` with
            a mask head) per image.
        """
        metas = image_metas(batch_img_metas, len(rpn_results_list), ("img_shape",))
        # with a mask branch the boxes are rescaled by the mask head, as in mmdet
        results = self._predict_bbox(x, rpn_results_list, metas, rescale=rescale and not self.with_mask)
        if self.with_mask:
            results = self._predict_mask(x, results, metas, rescale=rescale)
        return results

    def _predict_bbox(
        self, x: Sequence[Tensor], rpn_results_list: Sequence[Instances], metas: list[ImageMeta], rescale: bool
    ) -> list[Instances]:
        proposals = [res.bboxes for res in rpn_results_list]
        rois = boxes_to_rois(proposals)
        if rois.shape[0] == 0:
            return [empty_detections(rois.device) for _ in metas]
        cls_score, bbox_pred = self._bbox_forward(x, rois)
        counts = [len(p) for p in proposals]
        bbox_preds = bbox_pred.split(counts, 0) if bbox_pred is not None else (None,) * len(counts)
        return self.bbox_head.predict_by_feat(
            rois.split(counts, 0),
            cls_score.split(counts, 0),
            bbox_preds,
            metas,
            test_cfg=self.test_cfg,
            rescale=rescale,
        )

    def _predict_mask(
        self, x: Sequence[Tensor], results: list[Instances], metas: list[ImageMeta], rescale: bool
    ) -> list[Instances]:
        threshold = self.test_cfg.mask_thr_binary
        if threshold is None:
            raise ValueError("StandardRoIHead: predicting masks needs test_cfg.mask_thr_binary (test_cfg.rcnn)")
        mask_rois = boxes_to_rois([res.bboxes for res in results])
        if mask_rois.shape[0] == 0:
            preds: Sequence[Tensor] = [mask_rois.new_zeros(0)] * len(results)
        else:
            preds = self._mask_forward(x, mask_rois).split([len(res) for res in results], 0)
        return self.mask_head.predict_by_feat(preds, results, metas, mask_thr_binary=threshold, rescale=rescale)
