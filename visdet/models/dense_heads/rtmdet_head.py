"""``RTMDetHead`` and ``RTMDetSepBNHead``: RTMDet's per-point class scores and box distances.

Shapes: L levels ``[B, C_in, H_l, W_l]``, one point prior per cell (``MlvlPointGenerator``
with offset 0), K classes. ``forward`` returns per level ``cls_score [B, K, H_l, W_l]``
(sigmoid logits) and ``bbox_pred [B, 4, H_l, W_l]``: distances (left, top, right,
bottom) in pixels, already multiplied by the level's stride.

Per level: ``stacked_convs`` ``ConvModule`` in each tower, ``rtm_cls``/``rtm_reg``
predictors (``pred_kernel_size``); with ``with_objectness`` the class logit becomes
``inverse_sigmoid(sigmoid_geometric_mean(cls, rtm_obj(reg_feat)))``. ``RTMDetHead``
shares every layer over the levels and regresses ``scale_l(exp(rtm_reg(x))).float() *
stride`` (mmdet's ``.float()`` cast kept); ``RTMDetSepBNHead`` has its own towers and
predictors per level, the tower convs shared with level 0 when ``share_conv`` (each level
keeps its norm layers), and regresses ``rtm_reg(x) * stride`` (``exp`` first with
``exp_on_reg``).

Training (``loss_by_feat``, mmdet's ``RTMDetHead.loss_by_feat``): priors with strides,
boxes decoded from the distances, targets from the assigner on the detached scores and
boxes (:mod:`~visdet.models.dense_heads.rtmdet_targets`), then per level
``loss_cls(scores, (labels, assign_metrics), label_weights, avg_factor=1)`` (Quality
Focal Loss on the soft IoU) and ``loss_bbox(boxes, gt boxes, weight=assign_metrics,
avg_factor=1)`` (GIoU) on positives; each level's terms are divided by the batch's sum of
assign metrics (at least 1; averaged over processes). Prediction is the one-stage
:func:`~visdet.models.dense_heads.dense_predict.dense_predict_single` (no score factors).

Attribute and ``state_dict`` names are mmdet's: ``cls_convs``, ``reg_convs``, ``rtm_cls``,
``rtm_reg``, ``rtm_obj``, ``scales`` (``RTMDetHead`` only); in ``RTMDetSepBNHead`` each is
a list over levels (``cls_convs.<l>.<i>.conv.weight``, ``rtm_cls.<l>.weight``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor, nn

from visdet.models.dense_heads.base_dense_head import BaseDenseHead
from visdet.models.dense_heads.dense_predict import DenseTestConfig
from visdet.models.dense_heads.rtmdet_targets import RTMDetTargets, rtmdet_targets
from visdet.models.layers import ConvModule, Scale, bias_init_with_prob, constant_init, normal_init
from visdet.models.layers.sigmoid_mean import inverse_sigmoid, sigmoid_geometric_mean
from visdet.models.losses import reduce_mean
from visdet.models.task_modules import distance2bbox
from visdet.models.task_modules.protocols import Assigner, BoxCoder, PriorGenerator, Sampler
from visdet.structures import ImageMeta, Instances, image_metas

# mmdet's init: every conv N(0, 0.01), norms weight 1 bias 0, classifiers' bias at this prior
PRIOR_PROB = 0.01
INIT_STD = 0.01
#: ATSSHead's tower norm, RTMDetHead's default.
GN_CFG: Mapping[str, Any] = MappingProxyType({"type": "GN", "num_groups": 32, "requires_grad": True})
RELU_CFG: Mapping[str, Any] = MappingProxyType({"type": "ReLU"})
_NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)


class RTMDetHead(BaseDenseHead):
    """RTMDet's head with layers shared over the levels; see the module docstring.

    Args:
        num_classes: K object classes (background label K).
        in_channels: Channels of the pyramid features.
        with_objectness: Merge an objectness branch into the class scores.
        act_cfg: Activation of the tower convs.
        feat_channels: Channels of the tower convs.
        stacked_convs: ``ConvModule`` layers per tower (``>= 0``).
        pred_kernel_size: Kernel size of the predictors.
        conv_cfg: Conv config of the tower convs.
        norm_cfg: Norm config of the tower convs (``None``: no norm, conv bias).
        anchor_generator: The prior generator (``MlvlPointGenerator``, offset 0 in RTMDet).
        bbox_coder: Decodes distances in prediction (``DistancePointBBoxCoder``).
        loss_cls: ``QualityFocalLoss`` (``use_sigmoid``: K channels, else K + 1).
        loss_bbox: ``GIoULoss`` on decoded boxes.
        reg_decoded_bbox: mmdet's flag (RTMDet always regresses decoded boxes).
        loss_centerness: Built by mmdet's ``ATSSHead`` and never used; kept for the config.
        assigner: ``DynamicSoftLabelAssigner`` (training only).
        sampler: ``PseudoSampler`` (training only).
        allowed_border: How far priors may lie outside the image to be trained; ``< 0``: no limit.
        pos_weight: Classification weight of positives; ``<= 0``: 1.
        test_cfg: Test settings; needed to predict.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int,
        with_objectness: bool = True,
        act_cfg: Mapping[str, Any] | None = RELU_CFG,
        feat_channels: int = 256,
        stacked_convs: int = 4,
        pred_kernel_size: int = 3,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: Mapping[str, Any] | None = GN_CFG,
        anchor_generator: PriorGenerator,
        bbox_coder: BoxCoder,
        loss_cls: nn.Module,
        loss_bbox: nn.Module,
        reg_decoded_bbox: bool = True,
        loss_centerness: nn.Module | None = None,
        assigner: Assigner | None = None,
        sampler: Sampler | None = None,
        allowed_border: int = -1,
        pos_weight: float = -1.0,
        test_cfg: DenseTestConfig | None = None,
    ) -> None:
        super().__init__()
        if stacked_convs < 0:
            raise ValueError(f"stacked_convs must be >= 0, got {stacked_convs}")
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.feat_channels = feat_channels
        self.stacked_convs = stacked_convs
        self.pred_kernel_size = pred_kernel_size
        self.with_objectness = with_objectness
        self.act_cfg = dict(act_cfg) if act_cfg is not None else None
        self.conv_cfg = dict(conv_cfg) if conv_cfg is not None else None
        self.norm_cfg = dict(norm_cfg) if norm_cfg is not None else None
        self.use_sigmoid_cls = bool(getattr(loss_cls, "use_sigmoid", False))
        self.cls_out_channels = num_classes if self.use_sigmoid_cls else num_classes + 1
        if self.cls_out_channels <= 0:
            raise ValueError(f"num_classes={num_classes} is too small")
        self.reg_decoded_bbox = reg_decoded_bbox
        self.bbox_coder = bbox_coder
        self.loss_cls = loss_cls
        self.loss_bbox = loss_bbox
        self.assigner = assigner
        self.sampler = sampler
        self.allowed_border = allowed_border
        self.pos_weight = pos_weight
        self.test_cfg = test_cfg
        self.prior_generator = anchor_generator
        self.num_base_priors = anchor_generator.num_base_priors[0]
        self._init_layers()
        if loss_centerness is not None:
            self.loss_centerness = loss_centerness
        self.init_weights()

    # ------------------------------------------------------------------ layers
    def _tower_conv(self, in_channels: int) -> nn.Module:
        """One tower layer: a 3x3 ``ConvModule`` (subclasses swap in depthwise-separable ones)."""
        return ConvModule(in_channels=in_channels, out_channels=self.feat_channels, kernel_size=3, stride=1,
                          padding=1, conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)  # fmt: skip

    def _towers(self) -> tuple[nn.ModuleList, nn.ModuleList]:
        """The classification and regression towers, built interleaved (mmdet's draw order)."""
        cls_convs, reg_convs = nn.ModuleList(), nn.ModuleList()
        for i in range(self.stacked_convs):
            channels = self.in_channels if i == 0 else self.feat_channels
            cls_convs.append(self._tower_conv(channels))
            reg_convs.append(self._tower_conv(channels))
        return cls_convs, reg_convs

    def _predictor(self, out_channels: int) -> nn.Conv2d:
        return nn.Conv2d(self.feat_channels, out_channels, self.pred_kernel_size, padding=self.pred_kernel_size // 2)

    def _init_layers(self) -> None:
        """Shared towers, ``rtm_cls``/``rtm_reg`` (``rtm_obj``) and one ``Scale`` per level."""
        self.cls_convs, self.reg_convs = self._towers()
        self.rtm_cls = self._predictor(self.num_base_priors * self.cls_out_channels)
        self.rtm_reg = self._predictor(self.num_base_priors * 4)
        if self.with_objectness:
            self.rtm_obj = self._predictor(1)
        self.scales = nn.ModuleList([Scale(1.0) for _ in self.prior_generator.strides])

    def _predictor_groups(self) -> list[tuple[nn.Module, ...]]:
        """Predictors re-initialised after the generic pass, in mmdet's order: ``(cls, reg)``, then objectness."""
        return [(self.rtm_cls, self.rtm_reg)] + ([(self.rtm_obj,)] if self.with_objectness else [])

    def init_weights(self) -> None:
        """Mmdet's ``init_weights``: convs N(0, 0.01), norms 1/0, then the predictors (classifiers' bias at 0.01).

        Shared modules are visited once (``Module.modules``), as in mmdet.
        """
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                normal_init(module, mean=0.0, std=INIT_STD)
            if isinstance(module, _NORM_TYPES):
                constant_init(module, 1.0)
        bias_cls = bias_init_with_prob(PRIOR_PROB)
        for group in self._predictor_groups():
            if len(group) == 2:  # (cls, reg)
                normal_init(group[0], std=INIT_STD, bias=bias_cls)
                normal_init(group[1], std=INIT_STD)
            else:  # objectness
                normal_init(group[0], std=INIT_STD, bias=bias_cls)

    # ----------------------------------------------------------------- forward
    def _level_layers(self, level: int) -> tuple[Sequence[nn.Module], Sequence[nn.Module], nn.Module, nn.Module]:
        """Towers and predictors of ``level``: ``(cls_convs, reg_convs, rtm_cls, rtm_reg)``."""
        return self.cls_convs, self.reg_convs, self.rtm_cls, self.rtm_reg

    def _objectness(self, level: int) -> nn.Module:
        return self.rtm_obj

    def _distances(self, level: int, reg: Tensor) -> Tensor:
        """``scale_l(exp(reg)).float() * stride`` (mmdet's cast kept: float32 in every precision)."""
        return self.scales[level](reg.exp()).float() * self.prior_generator.strides[level][0]

    def forward_level(self, level: int, x: Tensor) -> tuple[Tensor, Tensor]:
        """``cls_score [B, A*C, H, W]`` and ``bbox_pred [B, 4A, H, W]`` (distances in pixels) of one level."""
        cls_convs, reg_convs, rtm_cls, rtm_reg = self._level_layers(level)
        cls_feat = x
        for layer in cls_convs:
            cls_feat = layer(cls_feat)
        cls_score = rtm_cls(cls_feat)
        reg_feat = x
        for layer in reg_convs:
            reg_feat = layer(reg_feat)
        if self.with_objectness:
            cls_score = inverse_sigmoid(sigmoid_geometric_mean(cls_score, self._objectness(level)(reg_feat)))
        return cls_score, self._distances(level, rtm_reg(reg_feat))

    def forward(self, feats: Sequence[Tensor]) -> tuple[list[Tensor], ...]:
        """Per-level ``cls_scores`` and ``bbox_preds`` (one feature map per prior-generator level)."""
        if len(feats) != self.prior_generator.num_levels:
            raise ValueError(f"{type(self).__name__}: {len(feats)} feature levels, the prior generator has "
                             f"{self.prior_generator.num_levels}")  # fmt: skip
        return super().forward(feats)

    # -------------------------------------------------------------------- loss
    def loss_by_feat(
        self,
        cls_scores: Sequence[Tensor],
        bbox_preds: Sequence[Tensor],
        batch_gt_instances: Sequence[Instances],
        batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]],
        batch_gt_instances_ignore: Sequence[Instances | None] | None = None,
    ) -> dict[str, list[Tensor]]:
        """``loss_cls`` and ``loss_bbox``, one entry per level (see the module docstring).

        Args:
            cls_scores: Per level ``[B, C, H_l, W_l]``.
            bbox_preds: Per level ``[B, 4, H_l, W_l]`` distances in pixels.
            batch_gt_instances: Per image ``bboxes [G_i, 4]`` and ``labels [G_i]``.
            batch_img_metas: Per image metas with ``img_shape`` and ``pad_shape``.
            batch_gt_instances_ignore: Per image ignored boxes (given to the assigner), or ``None``.
        """
        return self._detection_losses(cls_scores, bbox_preds, batch_gt_instances, batch_img_metas,
                                      batch_gt_instances_ignore)[0]  # fmt: skip

    def _detection_losses(
        self,
        cls_scores: Sequence[Tensor],
        bbox_preds: Sequence[Tensor],
        batch_gt_instances: Sequence[Instances],
        batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]],
        batch_gt_instances_ignore: Sequence[Instances | None] | None = None,
    ) -> tuple[dict[str, list[Tensor]], RTMDetTargets]:
        """``loss_by_feat``'s losses and the targets they came from (RTMDet-Ins reads the sampling results)."""
        name = type(self).__name__
        if self.assigner is None or self.sampler is None:
            raise ValueError(f"{name}: the loss needs an assigner and a sampler (the training settings, train_cfg)")
        if len(cls_scores) != len(bbox_preds) or len(cls_scores) != self.prior_generator.num_levels:
            raise ValueError(f"{name}: {len(cls_scores)} score and {len(bbox_preds)} box levels, the prior "
                             f"generator has {self.prior_generator.num_levels}")  # fmt: skip
        if any(stride_w != stride_h for stride_w, stride_h in self.prior_generator.strides):
            raise ValueError(f"{name}: the loss needs square strides, got {self.prior_generator.strides}")
        num_imgs = cls_scores[0].size(0)
        metas = image_metas(batch_img_metas, num_imgs, require=("img_shape", "pad_shape"))
        if len(batch_gt_instances) != num_imgs:
            raise ValueError(f"{name}: {len(batch_gt_instances)} gt entries for {num_imgs} images")
        featmap_sizes = [tuple(score.shape[-2:]) for score in cls_scores]
        device = cls_scores[0].device
        # mmdet's get_anchors: priors with strides in grid_priors' default dtype (float32)
        priors = self.prior_generator.grid_priors(featmap_sizes, device=device, with_stride=True)
        valid_flags = [self.prior_generator.valid_flags(featmap_sizes, meta.pad_shape, device) for meta in metas]
        flat_scores = torch.cat(
            [score.permute(0, 2, 3, 1).reshape(num_imgs, -1, self.cls_out_channels) for score in cls_scores], 1
        )
        decoded = [distance2bbox(level_priors, pred.permute(0, 2, 3, 1).reshape(num_imgs, -1, 4))
                   for level_priors, pred in zip(priors, bbox_preds)]  # fmt: skip
        targets = rtmdet_targets(
            flat_scores, torch.cat(decoded, 1), priors, valid_flags, batch_gt_instances, metas,
            batch_gt_instances_ignore, num_classes=self.num_classes, assigner=self.assigner, sampler=self.sampler,
            allowed_border=self.allowed_border, pos_weight=self.pos_weight,
        )  # fmt: skip
        losses_cls, losses_bbox, cls_factors, bbox_factors = [], [], [], []
        for level, (cls_score, boxes) in enumerate(zip(cls_scores, decoded)):
            cls_loss, box_loss, cls_factor, bbox_factor = self._level_loss(
                cls_score, boxes, targets.labels[level], targets.label_weights[level],
                targets.bbox_targets[level], targets.assign_metrics[level],
            )  # fmt: skip
            losses_cls.append(cls_loss)
            losses_bbox.append(box_loss)
            cls_factors.append(cls_factor)
            bbox_factors.append(bbox_factor)
        cls_avg_factor = reduce_mean(sum(cls_factors)).clamp_(min=1).item()
        bbox_avg_factor = reduce_mean(sum(bbox_factors)).clamp_(min=1).item()
        losses = {"loss_cls": [loss / cls_avg_factor for loss in losses_cls],
                  "loss_bbox": [loss / bbox_avg_factor for loss in losses_bbox]}  # fmt: skip
        return losses, targets

    def _level_loss(
        self,
        cls_score: Tensor,
        boxes: Tensor,
        labels: Tensor,
        label_weights: Tensor,
        bbox_targets: Tensor,
        assign_metrics: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One level's unnormalised ``loss_cls``, ``loss_bbox`` and normalisers (mmdet's ``loss_by_feat_single``)."""
        cls_score = cls_score.permute(0, 2, 3, 1).reshape(-1, self.cls_out_channels).contiguous()
        boxes = boxes.reshape(-1, 4)
        bbox_targets = bbox_targets.reshape(-1, 4)
        labels = labels.reshape(-1)
        assign_metrics = assign_metrics.reshape(-1)
        label_weights = label_weights.reshape(-1)
        loss_cls = self.loss_cls(cls_score, (labels, assign_metrics), label_weights, avg_factor=1.0)
        pos_inds = ((labels >= 0) & (labels < self.num_classes)).nonzero().squeeze(1)
        if len(pos_inds) > 0:
            pos_weight = assign_metrics[pos_inds]
            loss_bbox = self.loss_bbox(boxes[pos_inds], bbox_targets[pos_inds], weight=pos_weight, avg_factor=1.0)
        else:  # zero, connected to the graph
            loss_bbox = boxes.sum() * 0
            pos_weight = bbox_targets.new_tensor(0.0)
        return loss_cls, loss_bbox, assign_metrics.sum(), pos_weight.sum()


class RTMDetSepBNHead(RTMDetHead):
    """RTMDet's head with per-level towers and predictors (convs shared, norms separate); see the module docstring.

    Args:
        num_classes: K object classes.
        in_channels: Channels of the pyramid features.
        share_conv: Tower convs of every level are those of level 0 (norms stay per level).
        use_depthwise: Depthwise-separable tower convs.
        norm_cfg: Norm of the tower convs (BN, momentum 0.03, eps 0.001 by default).
        act_cfg: Activation of the tower convs (SiLU by default).
        pred_kernel_size: Kernel size of the predictors.
        exp_on_reg: ``exp`` of the regression before the stride.
        **kwargs: :class:`RTMDetHead`'s other arguments.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int,
        share_conv: bool = True,
        use_depthwise: bool = False,
        norm_cfg: Mapping[str, Any] | None = MappingProxyType({"type": "BN", "momentum": 0.03, "eps": 0.001}),
        act_cfg: Mapping[str, Any] | None = MappingProxyType({"type": "SiLU"}),
        pred_kernel_size: int = 1,
        exp_on_reg: bool = False,
        **kwargs: Any,
    ) -> None:
        self._share_conv = share_conv
        self._use_depthwise = use_depthwise
        super().__init__(num_classes=num_classes, in_channels=in_channels, norm_cfg=norm_cfg, act_cfg=act_cfg,
                         pred_kernel_size=pred_kernel_size, **kwargs)  # fmt: skip
        self.share_conv = share_conv
        self.use_depthwise = use_depthwise
        self.exp_on_reg = exp_on_reg

    def _tower_conv(self, in_channels: int) -> nn.Module:
        if not self._use_depthwise:
            return super()._tower_conv(in_channels)
        from visdet.models.layers import DepthwiseSeparableConvModule

        return DepthwiseSeparableConvModule(
            in_channels=in_channels, out_channels=self.feat_channels, kernel_size=3, stride=1, padding=1,
            conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg,
        )  # fmt: skip

    def _init_layers(self) -> None:
        """Per level: towers, ``rtm_cls``, ``rtm_reg`` (``rtm_obj``); then level 0's convs shared if ``share_conv``."""
        self.cls_convs, self.reg_convs = nn.ModuleList(), nn.ModuleList()
        self.rtm_cls, self.rtm_reg = nn.ModuleList(), nn.ModuleList()
        if self.with_objectness:
            self.rtm_obj = nn.ModuleList()
        for _ in self.prior_generator.strides:
            cls_convs, reg_convs = self._towers()
            self.cls_convs.append(cls_convs)
            self.reg_convs.append(reg_convs)
            self.rtm_cls.append(self._predictor(self.num_base_priors * self.cls_out_channels))
            self.rtm_reg.append(self._predictor(self.num_base_priors * 4))
            if self.with_objectness:
                self.rtm_obj.append(self._predictor(1))
        if self._share_conv:  # every level built first (mmdet's draw order), then level 0's convs shared
            for level in range(1, len(self.prior_generator.strides)):
                for i in range(self.stacked_convs):
                    self.cls_convs[level][i].conv = self.cls_convs[0][i].conv
                    self.reg_convs[level][i].conv = self.reg_convs[0][i].conv

    def _predictor_groups(self) -> list[tuple[nn.Module, ...]]:
        groups: list[tuple[nn.Module, ...]] = list(zip(self.rtm_cls, self.rtm_reg))
        if self.with_objectness:
            groups += [(obj,) for obj in self.rtm_obj]
        return groups

    def _level_layers(self, level: int) -> tuple[Sequence[nn.Module], Sequence[nn.Module], nn.Module, nn.Module]:
        return self.cls_convs[level], self.reg_convs[level], self.rtm_cls[level], self.rtm_reg[level]

    def _objectness(self, level: int) -> nn.Module:
        return self.rtm_obj[level]

    def _distances(self, level: int, reg: Tensor) -> Tensor:
        """``reg * stride`` (``exp(reg) * stride`` with ``exp_on_reg``); no scale, no cast."""
        stride = self.prior_generator.strides[level][0]
        return reg.exp() * stride if self.exp_on_reg else reg * stride
