"""``RPNHead``: the region proposal network of Faster R-CNN.

Shapes: L pyramid levels ``[B, C, H_l, W_l]``; A anchors per cell; ``forward`` returns
per level ``cls_score [B, A, H_l, W_l]`` (sigmoid logits; ``[B, 2A, ...]`` with a softmax
loss) and ``bbox_pred [B, 4A, H_l, W_l]``. The channel layout inside a cell is
anchor-major, matching ``AnchorGenerator.grid_priors`` order after
``permute(0, 2, 3, 1)``.

Attribute names are mmdet's: ``rpn_conv`` (an ``nn.Conv2d``, or an ``nn.Sequential`` of
``ConvModule`` when ``num_convs > 1``), ``rpn_cls``, ``rpn_reg``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from visdet.models.dense_heads.anchor_loss import anchor_head_loss
from visdet.models.dense_heads.base_dense_head import BaseDenseHead
from visdet.models.dense_heads.proposals import ProposalConfig, proposals_single
from visdet.models.task_modules.protocols import Assigner, BoxCoder, PriorGenerator, Sampler
from visdet.structures import ImageMeta, Instances


class RPNHead(BaseDenseHead):
    """Objectness and box deltas for every anchor; proposals by NMS.

    Args:
        in_channels: Channels C of the pyramid features.
        feat_channels: Channels of the shared 3x3 conv(s).
        num_convs: Number of shared 3x3 convs.
        anchor_generator: Makes the anchors (``grid_priors``, ``valid_flags``).
        bbox_coder: Encodes/decodes anchor deltas.
        loss_cls: Objectness loss; its ``use_sigmoid`` attribute picks sigmoid (1
            channel per anchor) or softmax (2 channels).
        loss_bbox: Regression loss.
        reg_decoded_bbox: Apply the regression loss to decoded boxes.
        assigner: Anchor-to-gt assigner (training only; mmdet ``train_cfg.rpn.assigner``).
        sampler: Anchor sampler (training only).
        allowed_border: How far anchors may stick out of the image to be trained;
            ``< 0``: no limit (``train_cfg.rpn.allowed_border``).
        pos_weight: Objectness weight of positives, ``<= 0``: 1.
        test_proposals: Proposal settings at test time (``test_cfg.rpn``).
        train_proposals: Proposal settings when training (``train_cfg.rpn_proposal``);
            defaults to ``test_proposals``.
    """

    num_classes = 1  # proposals are class-agnostic; ground-truth labels are set to 0

    def __init__(
        self,
        *,
        in_channels: int,
        feat_channels: int = 256,
        num_convs: int = 1,
        anchor_generator: PriorGenerator,
        bbox_coder: BoxCoder,
        loss_cls: nn.Module,
        loss_bbox: nn.Module,
        reg_decoded_bbox: bool = False,
        assigner: Assigner | None = None,
        sampler: Sampler | None = None,
        allowed_border: int = -1,
        pos_weight: float = -1.0,
        test_proposals: ProposalConfig | None = None,
        train_proposals: ProposalConfig | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.feat_channels = feat_channels
        self.num_convs = num_convs
        self.use_sigmoid_cls = bool(getattr(loss_cls, "use_sigmoid", False))
        self.cls_out_channels = 1 if self.use_sigmoid_cls else 2
        self.reg_decoded_bbox = reg_decoded_bbox
        self.bbox_coder = bbox_coder
        self.loss_cls = loss_cls
        self.loss_bbox = loss_bbox
        self.assigner = assigner
        self.sampler = sampler
        self.allowed_border = allowed_border
        self.pos_weight = pos_weight
        self.test_proposals = test_proposals if test_proposals is not None else ProposalConfig()
        self.train_proposals = train_proposals if train_proposals is not None else self.test_proposals
        self.prior_generator = anchor_generator
        self.num_base_priors = anchor_generator.num_base_priors[0]
        if num_convs > 1:
            from visdet.models.layers import ConvModule

            # inplace=False as mmdet: autograd needs the conv outputs unmodified
            self.rpn_conv: nn.Module = nn.Sequential(
                *[
                    ConvModule(
                        in_channels=in_channels if i == 0 else feat_channels,
                        out_channels=feat_channels,
                        kernel_size=3,
                        padding=1,
                        inplace=False,
                    )
                    for i in range(num_convs)
                ]
            )
        else:
            self.rpn_conv = nn.Conv2d(in_channels, feat_channels, 3, padding=1)
        self.rpn_cls = nn.Conv2d(feat_channels, self.num_base_priors * self.cls_out_channels, 1)
        self.rpn_reg = nn.Conv2d(feat_channels, self.num_base_priors * 4, 1)

    def forward_single(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Scores ``[B, A * C, H, W]`` and deltas ``[B, 4A, H, W]`` of one level."""
        x = F.relu(self.rpn_conv(x))
        return self.rpn_cls(x), self.rpn_reg(x)

    @property
    def test_cfg(self) -> ProposalConfig:
        """The test-time proposal settings (``test_proposals``)."""
        return self.test_proposals

    def loss_by_feat(
        self,
        cls_scores: Sequence[Tensor],
        bbox_preds: Sequence[Tensor],
        batch_gt_instances: Sequence[Instances],
        batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]],
        batch_gt_instances_ignore: Sequence[Instances | None] | None = None,
    ) -> dict[str, list[Tensor]]:
        """Objectness and regression losses, one entry per level (mmdet's layout).

        Both are normalised by ``avg_factor`` = the number of sampled anchors over the
        batch (see ``anchor_targets``). Ground-truth labels are treated as 0 (object).

        Args:
            cls_scores: Per level ``[B, A * C, H_l, W_l]``.
            bbox_preds: Per level ``[B, 4A, H_l, W_l]``.
            batch_gt_instances: Per image ``bboxes [G_i, 4]`` (``labels`` are ignored).
            batch_img_metas: Per image metas with ``img_shape`` and ``pad_shape``.
            batch_gt_instances_ignore: Per image ignored boxes, or ``None``.

        Returns:
            ``{"loss_rpn_cls": [L tensors], "loss_rpn_bbox": [L tensors]}``.
        """
        # every ground-truth box is an "object" (label 0), whatever its class
        gt_objects = [
            Instances(bboxes=gt.bboxes, labels=torch.zeros(len(gt.bboxes), dtype=torch.long, device=gt.bboxes.device))
            for gt in batch_gt_instances
        ]
        losses_cls, losses_bbox = anchor_head_loss(
            cls_scores,
            bbox_preds,
            gt_objects,
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
            head="RPNHead",
        )
        return {"loss_rpn_cls": losses_cls, "loss_rpn_bbox": losses_bbox}

    def predict_single(
        self,
        cls_scores: Sequence[Tensor],
        bbox_preds: Sequence[Tensor],
        score_factors: Sequence[Tensor] | None,
        priors: Sequence[Tensor],
        meta: ImageMeta,
        *,
        cfg: ProposalConfig,
        rescale: bool,
    ) -> Instances:
        """Proposals of one image (see :func:`~visdet.models.dense_heads.proposals.proposals_single`)."""
        if score_factors is not None:
            raise ValueError("RPNHead takes no score_factors")
        return proposals_single(
            cls_scores,
            bbox_preds,
            priors,
            meta,
            cfg=cfg,
            bbox_coder=self.bbox_coder,
            use_sigmoid_cls=self.use_sigmoid_cls,
            rescale=rescale,
        )
