"""RoI box heads built from shared and per-branch conv/fc stacks (mmdet's ConvFC family).

Shapes: R RoIs, features ``[R, C, S, S]`` (S = ``roi_feat_size``); K classes.
``forward`` returns ``cls_score [R, K + 1]`` and ``bbox_pred [R, 4K]`` (``[R, 4]`` when
``reg_class_agnostic``). Layout::

    x -> shared_convs -> (flatten) -> shared_fcs -+-> cls_convs -> cls_fcs -> fc_cls
                                                  +-> reg_convs -> reg_fcs -> fc_reg

Attribute names equal mmdet's (``shared_fcs.1``, ``fc_cls``, ``fc_reg``), so state dicts
load as they are. ``loss`` and ``predict_by_feat`` call the pure functions in
``bbox_targets``, ``bbox_loss`` and ``bbox_postprocess``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from visdet.models.roi_heads.bbox_loss import bbox_head_loss
from visdet.models.roi_heads.bbox_postprocess import RCNNTestConfig, bbox_postprocess_single
from visdet.models.roi_heads.bbox_targets import bbox_targets
from visdet.models.task_modules.protocols import BoxCoder
from visdet.structures import ImageMeta, Instances


class ConvFCBBoxHead(nn.Module):
    """Box classification and regression head on pooled RoI features.

    Args:
        num_shared_convs: 3x3 convs shared by both branches.
        num_shared_fcs: Fully connected layers shared by both branches.
        num_cls_convs: Convs of the classification branch (needs ``num_shared_fcs=0``).
        num_cls_fcs: Fcs of the classification branch.
        num_reg_convs: Convs of the regression branch (needs ``num_shared_fcs=0``).
        num_reg_fcs: Fcs of the regression branch.
        conv_out_channels: Channels of every conv.
        fc_out_channels: Width of every fc.
        conv_cfg: mmdet conv config of the convs (``None``: ``nn.Conv2d``).
        norm_cfg: mmdet norm config of the convs (``None``: no norm, conv has a bias).
        with_avg_pool: Average-pool the S x S grid before the fcs/predictors.
        with_cls: Build the classifier ``fc_cls``.
        with_reg: Build the regressor ``fc_reg``.
        roi_feat_size: S.
        in_channels: C.
        num_classes: K (without background).
        bbox_coder: Box coder of the regression targets (deltas with stds 0.1/0.2).
        loss_cls: Classification loss module (softmax cross-entropy).
        loss_bbox: Regression loss module.
        reg_class_agnostic: Predict one box per RoI instead of one per class.
        reg_decoded_bbox: Apply the regression loss to decoded absolute boxes.
    """

    def __init__(
        self,
        *,
        num_shared_convs: int = 0,
        num_shared_fcs: int = 0,
        num_cls_convs: int = 0,
        num_cls_fcs: int = 0,
        num_reg_convs: int = 0,
        num_reg_fcs: int = 0,
        conv_out_channels: int = 256,
        fc_out_channels: int = 1024,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: Mapping[str, Any] | None = None,
        with_avg_pool: bool = False,
        with_cls: bool = True,
        with_reg: bool = True,
        roi_feat_size: int = 7,
        in_channels: int = 256,
        num_classes: int = 80,
        bbox_coder: BoxCoder,
        loss_cls: nn.Module,
        loss_bbox: nn.Module,
        reg_class_agnostic: bool = False,
        reg_decoded_bbox: bool = False,
    ) -> None:
        super().__init__()
        if not (with_cls or with_reg):
            raise ValueError("a box head needs with_cls or with_reg")
        if (num_cls_convs > 0 or num_reg_convs > 0) and num_shared_fcs > 0:
            raise ValueError("branch convs cannot follow shared fcs (set num_shared_fcs=0)")
        if not with_cls and (num_cls_convs or num_cls_fcs):
            raise ValueError("num_cls_convs/num_cls_fcs need with_cls=True")
        if not with_reg and (num_reg_convs or num_reg_fcs):
            raise ValueError("num_reg_convs/num_reg_fcs need with_reg=True")
        self.num_shared_convs, self.num_shared_fcs = num_shared_convs, num_shared_fcs
        self.num_cls_convs, self.num_cls_fcs = num_cls_convs, num_cls_fcs
        self.num_reg_convs, self.num_reg_fcs = num_reg_convs, num_reg_fcs
        self.conv_out_channels, self.fc_out_channels = conv_out_channels, fc_out_channels
        self.conv_cfg, self.norm_cfg = conv_cfg, norm_cfg
        self.with_avg_pool, self.with_cls, self.with_reg = with_avg_pool, with_cls, with_reg
        self.roi_feat_size = (roi_feat_size, roi_feat_size)
        self.roi_feat_area = roi_feat_size * roi_feat_size
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.reg_class_agnostic = reg_class_agnostic
        self.reg_decoded_bbox = reg_decoded_bbox
        self.bbox_coder = bbox_coder
        # registration order follows mmdet's, so state_dict keys come in the same order
        self.loss_cls = loss_cls
        self.loss_bbox = loss_bbox
        if with_avg_pool:
            self.avg_pool = nn.AvgPool2d(self.roi_feat_size)

        shared_convs, shared_fcs, shared_dim = self._branch(num_shared_convs, num_shared_fcs, in_channels, True)
        cls_convs, cls_fcs, cls_dim = self._branch(num_cls_convs, num_cls_fcs, shared_dim, False)
        reg_convs, reg_fcs, reg_dim = self._branch(num_reg_convs, num_reg_fcs, shared_dim, False)
        if num_shared_fcs == 0 and not with_avg_pool:
            cls_dim *= self.roi_feat_area if num_cls_fcs == 0 else 1
            reg_dim *= self.roi_feat_area if num_reg_fcs == 0 else 1
        self.shared_out_channels = shared_dim
        self.cls_last_dim, self.reg_last_dim = cls_dim, reg_dim
        if with_cls:
            self.fc_cls = nn.Linear(cls_dim, num_classes + 1)
        if with_reg:
            self.fc_reg = nn.Linear(reg_dim, 4 if reg_class_agnostic else 4 * num_classes)
        self.shared_convs, self.shared_fcs = shared_convs, shared_fcs
        self.cls_convs, self.cls_fcs = cls_convs, cls_fcs
        self.reg_convs, self.reg_fcs = reg_convs, reg_fcs
        self.relu = nn.ReLU(inplace=True)

    def _branch(
        self, num_convs: int, num_fcs: int, in_dim: int, is_shared: bool
    ) -> tuple[nn.ModuleList, nn.ModuleList, int]:
        """Convs then fcs of one branch, and the branch's output width."""
        convs = nn.ModuleList()
        last_dim = in_dim
        if num_convs > 0:
            from visdet.models.layers import ConvModule  # only the conv variants need it

            for i in range(num_convs):
                convs.append(
                    ConvModule(
                        in_channels=last_dim if i == 0 else self.conv_out_channels,
                        out_channels=self.conv_out_channels,
                        kernel_size=3,
                        padding=1,
                        conv_cfg=self.conv_cfg,
                        norm_cfg=self.norm_cfg,
                    )
                )
            last_dim = self.conv_out_channels
        fcs = nn.ModuleList()
        if num_fcs > 0:
            if (is_shared or self.num_shared_fcs == 0) and not self.with_avg_pool:
                last_dim *= self.roi_feat_area
            for i in range(num_fcs):
                fcs.append(nn.Linear(last_dim if i == 0 else self.fc_out_channels, self.fc_out_channels))
            last_dim = self.fc_out_channels
        return convs, fcs, last_dim

    def _pool_flatten(self, x: Tensor) -> Tensor:
        if self.with_avg_pool:
            # AvgPool2d rejects empty batches; the mean over the grid is the same thing
            x = self.avg_pool(x) if x.numel() > 0 else x.mean(dim=(-1, -2), keepdim=True)
        return x.flatten(1)

    def forward(self, x: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """Scores and deltas of pooled RoI features.

        Args:
            x: ``Tensor[R, C, S, S]``.

        Returns:
            ``cls_score [R, K + 1]`` (or ``None``) and ``bbox_pred [R, 4K]`` / ``[R, 4]``
            (or ``None``).
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"box head expects (R, {self.in_channels}, S, S) features, got {tuple(x.shape)}")
        for conv in self.shared_convs:
            x = conv(x)
        if self.num_shared_fcs > 0:
            x = self._pool_flatten(x)
            for fc in self.shared_fcs:
                x = self.relu(fc(x))
        x_cls, x_reg = x, x
        for conv in self.cls_convs:
            x_cls = conv(x_cls)
        if x_cls.dim() > 2:
            x_cls = self._pool_flatten(x_cls)
        for fc in self.cls_fcs:
            x_cls = self.relu(fc(x_cls))
        for conv in self.reg_convs:
            x_reg = conv(x_reg)
        if x_reg.dim() > 2:
            x_reg = self._pool_flatten(x_reg)
        for fc in self.reg_fcs:
            x_reg = self.relu(fc(x_reg))
        cls_score = self.fc_cls(x_cls) if self.with_cls else None
        bbox_pred = self.fc_reg(x_reg) if self.with_reg else None
        return cls_score, bbox_pred

    def loss_and_target(
        self,
        cls_score: Tensor | None,
        bbox_pred: Tensor | None,
        rois: Tensor,
        sampling_results: Sequence[Any],
        *,
        pos_weight: float = -1.0,
    ) -> dict[str, Tensor]:
        """Losses (``loss_cls``, ``acc``, ``loss_bbox``) of the sampled RoIs.

        Args:
            cls_score: ``[R, K + 1]`` for the sampled RoIs of all images.
            bbox_pred: ``[R, 4K]`` / ``[R, 4]``.
            rois: ``[R, 5]`` the sampled RoIs, per image positives first.
            sampling_results: One ``SamplingResult`` per image.
            pos_weight: Classification weight of positives (``<= 0``: 1).
        """
        targets = bbox_targets(
            sampling_results,
            num_classes=self.num_classes,
            bbox_coder=self.bbox_coder,
            pos_weight=pos_weight,
            reg_decoded_bbox=self.reg_decoded_bbox,
        )
        return bbox_head_loss(
            cls_score,
            bbox_pred,
            rois,
            *targets,
            num_classes=self.num_classes,
            loss_cls=self.loss_cls,
            loss_bbox=self.loss_bbox,
            bbox_coder=self.bbox_coder,
            reg_class_agnostic=self.reg_class_agnostic,
            reg_decoded_bbox=self.reg_decoded_bbox,
        )

    def predict_by_feat(
        self,
        rois: Sequence[Tensor],
        cls_scores: Sequence[Tensor],
        bbox_preds: Sequence[Tensor | None],
        batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]],
        *,
        test_cfg: RCNNTestConfig | None,
        rescale: bool = False,
    ) -> list[Instances]:
        """Detections per image from per-image RoIs, scores and deltas.

        Args:
            rois: Per image ``[R_i, 5]``.
            cls_scores: Per image ``[R_i, K + 1]``.
            bbox_preds: Per image ``[R_i, 4K]`` (or ``None``).
            batch_img_metas: Per image metas (``img_shape``, ``scale_factor``).
            test_cfg: Score threshold, NMS config and detections per image; ``None``
                for every RoI's raw per-class boxes and scores, without NMS (mmdet's
                ``rcnn_test_cfg=None``, for test-time augmentation).
            rescale: Map boxes back to the original image scale.

        Returns:
            One ``Instances`` (``bboxes``, ``scores``, ``labels``) per image.
        """
        if not (len(rois) == len(cls_scores) == len(bbox_preds) == len(batch_img_metas)):
            raise ValueError(
                f"per-image inputs differ in length: {len(rois)} rois, {len(cls_scores)} scores, "
                f"{len(bbox_preds)} deltas, {len(batch_img_metas)} metas"
            )
        with torch.no_grad():
            return [
                bbox_postprocess_single(
                    roi,
                    score,
                    pred,
                    meta,
                    num_classes=self.num_classes,
                    bbox_coder=self.bbox_coder,
                    test_cfg=test_cfg,
                    reg_class_agnostic=self.reg_class_agnostic,
                    rescale=rescale,
                )
                for roi, score, pred, meta in zip(rois, cls_scores, bbox_preds, batch_img_metas)
            ]


class Shared2FCBBoxHead(ConvFCBBoxHead):
    """Two shared fcs then the predictors: Faster R-CNN's box head."""

    def __init__(self, *, fc_out_channels: int = 1024, **kwargs: Any) -> None:
        super().__init__(num_shared_fcs=2, fc_out_channels=fc_out_channels, **kwargs)


class Shared4Conv1FCBBoxHead(ConvFCBBoxHead):
    """Four shared 3x3 convs and one shared fc then the predictors."""

    def __init__(self, *, fc_out_channels: int = 1024, **kwargs: Any) -> None:
        super().__init__(num_shared_convs=4, num_shared_fcs=1, fc_out_channels=fc_out_channels, **kwargs)
