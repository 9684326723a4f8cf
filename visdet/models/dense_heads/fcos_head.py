"""``FCOSHead``: FCOS's per-point classes, side distances and centerness (mmdet's ``FCOSHead``).

Shapes: L levels ``[B, C_in, H_l, W_l]``, one point per cell, K classes. ``forward``
returns per level ``cls_score [B, K, H_l, W_l]`` (sigmoid logits), ``bbox_pred
[B, 4, H_l, W_l]`` (left, top, right, bottom distances in pixels, or in strides with
``norm_on_bbox`` while training) and ``centerness [B, 1, H_l, W_l]`` logits.

Per level the regression is ``exp(scale_l * conv_reg(x))``, or with ``norm_on_bbox``
``relu(scale_l * conv_reg(x))`` (times the stride in eval mode). mmdet casts it with
``.float()`` (for fp16 training), so it is float32 whatever the model's dtype; visdet
keeps the cast. Losses (``loss_cls`` over all points, ``loss_bbox`` IoU of decoded
positive boxes weighted by the centerness targets, ``loss_centerness`` BCE on positives)
follow ``FCOSHead.loss_by_feat``; prediction is the one-stage
:func:`~visdet.models.dense_heads.dense_predict.dense_predict_single` with the centerness
sigmoid as the score factor.

Attribute names are mmdet's (see :mod:`~visdet.models.dense_heads.anchor_free_head`),
plus ``conv_centerness`` and ``scales`` (one :class:`~visdet.models.layers.Scale` per level).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor, nn

from visdet.models.dense_heads.anchor_free_head import AnchorFreeHead
from visdet.models.dense_heads.fcos_targets import INF, centerness_target, fcos_targets
from visdet.models.layers import Scale
from visdet.structures import ImageMeta, Instances, image_metas

DEFAULT_REGRESS_RANGES = ((-1, 64), (64, 128), (128, 256), (256, 512), (512, INF))
#: FCOS's towers use GroupNorm by default (unlike ``AnchorFreeHead``'s).
GN_CFG: Mapping[str, Any] = MappingProxyType({"type": "GN", "num_groups": 32, "requires_grad": True})
# mmdet's lower bound of the centerness normaliser of the box loss
CENTERNESS_DENORM_MIN = 1e-6


class FCOSHead(AnchorFreeHead):
    """FCOS head; see the module docstring.

    Args:
        num_classes: K object classes.
        in_channels: Channels of the pyramid features.
        regress_ranges: ``(low, high)`` of the largest side distance per level.
        center_sampling: Positives only within ``center_sample_radius`` strides of the gt centre.
        center_sample_radius: The radius, in strides.
        norm_on_bbox: Regress distances in strides, with a ReLU instead of ``exp``.
        centerness_on_reg: Centerness from the regression tower (else the classification tower).
        loss_centerness: The centerness loss (``CrossEntropyLoss(use_sigmoid=True)``).
        norm_cfg: Norm of the tower convs (GN with 32 groups by default, as mmdet).
        **kwargs: :class:`AnchorFreeHead`'s arguments (``feat_channels``, ``stacked_convs``,
            ``strides``, ``conv_bias``, ``loss_cls``, ``loss_bbox``, ``bbox_coder``,
            ``conv_cfg``, ``test_cfg``).
    """

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int,
        regress_ranges: Sequence[Sequence[float]] = DEFAULT_REGRESS_RANGES,
        center_sampling: bool = False,
        center_sample_radius: float = 1.5,
        norm_on_bbox: bool = False,
        centerness_on_reg: bool = False,
        loss_centerness: nn.Module,
        norm_cfg: Mapping[str, Any] | None = GN_CFG,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels,
                         norm_cfg=dict(norm_cfg) if norm_cfg is not None else None, **kwargs)  # fmt: skip
        if len(regress_ranges) != len(self.strides):
            raise ValueError(f"regress_ranges has {len(regress_ranges)} levels, strides {len(self.strides)}")
        self.regress_ranges = regress_ranges
        self.center_sampling = center_sampling
        self.center_sample_radius = center_sample_radius
        self.norm_on_bbox = norm_on_bbox
        self.centerness_on_reg = centerness_on_reg
        self.conv_centerness = nn.Conv2d(self.feat_channels, 1, 3, padding=1)
        self.scales = nn.ModuleList([Scale(1.0) for _ in self.strides])
        self.loss_centerness = loss_centerness
        self.init_weights()

    def forward_level(self, level: int, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``forward_single`` with the level's scale and stride."""
        return self.forward_single(x, self.scales[level], self.strides[level])

    def forward_single(self, x: Tensor, scale: nn.Module, stride: int) -> tuple[Tensor, Tensor, Tensor]:  # type: ignore[override]
        """``cls_score``, ``bbox_pred`` and ``centerness`` of one level (see the module docstring)."""
        cls_score, bbox_pred, cls_feat, reg_feat = super().forward_single(x)
        centerness = self.conv_centerness(reg_feat if self.centerness_on_reg else cls_feat)
        bbox_pred = scale(bbox_pred).float()  # mmdet's cast (fp16 overflow): float32 in every precision
        if self.norm_on_bbox:
            bbox_pred = bbox_pred.clamp(min=0)
            if not self.training:
                bbox_pred = bbox_pred * stride
        else:
            bbox_pred = bbox_pred.exp()
        return cls_score, bbox_pred, centerness

    def forward(self, feats: Sequence[Tensor]) -> tuple[list[Tensor], ...]:
        """Per-level ``cls_scores``, ``bbox_preds`` and ``centernesses``."""
        return super(AnchorFreeHead, self).forward(feats)

    def loss_by_feat(  # type: ignore[override]
        self,
        cls_scores: Sequence[Tensor],
        bbox_preds: Sequence[Tensor],
        centernesses: Sequence[Tensor],
        batch_gt_instances: Sequence[Instances],
        batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]],
        batch_gt_instances_ignore: Sequence[Instances | None] | None = None,
    ) -> dict[str, Tensor]:
        """``loss_cls``, ``loss_bbox`` and ``loss_centerness`` (each over all levels).

        Args:
            cls_scores: Per level ``[B, C, H_l, W_l]``.
            bbox_preds: Per level ``[B, 4, H_l, W_l]``.
            centernesses: Per level ``[B, 1, H_l, W_l]``.
            batch_gt_instances: Per image ``bboxes [G_i, 4]`` and ``labels [G_i]``.
            batch_img_metas: Per image metas (unused by the targets; checked for the count).
            batch_gt_instances_ignore: Not used by FCOS (as in mmdet).
        """
        if not len(cls_scores) == len(bbox_preds) == len(centernesses):
            raise ValueError(f"FCOSHead: {len(cls_scores)} score, {len(bbox_preds)} box and {len(centernesses)} "
                             "centerness levels")  # fmt: skip
        if len(batch_gt_instances) != cls_scores[0].size(0):
            raise ValueError(f"FCOSHead: {len(batch_gt_instances)} gt entries for {cls_scores[0].size(0)} images")
        image_metas(batch_img_metas, cls_scores[0].size(0))
        featmap_sizes = [tuple(score.shape[-2:]) for score in cls_scores]
        points = self.prior_generator.grid_priors(featmap_sizes, dtype=bbox_preds[0].dtype,
                                                  device=bbox_preds[0].device)  # fmt: skip
        labels, bbox_targets = fcos_targets(
            points, batch_gt_instances, num_classes=self.num_classes, strides=self.strides,
            regress_ranges=self.regress_ranges, center_sampling=self.center_sampling,
            center_sample_radius=self.center_sample_radius, norm_on_bbox=self.norm_on_bbox,
        )  # fmt: skip
        num_imgs = cls_scores[0].size(0)
        flat_scores = torch.cat([score.permute(0, 2, 3, 1).reshape(-1, self.cls_out_channels) for score in cls_scores])
        flat_preds = torch.cat([pred.permute(0, 2, 3, 1).reshape(-1, 4) for pred in bbox_preds])
        flat_centerness = torch.cat([ctr.permute(0, 2, 3, 1).reshape(-1) for ctr in centernesses])
        flat_labels = torch.cat(labels)
        flat_targets = torch.cat(bbox_targets)
        flat_points = torch.cat([level.repeat(num_imgs, 1) for level in points])

        pos_inds = ((flat_labels >= 0) & (flat_labels < self.num_classes)).nonzero().reshape(-1)
        # mmdet: a float32 count (reduce_mean over processes; one process here), at least 1
        num_pos = max(torch.tensor(len(pos_inds), dtype=torch.float, device=bbox_preds[0].device), 1.0)
        loss_cls = self.loss_cls(flat_scores, flat_labels, avg_factor=num_pos)

        pos_preds = flat_preds[pos_inds]
        pos_centerness = flat_centerness[pos_inds]
        pos_targets = flat_targets[pos_inds]
        pos_centerness_targets = centerness_target(pos_targets)
        centerness_denorm = max(pos_centerness_targets.sum().detach(), CENTERNESS_DENORM_MIN)
        if len(pos_inds) > 0:
            pos_points = flat_points[pos_inds]
            loss_bbox = self.loss_bbox(
                self.bbox_coder.decode(pos_points, pos_preds),
                self.bbox_coder.decode(pos_points, pos_targets),
                weight=pos_centerness_targets,
                avg_factor=centerness_denorm,
            )
            loss_centerness = self.loss_centerness(pos_centerness, pos_centerness_targets, avg_factor=num_pos)
        else:  # zero, connected to the graph
            loss_bbox = pos_preds.sum()
            loss_centerness = pos_centerness.sum()
        return {"loss_cls": loss_cls, "loss_bbox": loss_bbox, "loss_centerness": loss_centerness}

    def predict(
        self, feats: Sequence[Tensor], batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]], rescale: bool = False
    ) -> list[Instances]:
        """Detections per image, the centerness sigmoid multiplied into the scores."""
        cls_scores, bbox_preds, centernesses = self(feats)
        return self.predict_by_feat(cls_scores, bbox_preds, batch_img_metas, rescale=rescale,
                                    score_factors=centernesses)  # fmt: skip
