"""``StandardRoIHead``: the second stage of Faster R-CNN (box branch).

Shapes: B images; per image ``N_i`` proposals ``[N_i, 4]`` xyxy; RoIs ``[R, 5]`` as
``(batch_index, x1, y1, x2, y2)``; K classes.

Training: per image, proposals are assigned to ground truth and sampled (the sampler
draws from torch's global RNG, image by image, in mmdet's order), then the box head
sees the pooled features of the sampled RoIs. Testing: all proposals are pooled,
scored, decoded and filtered by multi-class NMS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
        test_cfg: Score threshold, NMS and detections per image (``test_cfg.rcnn``).
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
    ) -> None:
        super().__init__()
        self.bbox_roi_extractor = bbox_roi_extractor
        self.bbox_head = bbox_head
        self.bbox_assigner = bbox_assigner
        self.bbox_sampler = bbox_sampler
        self.pos_weight = pos_weight
        self.test_cfg = test_cfg if test_cfg is not None else RCNNTestConfig()

    @property
    def num_classes(self) -> int:
        """Number of object classes K of the box head."""
        return int(self.bbox_head.num_classes)

    def _bbox_forward(self, x: Sequence[Tensor], rois: Tensor) -> tuple[Tensor, Tensor]:
        feats = self.bbox_roi_extractor(x[: self.bbox_roi_extractor.num_inputs], rois)
        return self.bbox_head(feats)

    def forward(self, x: Sequence[Tensor], proposals: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        """Raw box-head outputs for all proposals (no decoding, no NMS).

        Args:
            x: Pyramid features, ``[B, C, H_l, W_l]`` per level.
            proposals: Per image ``[N_i, 4]`` boxes.

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
    ) -> dict[str, Tensor]:
        """Losses ``loss_cls``, ``acc`` and ``loss_bbox`` of the sampled proposals.

        Args:
            x: Pyramid features.
            rpn_results_list: Per image proposals with ``bboxes [N_i, 4]``.
            batch_gt_instances: Per image ground truth (``bboxes [G_i, 4]``, ``labels``).
            batch_gt_instances_ignore: Per image ignored boxes, or ``None``.

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
        cls_score, bbox_pred = self._bbox_forward(x, rois)
        return self.bbox_head.loss_and_target(cls_score, bbox_pred, rois, sampling_results, pos_weight=self.pos_weight)

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
            One ``Instances`` (``bboxes``, ``scores``, ``labels``) per image.
        """
        metas = image_metas(batch_img_metas, len(rpn_results_list), ("img_shape",))
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
