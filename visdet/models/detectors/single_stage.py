"""``SingleStageDetector``: backbone -> neck -> one dense head (RPN, RetinaNet, FCOS, ...).

The dense head does everything after the features: ``bbox_head.loss(feats, gt, metas)``
and ``bbox_head.predict(feats, metas, rescale)`` (see
:class:`~visdet.models.dense_heads.base_dense_head.BaseDenseHead`). Shapes and metas as
in :mod:`visdet.models.detectors.base`.
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
from visdet.structures import ImageMeta, Instances, image_metas


class SingleStageDetector(nn.Module):
    """Dense prediction on pyramid features.

    Args:
        backbone: Image -> multi-level features.
        bbox_head: Dense head with ``forward``, ``loss`` and ``predict``.
        neck: Features -> pyramid features (FPN), or ``None``.
        data_preprocessor: Optional ``DetDataPreprocessor`` kept as mmdet keeps it (it has
            no weights); ``predict``/``loss`` expect already preprocessed inputs.
    """

    def __init__(
        self,
        *,
        backbone: nn.Module,
        bbox_head: nn.Module,
        neck: nn.Module | None = None,
        data_preprocessor: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if data_preprocessor is not None:
            self.data_preprocessor = data_preprocessor
        self.backbone = backbone
        if neck is not None:
            self.neck = neck
        self.bbox_head = bbox_head
        self.dataset_meta: dict[str, Any] | None = None

    @property
    def num_classes(self) -> int:
        """Number of object classes K of the head."""
        return int(self.bbox_head.num_classes)

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
        """Training losses with mmdet's names (per-level terms summed).

        Args:
            inputs: ``[B, C, H, W]`` preprocessed batch.
            metas: B metas with ``img_shape`` and ``pad_shape``.
            gt_instances: B ``Instances`` with ``bboxes [G_i, 4]`` and ``labels [G_i]``.
            gt_instances_ignore: Optional ignored boxes per image.
        """
        check_inputs(inputs, self.backbone)
        batch_metas = image_metas(metas, inputs.shape[0], LOSS_META_KEYS)
        check_gt_instances(gt_instances, inputs.shape[0])
        feats = self.extract_feat(inputs)
        return sum_levels(self.bbox_head.loss(feats, gt_instances, batch_metas, gt_instances_ignore))

    def predict(
        self, inputs: Tensor, metas: Sequence[ImageMeta | Mapping[str, Any]], rescale: bool = True
    ) -> list[Instances]:
        """Detections per image (``bboxes``, ``scores``, ``labels``).

        Args:
            inputs: ``[B, C, H, W]`` preprocessed batch.
            metas: B metas with ``img_shape`` (and ``scale_factor`` if ``rescale``).
            rescale: Return boxes in the original image's pixels.
        """
        check_inputs(inputs, self.backbone)
        batch_metas = image_metas(metas, inputs.shape[0], PREDICT_META_KEYS + (RESCALE_META_KEYS if rescale else ()))
        return self.bbox_head.predict(self.extract_feat(inputs), batch_metas, rescale=rescale)

    def forward(self, inputs: Tensor) -> tuple[Tensor, ...]:
        """The head's raw outputs, tensors only: every level of its first output, then of the next.

        An output that is one tensor rather than per-level ones (RTMDet-Ins's prototypes) stays whole.

        Args:
            inputs: ``[B, C, H, W]`` preprocessed batch.
        """
        check_inputs(inputs, self.backbone)
        outputs = self.bbox_head(self.extract_feat(inputs))
        return tuple(level for levels in outputs for level in ((levels,) if isinstance(levels, Tensor) else levels))
