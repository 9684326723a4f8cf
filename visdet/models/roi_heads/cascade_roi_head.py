"""``CascadeRoIHead``: Cascade R-CNN's second stage (Cai and Vasconcelos, 2018), boxes and masks.

Shapes: B images; per image ``N_i`` proposals ``[N_i, 4]`` xyxy; RoIs ``[R, 5]``
``(batch_index, x1, y1, x2, y2)``; K classes, background label K; S stages.

Each stage has its own RoI extractor and box head (and mask extractor and mask head);
module names equal mmdet's (``bbox_head.0.shared_fcs.0``, ``mask_head.2.conv_logits``).

Training, stage by stage: assign and sample the current proposals with the stage's own
assigner and sampler (mmdet's ``train_cfg.rcnn`` list; the samplers draw from torch's
global RNG image by image, in mmdet's order), compute the stage's losses, named
``s<stage>.<name>`` and multiplied by ``stage_loss_weights[stage]`` (``acc`` is not), then
move the sampled RoIs by the stage's regression (ground-truth proposals dropped) to get
the next stage's proposals. Testing: every stage scores the RoIs that the previous stage
moved (class = the argmax of the stage's logits without background); the detections
come from the last stage's deltas and the mean of all stages' logits (mmdet averages
the raw logits, then the softmax is taken). Masks: every stage's mask head on the final
detections, sigmoid probabilities averaged over stages, pasted as by the last head.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from visdet.models.roi_heads.bbox_postprocess import RCNNTestConfig
from visdet.models.roi_heads.bbox_refine import refine_sampled_boxes, regress_by_class, sampled_labels
from visdet.models.task_modules.protocols import Assigner, Sampler
from visdet.structures import ImageMeta, Instances, boxes_to_rois, empty_detections, image_metas


def _per_stage(name: str, values: Sequence[Any] | None, num_stages: int) -> list[Any] | None:
    if values is None:
        return None
    values = list(values)
    if len(values) != num_stages:
        raise ValueError(f"CascadeRoIHead: {name} has {len(values)} entries for num_stages={num_stages}")
    return values


class CascadeRoIHead(nn.Module):
    """S box stages (and optionally S mask heads) refining the proposals in turn.

    Args:
        num_stages: S.
        stage_loss_weights: S weights of the stages' losses.
        bbox_roi_extractor: S RoI extractors (``SingleRoIExtractor``).
        bbox_head: S box heads (each with its own coder stds); mmdet's configs make them
            class-agnostic.
        bbox_assigner: S assigners (training only).
        bbox_sampler: S samplers (training only).
        pos_weight: S classification weights of positives (``<= 0``: 1).
        test_cfg: Score threshold, NMS and detections per image (``mask_thr_binary``
            with masks).
        mask_head: S mask heads, or ``None``.
        mask_roi_extractor: S mask RoI extractors; ``None`` with mask heads shares the box
            extractors (mmdet's ``share_roi_extractor``; the mask heads then pool with
            the box extractors, they do not reuse box features).
        mask_size: S mask target sizes (``train_cfg.rcnn[s].mask_size``).
        soft_mask_target: S switches for fractional mask targets.
    """

    def __init__(
        self,
        *,
        num_stages: int,
        stage_loss_weights: Sequence[float],
        bbox_roi_extractor: Sequence[nn.Module],
        bbox_head: Sequence[nn.Module],
        bbox_assigner: Sequence[Assigner] | None = None,
        bbox_sampler: Sequence[Sampler] | None = None,
        pos_weight: Sequence[float] | None = None,
        test_cfg: RCNNTestConfig | None = None,
        mask_head: Sequence[nn.Module] | None = None,
        mask_roi_extractor: Sequence[nn.Module] | None = None,
        mask_size: Sequence[int | Sequence[int] | None] | None = None,
        soft_mask_target: Sequence[bool] | None = None,
    ) -> None:
        super().__init__()
        if num_stages < 1:
            raise ValueError(f"CascadeRoIHead: num_stages must be >= 1, got {num_stages}")
        self.num_stages = num_stages
        self.stage_loss_weights = [float(w) for w in _per_stage("stage_loss_weights", stage_loss_weights, num_stages)]
        self.bbox_roi_extractor = nn.ModuleList(_per_stage("bbox_roi_extractor", bbox_roi_extractor, num_stages))
        self.bbox_head = nn.ModuleList(_per_stage("bbox_head", bbox_head, num_stages))
        if len({int(head.num_classes) for head in self.bbox_head}) != 1:
            raise ValueError("CascadeRoIHead: the stages' bbox_head.num_classes differ")
        if mask_head is not None:
            self.mask_head = nn.ModuleList(_per_stage("mask_head", mask_head, num_stages))
            for i, head in enumerate(self.mask_head):
                if int(head.num_classes) != self.num_classes:
                    raise ValueError(
                        f"mask_head[{i}].num_classes ({head.num_classes}) differs from "
                        f"bbox_head.num_classes ({self.num_classes})"
                    )
            self.share_roi_extractor = mask_roi_extractor is None
            # mmdet registers the shared extractors under both names (they have no weights)
            self.mask_roi_extractor = (
                self.bbox_roi_extractor
                if mask_roi_extractor is None
                else nn.ModuleList(_per_stage("mask_roi_extractor", mask_roi_extractor, num_stages))
            )
        elif mask_roi_extractor is not None:
            raise ValueError("mask_roi_extractor is given without a mask_head")
        self.bbox_assigner = _per_stage("bbox_assigner", bbox_assigner, num_stages)
        self.bbox_sampler = _per_stage("bbox_sampler", bbox_sampler, num_stages)
        self.pos_weight = _per_stage("pos_weight", pos_weight, num_stages) or [-1.0] * num_stages
        self.mask_size = _per_stage("mask_size", mask_size, num_stages) or [None] * num_stages
        self.soft_mask_target = _per_stage("soft_mask_target", soft_mask_target, num_stages) or [False] * num_stages
        self.test_cfg = test_cfg if test_cfg is not None else RCNNTestConfig()

    @property
    def with_mask(self) -> bool:
        """Whether the head has mask heads."""
        return getattr(self, "mask_head", None) is not None

    @property
    def num_classes(self) -> int:
        """Number of object classes K of the box heads."""
        return int(self.bbox_head[-1].num_classes)

    def _bbox_forward(self, stage: int, x: Sequence[Tensor], rois: Tensor) -> tuple[Tensor, Tensor]:
        extractor = self.bbox_roi_extractor[stage]
        return self.bbox_head[stage](extractor(x[: extractor.num_inputs], rois))

    def _mask_forward(self, stage: int, x: Sequence[Tensor], rois: Tensor) -> Tensor:
        extractor = self.mask_roi_extractor[stage]
        return self.mask_head[stage](extractor(x[: extractor.num_inputs], rois))

    # ---------------------------------------------------------------- training
    def loss(
        self,
        x: Sequence[Tensor],
        rpn_results_list: Sequence[Instances],
        batch_gt_instances: Sequence[Instances],
        batch_gt_instances_ignore: Sequence[Instances | None] | None = None,
        batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]] | None = None,
    ) -> dict[str, Tensor]:
        """Losses of every stage: ``s<i>.loss_cls``, ``s<i>.acc``, ``s<i>.loss_bbox`` (``s<i>.loss_mask``).

        Args:
            x: Pyramid features.
            rpn_results_list: Per image proposals with ``bboxes [N_i, 4]``.
            batch_gt_instances: Per image ground truth (``bboxes``, ``labels``; ``masks``
                with mask heads).
            batch_gt_instances_ignore: Per image ignored boxes, or ``None``.
            batch_img_metas: Per image metas with ``img_shape`` (refined boxes are clipped
                to it); needed with more than one stage.

        Returns:
            The loss dict, stage by stage in mmdet's order.
        """
        if self.bbox_assigner is None or self.bbox_sampler is None:
            raise ValueError("CascadeRoIHead.loss needs per-stage assigners and samplers (train_cfg.rcnn list)")
        num_imgs = len(rpn_results_list)
        if len(batch_gt_instances) != num_imgs:
            raise ValueError(f"{num_imgs} proposal sets but {len(batch_gt_instances)} ground-truth sets")
        if batch_img_metas is None and self.num_stages > 1:
            raise ValueError("CascadeRoIHead.loss needs batch_img_metas (img_shape) to refine boxes between stages")
        metas = image_metas(batch_img_metas, num_imgs, ("img_shape",)) if batch_img_metas is not None else []
        ignores = batch_gt_instances_ignore or [None] * num_imgs
        proposals = [res.bboxes for res in rpn_results_list]
        losses: dict[str, Tensor] = {}
        for stage in range(self.num_stages):
            weight = self.stage_loss_weights[stage]
            sampling_results = []
            for i in range(num_imgs):
                priors = Instances(priors=proposals[i])
                assign_result = self.bbox_assigner[stage].assign(priors, batch_gt_instances[i], ignores[i])
                sampling_results.append(self.bbox_sampler[stage].sample(assign_result, priors, batch_gt_instances[i]))
            head = self.bbox_head[stage]
            rois = boxes_to_rois([res.priors for res in sampling_results])
            cls_score, bbox_pred = self._bbox_forward(stage, x, rois)
            stage_losses = head.loss_and_target(
                cls_score, bbox_pred, rois, sampling_results, pos_weight=self.pos_weight[stage]
            )
            if self.with_mask:
                stage_losses = {**stage_losses, **self._mask_loss(stage, x, sampling_results, batch_gt_instances)}
            for name, value in stage_losses.items():
                losses[f"s{stage}.{name}"] = value * weight if "loss" in name else value
            if stage < self.num_stages - 1:
                refined = refine_sampled_boxes(
                    sampling_results,
                    rois,
                    sampled_labels(sampling_results, head.num_classes),
                    cls_score,
                    bbox_pred,
                    metas,
                    num_classes=head.num_classes,
                    bbox_coder=head.bbox_coder,
                    reg_class_agnostic=head.reg_class_agnostic,
                )
                if refined is None:  # nothing was sampled: mmdet stops here
                    break
                proposals = refined
        return losses

    def _mask_loss(
        self,
        stage: int,
        x: Sequence[Tensor],
        sampling_results: Sequence[Any],
        batch_gt_instances: Sequence[Instances],
    ) -> dict[str, Tensor]:
        mask_size = self.mask_size[stage]
        if mask_size is None:
            raise ValueError(f"CascadeRoIHead: training mask head {stage} needs train_cfg.rcnn[{stage}].mask_size")
        pos_rois = boxes_to_rois([res.pos_priors for res in sampling_results])
        mask_preds = self._mask_forward(stage, x, pos_rois)
        out = self.mask_head[stage].loss_and_target(
            mask_preds, sampling_results, batch_gt_instances, mask_size, self.soft_mask_target[stage]
        )
        return out["loss_mask"]

    # ----------------------------------------------------------------- testing
    def _refine_roi(
        self, x: Sequence[Tensor], rois: Tensor, metas: Sequence[ImageMeta], counts: Sequence[int]
    ) -> tuple[tuple[Tensor, ...], list[Tensor], Sequence[Tensor | None]]:
        """Run the stages on all RoIs: per image the last stage's RoIs, mean logits and deltas."""
        stage_scores = []
        for stage in range(self.num_stages):
            cls_score, bbox_pred = self._bbox_forward(stage, x, rois)
            per_image_rois = rois.split(list(counts), 0)
            scores = cls_score.split(list(counts), 0)
            stage_scores.append(scores)
            deltas: Sequence[Tensor | None] = (
                bbox_pred.split(list(counts), 0) if bbox_pred is not None else (None,) * len(counts)
            )
            if stage < self.num_stages - 1:
                head = self.bbox_head[stage]
                refined = []
                for i, meta in enumerate(metas):
                    if per_image_rois[i].shape[0] > 0:
                        labels = scores[i][:, :-1].argmax(dim=1)
                        boxes = regress_by_class(
                            per_image_rois[i][:, 1:],
                            labels,
                            deltas[i],  # type: ignore[arg-type]
                            meta.img_shape,  # type: ignore[arg-type]
                            bbox_coder=head.bbox_coder,
                            reg_class_agnostic=head.reg_class_agnostic,
                        )
                        refined.append(torch.cat([per_image_rois[i][:, [0]], boxes], dim=1))
                rois = torch.cat(refined)
        # mmdet: sum([...]) / float(S), the sum starting from the integer 0
        mean_scores = [sum([scores[i] for scores in stage_scores]) / float(self.num_stages) for i in range(len(counts))]
        return per_image_rois, mean_scores, deltas  # type: ignore[return-value]

    def forward(
        self,
        x: Sequence[Tensor],
        proposals: Sequence[Tensor],
        batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Raw outputs for all proposals (no decoding, no NMS).

        Args:
            x: Pyramid features, ``[B, C, H_l, W_l]`` per level.
            proposals: Per image ``[N_i, 4]`` boxes.
            batch_img_metas: Per image ``img_shape`` (boxes moved between stages are
                clipped to it); required with more than one stage.

        Returns:
            ``cls_score [R, K + 1]`` (logits averaged over the stages) and the last stage's
            ``bbox_pred [R, 4]`` / ``[R, 4K]`` for the RoIs the previous stages moved.
        """
        if batch_img_metas is None and self.num_stages > 1:
            raise ValueError("CascadeRoIHead.forward needs batch_img_metas (img_shape) to refine boxes between stages")
        metas = image_metas(batch_img_metas, len(proposals), ("img_shape",)) if batch_img_metas is not None else []
        counts = [len(p) for p in proposals]
        _, scores, deltas = self._refine_roi(x, boxes_to_rois(list(proposals)), metas, counts)
        return torch.cat(scores), torch.cat(deltas)  # type: ignore[arg-type]

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
            batch_img_metas: Per image metas (``img_shape``; ``scale_factor`` to rescale;
                ``ori_shape`` for masks).
            rescale: Return boxes (and masks) in the original image scale.

        Returns:
            One ``Instances`` (``bboxes``, ``scores``, ``labels``; ``masks [N, H, W]`` with
            mask heads) per image.
        """
        metas = image_metas(batch_img_metas, len(rpn_results_list), ("img_shape",))
        # with masks the boxes are rescaled by the mask head, as in mmdet
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
        per_image_rois, scores, deltas = self._refine_roi(x, rois, metas, [len(p) for p in proposals])
        return self.bbox_head[-1].predict_by_feat(
            per_image_rois, scores, deltas, metas, test_cfg=self.test_cfg, rescale=rescale
        )

    def _predict_mask(
        self, x: Sequence[Tensor], results: list[Instances], metas: list[ImageMeta], rescale: bool
    ) -> list[Instances]:
        threshold = self.test_cfg.mask_thr_binary
        if threshold is None:
            raise ValueError("CascadeRoIHead: predicting masks needs test_cfg.mask_thr_binary (test_cfg.rcnn)")
        mask_rois = boxes_to_rois([res.bboxes for res in results])
        counts = [len(res) for res in results]
        if mask_rois.shape[0] == 0:
            merged: Sequence[Tensor] = [mask_rois.new_zeros(0)] * len(results)
        else:
            stage_probs = [
                [m.sigmoid().detach() for m in self._mask_forward(stage, x, mask_rois).split(counts, 0)]
                for stage in range(self.num_stages)
            ]
            merged = [self._merge_stage_masks([p[i] for p in stage_probs], meta) for i, meta in enumerate(metas)]
        return self.mask_head[-1].predict_by_feat(
            merged, results, metas, mask_thr_binary=threshold, rescale=rescale, activate_map=True
        )

    @staticmethod
    def _merge_stage_masks(probs: Sequence[Tensor], meta: ImageMeta) -> Tensor:
        """Mean of the stages' probabilities ``[N, K, mh, mw]`` (mmdet's ``merge_aug_masks``)."""
        if meta.extra.get("flip", False):
            # mmdet's merge_aug_masks would flip the maps back with a negative-step slice,
            # which torch tensors refuse (ValueError); visdet refuses with a clear message
            raise ValueError(
                "CascadeRoIHead: predicting masks of a flipped image (meta 'flip'=True) is not supported "
                "(mmdet 3.3's merge_aug_masks fails on it too); predict on unflipped images"
            )
        return torch.cat([p[None] for p in probs], 0).mean(dim=0)
