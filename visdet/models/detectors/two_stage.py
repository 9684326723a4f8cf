"""``TwoStageDetector``: backbone -> neck -> RPN -> RoI head (Faster R-CNN and kin).

Shapes: ``inputs [B, 3, H, W]`` is the preprocessed, padded batch (see
``DetDataPreprocessor``); ``metas`` are B mmdet-style meta dicts:

* ``img_shape`` ``(h, w)``: the resized image inside the padded batch (boxes are
  clipped to it);
* ``scale_factor`` ``(w_scale, h_scale)``: resized / original, used to map boxes back
  to the original image when ``rescale=True``;
* ``pad_shape`` ``(h, w)``: the image padded to the size divisor (anchor valid flags);
* ``ori_shape`` and ``batch_input_shape`` are carried along as mmdet does.

Results are ``Instances`` with ``bboxes [N, 4]`` xyxy, ``scores [N]``, ``labels [N]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from visdet.models.roi_heads.standard_roi_head import boxes_to_rois
from visdet.structures import Instances

PREDICT_META_KEYS = ("img_shape",)
RESCALE_META_KEYS = ("scale_factor",)
LOSS_META_KEYS = ("img_shape", "pad_shape")


def check_metas(metas: Sequence[Mapping[str, Any]], num_images: int, keys: Sequence[str]) -> None:
    """Raise a clear error when ``metas`` does not describe ``num_images`` images with ``keys``."""
    if isinstance(metas, Mapping) or not isinstance(metas, Sequence):
        raise TypeError(f"metas must be a list of per-image dicts, got {type(metas).__name__}")
    if len(metas) != num_images:
        raise ValueError(f"got {len(metas)} metas for a batch of {num_images} images")
    for i, meta in enumerate(metas):
        if not isinstance(meta, Mapping):
            raise TypeError(f"metas[{i}] must be a dict, got {type(meta).__name__}")
        for key in keys:
            if key not in meta or meta[key] is None:
                raise KeyError(f"metas[{i}] lacks the key {key!r} (has: {sorted(meta)})")


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

    @property
    def with_neck(self) -> bool:
        """Whether a neck follows the backbone."""
        return getattr(self, "neck", None) is not None

    def _check_inputs(self, inputs: Tensor) -> None:
        if not isinstance(inputs, Tensor):
            raise TypeError(f"inputs must be a (B, C, H, W) tensor, got {type(inputs).__name__}")
        if inputs.dim() != 4:
            raise ValueError(f"inputs must be a (B, C, H, W) tensor, got shape {tuple(inputs.shape)}")
        expected = getattr(self.backbone, "in_channels", None)
        if expected is not None and inputs.shape[1] != expected:
            raise ValueError(f"inputs have {inputs.shape[1]} channels, the backbone takes {expected}")
        if not inputs.is_floating_point():
            raise TypeError(f"inputs must be floating point (preprocessed), got {inputs.dtype}")

    def extract_feat(self, inputs: Tensor) -> tuple[Tensor, ...]:
        """Pyramid features of ``inputs [B, C, H, W]``."""
        feats = self.backbone(inputs)
        if self.with_neck:
            feats = self.neck(feats)
        return tuple(feats)

    def loss(
        self,
        inputs: Tensor,
        metas: Sequence[Mapping[str, Any]],
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
        self._check_inputs(inputs)
        check_metas(metas, inputs.shape[0], LOSS_META_KEYS)
        if len(gt_instances) != inputs.shape[0]:
            raise ValueError(f"got {len(gt_instances)} gt_instances for {inputs.shape[0]} images")
        for i, gt in enumerate(gt_instances):
            if not (gt.has("bboxes") and gt.has("labels")):
                raise KeyError(f"gt_instances[{i}] needs 'bboxes' and 'labels', has {gt.keys()}")
        feats = self.extract_feat(inputs)
        cls_scores, bbox_preds = self.rpn_head(feats)
        rpn_losses = self.rpn_head.loss_by_feat(cls_scores, bbox_preds, gt_instances, metas, gt_instances_ignore)
        proposals = self.rpn_head.predict_by_feat(
            cls_scores, bbox_preds, metas, cfg=self.rpn_head.train_proposals, rescale=False
        )
        losses: dict[str, Tensor] = {}
        for name, per_level in rpn_losses.items():
            losses[name] = sum(per_level) if isinstance(per_level, (list, tuple)) else per_level
        losses.update(self.roi_head.loss(feats, proposals, gt_instances, gt_instances_ignore))
        return losses

    def predict(self, inputs: Tensor, metas: Sequence[Mapping[str, Any]], rescale: bool = True) -> list[Instances]:
        """Detections per image.

        Args:
            inputs: ``[B, C, H, W]`` preprocessed batch.
            metas: B meta dicts with ``img_shape`` (and ``scale_factor`` if ``rescale``).
            rescale: Return boxes in the original image's pixels.

        Returns:
            B ``Instances`` with ``bboxes [N, 4]``, ``scores [N]``, ``labels [N]``.
        """
        self._check_inputs(inputs)
        check_metas(metas, inputs.shape[0], PREDICT_META_KEYS + (RESCALE_META_KEYS if rescale else ()))
        feats = self.extract_feat(inputs)
        cls_scores, bbox_preds = self.rpn_head(feats)
        proposals = self.rpn_head.predict_by_feat(cls_scores, bbox_preds, metas, rescale=False)
        return self.roi_head.predict(feats, proposals, metas, rescale=rescale)

    def forward(self, inputs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Raw second-stage outputs, tensors only (for export and benchmarks).

        Every image is taken to fill the whole input (``img_shape = (H, W)``).

        Args:
            inputs: ``[B, C, H, W]`` preprocessed batch.

        Returns:
            ``rois [R, 5]`` (proposals with image index), ``cls_score [R, K + 1]``,
            ``bbox_pred [R, 4K]``.
        """
        self._check_inputs(inputs)
        height, width = int(inputs.shape[2]), int(inputs.shape[3])
        metas = [{"img_shape": (height, width)} for _ in range(inputs.shape[0])]
        feats = self.extract_feat(inputs)
        cls_scores, bbox_preds = self.rpn_head(feats)
        proposals = self.rpn_head.predict_by_feat(cls_scores, bbox_preds, metas)
        boxes = [p.bboxes for p in proposals]
        cls_score, bbox_pred = self.roi_head.forward(feats, boxes)
        return boxes_to_rois(boxes), cls_score, bbox_pred
