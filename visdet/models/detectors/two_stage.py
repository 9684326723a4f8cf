"""``TwoStageDetector``: backbone -> neck -> RPN -> RoI head (Faster R-CNN and kin).

Shapes and metas as in :mod:`visdet.models.detectors.base`; ``forward`` returns the raw
second-stage outputs ``rois [R, 5]``, ``cls_score [R, K + 1]``, ``bbox_pred [R, 4K]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from visdet.models.detectors.base import (
    LOSS_META_KEYS,
    PREDICT_META_KEYS,
    RESCALE_META_KEYS,
    check_gt_instances,
    check_inputs,
    extract_features,
    sum_levels,
)
from visdet.structures import ImageMeta, Instances, boxes_to_rois, image_metas


class TwoStageDetector(nn.Module):
    """A proposal stage and a RoI stage on shared pyramid features.

    Args:
        backbone: Image -> multi-level features.
        neck: Features -> pyramid features (FPN), or ``None``.
        rpn_head: Proposal head (``RPNHead``).
        roi_head: Second stage (``StandardRoIHead``).
        data_preprocessor: Optional ``DetDataPreprocessor`` kept as mmdet keeps it (it has
            no weights); ``predict``/``loss`` expect already preprocessed inputs.
    """

    def __init__(
        self,
        *,
        backbone: nn.Module,
        neck: nn.Module | None = None,
        rpn_head: nn.Module,
        roi_head: nn.Module,
        data_preprocessor: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if data_preprocessor is not None:
            self.data_preprocessor = data_preprocessor
        self.backbone = backbone
        if neck is not None:
            self.neck = neck
        self.rpn_head = rpn_head
        self.roi_head = roi_head
        self.dataset_meta: dict[str, Any] | None = None

    @property
    def with_neck(self) -> bool:
        """Whether a neck follows the backbone."""
        return getattr(self, "neck", None) is not None

    @property
    def num_classes(self) -> int:
        """Number of object classes K of the second stage."""
        return int(self.roi_head.num_classes)

    def extract_feat(self, inputs: Tensor) -> tuple[Tensor, ...]:
        """Pyramid features of ``inputs [B, C, H, W]``."""
        return extract_features(self.backbone, getattr(self, "neck", None), inputs)

    def loss(
        self,
        inputs: Tensor,
        metas: Sequence[ImageMeta | Mapping[str, Any]],
        gt_instances: Sequence[Instances],
        gt_instances_ignore: Sequence[Instances | None] | None = None,
    ) -> dict[str, Tensor]:
        """Training losses with mmdet's names.

        Random sampling draws from torch's global RNG in mmdet's order (RPN image by
        image, then RoI head image by image), so a seed gives mmdet's samples.

        Args:
            inputs: ``[B, C, H, W]`` preprocessed batch.
            metas: B meta dicts with ``img_shape`` and ``pad_shape``.
            gt_instances: B ``Instances`` with ``bboxes [G_i, 4]`` (input-image pixels) and
                ``labels [G_i]``; ``G_i`` may be 0.
            gt_instances_ignore: Optional ignored boxes per image.

        Returns:
            ``loss_rpn_cls``, ``loss_rpn_bbox`` (summed over levels, as mmengine logs
            them), ``loss_cls``, ``acc``, ``loss_bbox``.
        """
        check_inputs(inputs, self.backbone)
        batch_metas = image_metas(metas, inputs.shape[0], LOSS_META_KEYS)
        check_gt_instances(gt_instances, inputs.shape[0])
        feats = self.extract_feat(inputs)
        cls_scores, bbox_preds = self.rpn_head(feats)
        rpn_losses = self.rpn_head.loss_by_feat(cls_scores, bbox_preds, gt_instances, batch_metas, gt_instances_ignore)
        proposals = self.rpn_head.predict_by_feat(
            cls_scores, bbox_preds, batch_metas, cfg=self.rpn_head.train_proposals, rescale=False
        )
        losses = sum_levels(rpn_losses)
        losses.update(
            self.roi_head.loss(feats, proposals, gt_instances, gt_instances_ignore, batch_img_metas=batch_metas)
        )
        return losses

    def predict(
        self, inputs: Tensor, metas: Sequence[ImageMeta | Mapping[str, Any]], rescale: bool = True
    ) -> list[Instances]:
        """Detections per image.

        Args:
            inputs: ``[B, C, H, W]`` preprocessed batch.
            metas: B meta dicts with ``img_shape`` (and ``scale_factor`` if ``rescale``).
            rescale: Return boxes in the original image's pixels.

        Returns:
            B ``Instances`` with ``bboxes [N, 4]``, ``scores [N]``, ``labels [N]``.
        """
        check_inputs(inputs, self.backbone)
        batch_metas = image_metas(metas, inputs.shape[0], PREDICT_META_KEYS + (RESCALE_META_KEYS if rescale else ()))
        feats = self.extract_feat(inputs)
        cls_scores, bbox_preds = self.rpn_head(feats)
        proposals = self.rpn_head.predict_by_feat(cls_scores, bbox_preds, batch_metas, rescale=False)
        return self.roi_head.predict(feats, proposals, batch_metas, rescale=rescale)

    def forward(self, inputs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Raw second-stage outputs, tensors only (for export and benchmarks).

        Every image is taken to fill the whole input (``img_shape = (H, W)``).

        Args:
            inputs: ``[B, C, H, W]`` preprocessed batch.

        Returns:
            ``rois [R, 5]`` (proposals with image index), ``cls_score [R, K + 1]``,
            ``bbox_pred [R, 4K]`` (a cascade: the stages' mean logits and the last stage's
            deltas, as mmdet's ``CascadeRoIHead.forward``).
        """
        check_inputs(inputs, self.backbone)
        height, width = int(inputs.shape[2]), int(inputs.shape[3])
        metas = [ImageMeta(img_shape=(height, width)) for _ in range(inputs.shape[0])]
        feats = self.extract_feat(inputs)
        cls_scores, bbox_preds = self.rpn_head(feats)
        proposals = self.rpn_head.predict_by_feat(cls_scores, bbox_preds, metas)
        boxes = [p.bboxes for p in proposals]
        cls_score, bbox_pred = self.roi_head.forward(feats, boxes, batch_img_metas=metas)
        return boxes_to_rois(boxes), cls_score, bbox_pred
