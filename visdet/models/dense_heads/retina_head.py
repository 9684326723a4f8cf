"""``RetinaHead``: RetinaNet's classification and box subnets on every pyramid level.

Shapes: L levels ``[B, C_in, H_l, W_l]``; A anchors per cell (octave scales x ratios); K
classes. ``forward`` returns per level ``cls_score [B, A * K, H_l, W_l]`` (sigmoid logits;
``A * (K + 1)`` with a softmax loss) and ``bbox_pred [B, 4A, H_l, W_l]``, anchor-major
inside a cell as ``AnchorGenerator.grid_priors`` orders the anchors.

Attribute names are mmdet's: ``cls_convs`` and ``reg_convs`` (``stacked_convs``
``ConvModule`` 3x3 each), ``retina_cls`` and ``retina_reg`` (3x3 convs). Training uses
:func:`~visdet.models.dense_heads.anchor_loss.anchor_head_loss` (losses ``loss_cls`` and
``loss_bbox`` per level), prediction
:func:`~visdet.models.dense_heads.dense_predict.dense_predict_single`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from visdet.models.dense_heads.anchor_loss import anchor_head_loss
from visdet.models.dense_heads.base_dense_head import BaseDenseHead
from visdet.models.dense_heads.dense_predict import DenseTestConfig
from visdet.models.layers import ConvModule, normal_init
from visdet.models.task_modules.protocols import Assigner, BoxCoder, PriorGenerator, Sampler
from visdet.structures import ImageMeta, Instances

# mmdet initialises the classifier's bias so that every class starts at this probability
# (Focal Loss paper, section 4.1).
PRIOR_PROB = 0.01


def bias_init_with_prob(prior_prob: float) -> float:
    """The logit whose sigmoid is ``prior_prob`` (mmengine's ``bias_init_with_prob``)."""
    return float(-math.log((1 - prior_prob) / prior_prob))


class RetinaHead(BaseDenseHead):
    """Per-anchor class scores and box deltas; see the module docstring.

    Args:
        num_classes: K object classes (background label K).
        in_channels: Channels of the pyramid features.
        feat_channels: Channels of the stacked convs.
        stacked_convs: 3x3 ``ConvModule`` layers in each subnet (``>= 0``).
        conv_cfg: Conv config of the stacked convs (``None``: ``nn.Conv2d``).
        norm_cfg: Norm config of the stacked convs (``None``: no norm, conv bias).
        anchor_generator: Makes the anchors (``grid_priors``, ``valid_flags``).
        bbox_coder: Encodes/decodes anchor deltas.
        loss_cls: Classification loss; its ``use_sigmoid`` attribute picks K sigmoid
            channels per anchor (else K + 1 softmax channels).
        loss_bbox: Regression loss.
        reg_decoded_bbox: Apply the regression loss to decoded boxes.
        assigner: Anchor-to-gt assigner (training only; mmdet's ``train_cfg.assigner``).
        sampler: Anchor sampler (training only; ``PseudoSampler`` for focal loss).
        allowed_border: How far anchors may stick out of the image to be trained; ``< 0``: no limit.
        pos_weight: Classification weight of positives; ``<= 0``: 1.
        test_cfg: Test settings (``nms_pre``, ``score_thr``, ``nms``, ...); needed to predict.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int,
        feat_channels: int = 256,
        stacked_convs: int = 4,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: Mapping[str, Any] | None = None,
        anchor_generator: PriorGenerator,
        bbox_coder: BoxCoder,
        loss_cls: nn.Module,
        loss_bbox: nn.Module,
        reg_decoded_bbox: bool = False,
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

        self.relu = nn.ReLU(inplace=True)  # unused in forward, kept as mmdet has it
        self.cls_convs = nn.ModuleList()
        self.reg_convs = nn.ModuleList()
        channels = in_channels
        for _ in range(stacked_convs):
            for convs in (self.cls_convs, self.reg_convs):
                convs.append(ConvModule(in_channels=channels, out_channels=feat_channels, kernel_size=3, padding=1,
                                        conv_cfg=conv_cfg, norm_cfg=norm_cfg))  # fmt: skip
            channels = feat_channels
        self.retina_cls = nn.Conv2d(channels, self.num_base_priors * self.cls_out_channels, 3, padding=1)
        self.retina_reg = nn.Conv2d(channels, self.num_base_priors * 4, 3, padding=1)
        self.init_weights()

    def init_weights(self) -> None:
        """Initialise as mmdet's ``init_cfg``: every conv Normal(0, 0.01), the classifier's bias at 0.01.

        Every ``Conv2d`` gets Normal(0, 0.01) with zero bias, then ``retina_cls`` is drawn again
        with its bias at the prior 0.01.

        mmdet quirk: the subnets' ``ConvModule`` convs get Normal(0, 0.01) too, not ConvModule's He
        init. mmengine runs the head's ``init_cfg`` first and then ``init_weights`` of the head's
        direct children only, and those are ``nn.ModuleList`` (no ``init_weights``), so the
        ConvModules inside are never re-initialised. The convs are visited in ``Module.apply``'s
        post-order, as mmengine's layer-based init visits them; the override draws ``retina_cls``
        a second time, as mmengine's ``override`` does.
        """
        self.apply(lambda m: normal_init(m, std=0.01) if isinstance(m, nn.Conv2d) else None)
        normal_init(self.retina_cls, std=0.01, bias=bias_init_with_prob(PRIOR_PROB))

    def forward_single(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Scores ``[B, A * C, H, W]`` and deltas ``[B, 4A, H, W]`` of one level."""
        cls_feat = x
        reg_feat = x
        for conv in self.cls_convs:
            cls_feat = conv(cls_feat)
        for conv in self.reg_convs:
            reg_feat = conv(reg_feat)
        return self.retina_cls(cls_feat), self.retina_reg(reg_feat)

    def loss_by_feat(
        self,
        cls_scores: Sequence[Tensor],
        bbox_preds: Sequence[Tensor],
        batch_gt_instances: Sequence[Instances],
        batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]],
        batch_gt_instances_ignore: Sequence[Instances | None] | None = None,
    ) -> dict[str, list[Tensor]]:
        """Classification and regression losses, one entry per level (mmdet's layout).

        Args:
            cls_scores: Per level ``[B, A * C, H_l, W_l]``.
            bbox_preds: Per level ``[B, 4A, H_l, W_l]``.
            batch_gt_instances: Per image ``bboxes [G_i, 4]`` and ``labels [G_i]``.
            batch_img_metas: Per image metas with ``img_shape`` and ``pad_shape``.
            batch_gt_instances_ignore: Per image ignored boxes, or ``None``.

        Returns:
            ``{"loss_cls": [L tensors], "loss_bbox": [L tensors]}``.
        """
        losses_cls, losses_bbox = anchor_head_loss(
            cls_scores,
            bbox_preds,
            batch_gt_instances,
            batch_img_metas,
            batch_gt_instances_ignore,
            prior_generator=self.prior_generator,
            num_classes=self.num_classes,
            cls_out_channels=self.cls_out_channels,
            assigner=self.assigner,
            sampler=self.sampler,
            bbox_coder=self.bbox_coder,
            loss_cls=self.loss_cls,
            loss_bbox=self.loss_bbox,
            allowed_border=self.allowed_border,
            pos_weight=self.pos_weight,
            reg_decoded_bbox=self.reg_decoded_bbox,
            head=type(self).__name__,
        )
        return {"loss_cls": losses_cls, "loss_bbox": losses_bbox}
