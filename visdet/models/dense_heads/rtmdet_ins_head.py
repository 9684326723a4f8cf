"""``RTMDetInsHead`` and ``RTMDetInsSepBNHead``: RTMDet's boxes plus instance masks from dynamic convs.

Shapes: L levels ``[B, C_in, H_l, W_l]``, K classes, G dynamic parameters per prior, P
prototypes. ``forward`` returns per level ``cls_score [B, K, H_l, W_l]``, ``bbox_pred [B,
4, H_l, W_l]`` (distances in pixels), ``kernel_pred [B, G, H_l, W_l]`` (a third tower,
``kernel_convs``, and the ``rtm_kernel`` predictor) and once ``mask_feat [B, P, H_0, W_0]``
(:class:`~visdet.models.dense_heads.mask_feat_module.MaskFeatModule`, ``mask_head``).
The distances are ``scale_l(rtm_reg(x)) * stride`` in ``RTMDetInsHead`` (no ``exp``, no
cast, unlike ``RTMDetHead``) and ``relu(rtm_reg(x)) * stride`` in ``RTMDetInsSepBNHead``.

``RTMDetInsSepBNHead`` keeps two mmdet quirks that shape its ``state_dict``: its
``reg_convs`` *are* its ``cls_convs`` (mmdet appends the class tower to both lists; the
regression tower it builds is dropped, so both prefixes hold the same tensors), and with
``share_conv`` only those towers share level 0's convs, the kernel towers stay per level.
``rtm_reg`` starts with bias 1 there.

Training (``loss_by_feat``): RTMDet's ``loss_cls``/``loss_bbox``, plus ``loss_mask``:
each image's positives take the kernels at the sampler's ``pos_inds`` of the *flattened*
kernels (mmdet indexes them so, although ``pos_inds`` count only the priors inside the
image; they agree whenever every prior is valid) with their priors, their logits
(:func:`~visdet.models.dense_heads.rtmdet_ins_masks.dynamic_mask_logits`) are upsampled
bilinearly by ``stride_0 // mask_loss_stride`` and compared by ``loss_mask`` (Dice) with
their gt masks sampled at ``[s // 2 :: s]`` (s = ``mask_loss_stride``), divided by the
number of positives (at least 1; averaged over processes).

Prediction (``predict_by_feat``): candidates as RTMDet's (score threshold, ``nms_pre`` per
level), decoded and clipped, rescaled, filtered by ``min_bbox_size``, NMS per class,
``max_per_img``; then the kept instances' logits, upsampled by the stride of level 0; with
``rescale`` resized to ``ceil(h / scale_factor[0]), ceil(w / scale_factor[1])`` (mmdet
pairs the height with the *first*, width, factor; equal for keep-ratio resizing) and cropped
to ``ori_shape``; without it left at the padded size. ``masks`` are ``sigmoid >
mask_thr_binary`` (``BoolTensor[D, H, W]``, as Mask R-CNN's).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from visdet.models.dense_heads.dense_predict import DenseTestConfig, filter_scores_and_topk
from visdet.models.dense_heads.mask_feat_module import MaskFeatModule
from visdet.models.dense_heads.rtmdet_head import (
    _NORM_TYPES,
    INIT_STD,
    PRIOR_PROB,
    RTMDetHead,
)
from visdet.models.dense_heads.rtmdet_ins_masks import dynamic_mask_logits, dynamic_param_sizes
from visdet.models.layers import ConvModule, bias_init_with_prob, constant_init, normal_init
from visdet.models.losses import DiceLoss, reduce_mean
from visdet.ops import batched_nms
from visdet.structures import ImageMeta, Instances, image_metas, scale_boxes

#: Stacked convs of the mask feature branch (mmdet fixes them at 4).
MASK_HEAD_CONVS = 4


class RTMDetInsTestConfig(DenseTestConfig):
    """RTMDet's test settings plus ``mask_thr_binary`` (mask probability above which a pixel is on)."""

    mask_thr_binary: float


def _gt_masks(gt: Instances, device: torch.device) -> Tensor:
    """The image's gt masks as ``BoolTensor[G, H, W]`` (bitmap/polygon masks converted, as mmdet)."""
    if not gt.has("masks"):
        raise ValueError("RTMDet-Ins: the ground truth has no 'masks'")
    masks = gt.masks
    if hasattr(masks, "to_tensor"):
        return masks.to_tensor(dtype=torch.bool, device=device)
    return masks.to(device=device, dtype=torch.bool)


class RTMDetInsHead(RTMDetHead):
    """RTMDet-Ins's head with towers shared over the levels; see the module docstring.

    Args:
        num_classes: K object classes.
        in_channels: Channels of the pyramid features.
        num_prototypes: P mask prototypes.
        dyconv_channels: Channels D of the dynamic convs.
        num_dyconvs: Dynamic conv layers.
        mask_loss_stride: Stride of the gt masks in the mask loss.
        loss_mask: The mask loss (mmdet's default: Dice, weight 2, eps 5e-6, mean).
        **kwargs: :class:`RTMDetHead`'s other arguments (``test_cfg`` an
            :class:`RTMDetInsTestConfig` to predict).
    """

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int,
        num_prototypes: int = 8,
        dyconv_channels: int = 8,
        num_dyconvs: int = 3,
        mask_loss_stride: int = 4,
        loss_mask: nn.Module | None = None,
        **kwargs: Any,
    ) -> None:
        if mask_loss_stride < 1:
            raise ValueError(f"mask_loss_stride must be >= 1, got {mask_loss_stride}")
        self.num_prototypes = num_prototypes
        self.num_dyconvs = num_dyconvs
        self.dyconv_channels = dyconv_channels
        self.mask_loss_stride = mask_loss_stride
        self.weight_nums, self.bias_nums = dynamic_param_sizes(num_dyconvs, num_prototypes, dyconv_channels)
        self.num_gen_params = sum(self.weight_nums) + sum(self.bias_nums)
        super().__init__(num_classes=num_classes, in_channels=in_channels, **kwargs)
        self.loss_mask = loss_mask if loss_mask is not None else DiceLoss(loss_weight=2.0, eps=5e-6, reduction="mean")

    # ------------------------------------------------------------------ layers
    def _kernel_tower(self) -> nn.ModuleList:
        return nn.ModuleList([
            ConvModule(in_channels=self.in_channels if i == 0 else self.feat_channels, out_channels=self.feat_channels,
                       kernel_size=3, stride=1, padding=1, conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                       act_cfg=self.act_cfg)
            for i in range(self.stacked_convs)
        ])  # fmt: skip

    def _mask_head(self) -> MaskFeatModule:
        return MaskFeatModule(
            in_channels=self.in_channels, feat_channels=self.feat_channels, stacked_convs=MASK_HEAD_CONVS,
            num_levels=len(self.prior_generator.strides), num_prototypes=self.num_prototypes, act_cfg=self.act_cfg,
            norm_cfg=self.norm_cfg,
        )  # fmt: skip

    def _init_layers(self) -> None:
        """RTMDet's layers, then ``kernel_convs``, ``rtm_kernel`` and ``mask_head`` (mmdet's order)."""
        super()._init_layers()
        self.kernel_convs = self._kernel_tower()
        self.rtm_kernel = self._predictor(self.num_gen_params)
        self.mask_head = self._mask_head()

    # ----------------------------------------------------------------- forward
    def _kernel_layers(self, level: int) -> tuple[Sequence[nn.Module], nn.Module]:
        return self.kernel_convs, self.rtm_kernel

    def _distances(self, level: int, reg: Tensor) -> Tensor:
        """``scale_l(reg) * stride`` (no ``exp``, no cast: mmdet's ``RTMDetInsHead.forward``)."""
        return self.scales[level](reg) * self.prior_generator.strides[level][0]

    def forward_level(self, level: int, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``cls_score``, ``bbox_pred`` and ``kernel_pred [B, G, H, W]`` of one level."""
        cls_score, bbox_pred = super().forward_level(level, x)
        kernel_convs, rtm_kernel = self._kernel_layers(level)
        kernel_feat = x
        for layer in kernel_convs:
            kernel_feat = layer(kernel_feat)
        return cls_score, bbox_pred, rtm_kernel(kernel_feat)

    def forward(self, feats: Sequence[Tensor]) -> tuple[Any, ...]:  # type: ignore[override]
        """Per-level ``cls_scores``, ``bbox_preds``, ``kernel_preds`` and the prototypes ``mask_feat``."""
        mask_feat = self.mask_head(feats)
        cls_scores, bbox_preds, kernel_preds = super().forward(feats)
        return cls_scores, bbox_preds, kernel_preds, mask_feat

    def mask_logits(self, mask_feat: Tensor, kernels: Tensor, priors: Tensor) -> Tensor:
        """Logits ``[n, H, W]`` of n instances on one image's prototypes (mmdet's ``_mask_predict_by_feat_single``)."""
        return dynamic_mask_logits(mask_feat, kernels, priors, prior_generator=self.prior_generator,
                                   weight_nums=self.weight_nums, bias_nums=self.bias_nums,
                                   dyconv_channels=self.dyconv_channels)  # fmt: skip

    # -------------------------------------------------------------------- loss
    def loss_by_feat(  # type: ignore[override]
        self,
        cls_scores: Sequence[Tensor],
        bbox_preds: Sequence[Tensor],
        kernel_preds: Sequence[Tensor],
        mask_feat: Tensor,
        batch_gt_instances: Sequence[Instances],
        batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]],
        batch_gt_instances_ignore: Sequence[Instances | None] | None = None,
    ) -> dict[str, Any]:
        """``loss_cls`` and ``loss_bbox`` per level, and ``loss_mask`` (see the module docstring).

        Args:
            cls_scores: Per level ``[B, K, H_l, W_l]``.
            bbox_preds: Per level ``[B, 4, H_l, W_l]`` distances.
            kernel_preds: Per level ``[B, G, H_l, W_l]``.
            mask_feat: ``[B, P, H_0, W_0]``.
            batch_gt_instances: Per image ``bboxes``, ``labels`` and ``masks [G_i, H, W]`` (the padded size).
            batch_img_metas: Per image metas with ``img_shape`` and ``pad_shape``.
            batch_gt_instances_ignore: Per image ignored boxes, or ``None``.
        """
        num_imgs = cls_scores[0].size(0)
        if len(kernel_preds) != len(cls_scores):
            raise ValueError(f"{len(kernel_preds)} kernel levels for {len(cls_scores)} score levels")
        device = cls_scores[0].device
        gts = [Instances(**{**dict(gt.items()), "masks": _gt_masks(gt, device)}) for gt in batch_gt_instances]
        flat_kernels = torch.cat(
            [kernel.permute(0, 2, 3, 1).reshape(num_imgs, -1, self.num_gen_params) for kernel in kernel_preds], 1
        )
        losses, targets = self._detection_losses(cls_scores, bbox_preds, gts, batch_img_metas,
                                                 batch_gt_instances_ignore)  # fmt: skip
        losses["loss_mask"] = self.loss_mask_by_feat(mask_feat, flat_kernels, targets.sampling_results, gts)
        return losses

    def loss_mask_by_feat(
        self, mask_feats: Tensor, flat_kernels: Tensor, sampling_results: Sequence[Any], gts: Sequence[Instances]
    ) -> Tensor:
        """The Dice loss of the positives' masks (mmdet's ``loss_mask_by_feat``).

        Args:
            mask_feats: ``[B, P, H_0, W_0]``.
            flat_kernels: ``[B, A, G]`` kernels of every prior.
            sampling_results: Per image, the sampler's result (``pos_inds``, ``pos_priors``,
                ``pos_assigned_gt_inds``).
            gts: Per image, ``masks`` as ``BoolTensor[G_i, H, W]``.
        """
        logits, targets = [], []
        for mask_feat, kernels, sampling, gt in zip(mask_feats, flat_kernels, sampling_results, gts):
            logits.append(self.mask_logits(mask_feat, kernels[sampling.pos_inds], sampling.pos_priors))
            masks = gt.masks
            targets.append(torch.empty_like(masks) if masks.numel() == 0 else masks[sampling.pos_assigned_gt_inds, :])
        pos_logits = torch.cat(logits, 0)
        pos_targets = torch.cat(targets, 0)
        num_pos = reduce_mean(mask_feats.new_tensor([pos_logits.shape[0]])).clamp_(min=1).item()
        if pos_logits.shape[0] == 0:
            return mask_feats.sum() * 0
        scale = self.prior_generator.strides[0][0] // self.mask_loss_stride
        pos_logits = F.interpolate(pos_logits.unsqueeze(0), scale_factor=scale, mode="bilinear",
                                   align_corners=False).squeeze(0)  # fmt: skip
        start, step = self.mask_loss_stride // 2, self.mask_loss_stride
        pos_targets = pos_targets[:, start::step, start::step]
        return self.loss_mask(pos_logits, pos_targets, weight=None, avg_factor=num_pos)

    # ----------------------------------------------------------------- predict
    def predict_by_feat(  # type: ignore[override]
        self,
        cls_scores: Sequence[Tensor],
        bbox_preds: Sequence[Tensor],
        kernel_preds: Sequence[Tensor],
        mask_feat: Tensor,
        batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]],
        cfg: RTMDetInsTestConfig | None = None,
        rescale: bool = False,
    ) -> list[Instances]:
        """Per image ``Instances`` with ``bboxes``, ``scores``, ``labels`` and ``masks`` (see the module docstring)."""
        if not (len(cls_scores) == len(bbox_preds) == len(kernel_preds)):
            raise ValueError(f"{len(cls_scores)} score, {len(bbox_preds)} box and {len(kernel_preds)} kernel levels")
        cfg = self.test_cfg if cfg is None else cfg
        if cfg is None or not hasattr(cfg, "mask_thr_binary"):
            raise ValueError(f"{type(self).__name__}: predicting needs test settings with mask_thr_binary (test_cfg)")
        metas = image_metas(batch_img_metas, require=("img_shape",))
        featmap_sizes = [tuple(score.shape[-2:]) for score in cls_scores]
        priors = self.prior_generator.grid_priors(featmap_sizes, dtype=cls_scores[0].dtype,
                                                  device=cls_scores[0].device, with_stride=True)  # fmt: skip
        return [
            self._predict_single_ins([s[i].detach() for s in cls_scores], [b[i].detach() for b in bbox_preds],
                                     [k[i].detach() for k in kernel_preds], mask_feat[i], priors, meta, cfg, rescale)
            for i, meta in enumerate(metas)
        ]  # fmt: skip

    def _predict_single_ins(
        self,
        cls_scores: Sequence[Tensor],
        bbox_preds: Sequence[Tensor],
        kernel_preds: Sequence[Tensor],
        mask_feat: Tensor,
        mlvl_priors: Sequence[Tensor],
        meta: ImageMeta,
        cfg: RTMDetInsTestConfig,
        rescale: bool,
    ) -> Instances:
        kept_preds, kept_priors, kept_kernels, kept_scores, kept_labels = [], [], [], [], []
        for cls_score, bbox_pred, kernel_pred, priors in zip(cls_scores, bbox_preds, kernel_preds, mlvl_priors):
            cls_score = cls_score.permute(1, 2, 0).reshape(-1, self.cls_out_channels)
            scores = cls_score.sigmoid() if self.use_sigmoid_cls else cls_score.softmax(-1)[:, :-1]
            scores, labels, keep = filter_scores_and_topk(scores, cfg.score_thr, cfg.nms_pre)
            kept_preds.append(bbox_pred.permute(1, 2, 0).reshape(-1, 4)[keep])
            kept_kernels.append(kernel_pred.permute(1, 2, 0).reshape(-1, self.num_gen_params)[keep])
            kept_priors.append(priors[keep])
            kept_scores.append(scores)
            kept_labels.append(labels)
        priors = torch.cat(kept_priors)
        bboxes = self.bbox_coder.decode(priors[..., :2], torch.cat(kept_preds), max_shape=meta.img_shape)
        scores, labels, kernels = torch.cat(kept_scores), torch.cat(kept_labels), torch.cat(kept_kernels)
        if rescale:
            meta.require("scale_factor", "ori_shape", where="rescale=True: the image meta")
            inverse = [1 / s for s in meta.scale_factor]  # type: ignore[union-attr]
            bboxes = scale_boxes(bboxes, inverse)
        if cfg.min_bbox_size >= 0:
            widths, heights = bboxes[:, 2] - bboxes[:, 0], bboxes[:, 3] - bboxes[:, 1]
            valid = (widths > cfg.min_bbox_size) & (heights > cfg.min_bbox_size)
            if not valid.all():
                bboxes, scores, labels, kernels, priors = (t[valid] for t in (bboxes, scores, labels, kernels, priors))
        if bboxes.numel() == 0:
            h, w = (meta.ori_shape if rescale else meta.img_shape)[:2]  # type: ignore[index]
            return Instances(bboxes=bboxes.new_zeros(0, 4), scores=scores, labels=labels,
                             masks=torch.zeros(0, h, w, dtype=torch.bool, device=bboxes.device))  # fmt: skip
        dets, keep = batched_nms(bboxes, scores, labels, cfg.nms.options())
        keep = keep[: cfg.max_per_img]
        logits = self.mask_logits(mask_feat, kernels[keep], priors[keep])
        logits = F.interpolate(logits.unsqueeze(0), scale_factor=self.prior_generator.strides[0][0], mode="bilinear")
        if rescale:
            ori_h, ori_w = meta.ori_shape[:2]  # type: ignore[index]
            size = [math.ceil(logits.shape[-2] * inverse[0]), math.ceil(logits.shape[-1] * inverse[1])]
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)[..., :ori_h, :ori_w]
        masks = logits.sigmoid().squeeze(0) > cfg.mask_thr_binary
        return Instances(bboxes=bboxes[keep], scores=dets[: cfg.max_per_img, -1], labels=labels[keep], masks=masks)


class RTMDetInsSepBNHead(RTMDetInsHead):
    """RTMDet-Ins's head with per-level towers and predictors; see the module docstring.

    Args:
        num_classes: K object classes.
        in_channels: Channels of the pyramid features.
        share_conv: The class (= regression) towers of every level use level 0's convs.
        with_objectness: Merge an objectness branch into the class scores.
        norm_cfg: Norm of the towers and the mask branch.
        act_cfg: Activation of the towers and the mask branch.
        pred_kernel_size: Kernel size of the predictors.
        **kwargs: :class:`RTMDetInsHead`'s other arguments.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int,
        share_conv: bool = True,
        with_objectness: bool = False,
        norm_cfg: Mapping[str, Any] | None = MappingProxyType({"type": "BN", "requires_grad": True}),
        act_cfg: Mapping[str, Any] | None = MappingProxyType({"type": "SiLU", "inplace": True}),
        pred_kernel_size: int = 1,
        **kwargs: Any,
    ) -> None:
        self.share_conv = share_conv
        super().__init__(num_classes=num_classes, in_channels=in_channels, norm_cfg=norm_cfg, act_cfg=act_cfg,
                         pred_kernel_size=pred_kernel_size, with_objectness=with_objectness, **kwargs)  # fmt: skip

    def _init_layers(self) -> None:
        """Per level: class tower (also the regression tower), kernel tower, predictors; then the mask branch."""
        self.cls_convs, self.reg_convs, self.kernel_convs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        self.rtm_cls, self.rtm_reg, self.rtm_kernel, self.rtm_obj = (nn.ModuleList() for _ in range(4))
        for _ in self.prior_generator.strides:
            cls_convs, _unused_reg_convs = self._towers()  # mmdet builds a regression tower and drops it
            kernel_convs = self._kernel_tower()
            self.cls_convs.append(cls_convs)
            self.reg_convs.append(cls_convs)  # mmdet's quirk: the same modules
            self.kernel_convs.append(kernel_convs)
            self.rtm_cls.append(self._predictor(self.num_base_priors * self.cls_out_channels))
            self.rtm_reg.append(self._predictor(self.num_base_priors * 4))
            self.rtm_kernel.append(self._predictor(self.num_gen_params))
            if self.with_objectness:
                self.rtm_obj.append(self._predictor(1))
        if self.share_conv:
            for level in range(len(self.prior_generator.strides)):
                for i in range(self.stacked_convs):
                    self.cls_convs[level][i].conv = self.cls_convs[0][i].conv
        self.mask_head = self._mask_head()

    def init_weights(self) -> None:
        """Mmdet's: convs N(0, 0.01), norms 1/0; ``rtm_cls`` bias at the prior, ``rtm_reg`` bias 1, ``rtm_obj``."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                normal_init(module, mean=0.0, std=INIT_STD)
            if isinstance(module, _NORM_TYPES):
                constant_init(module, 1.0)
        bias_cls = bias_init_with_prob(PRIOR_PROB)
        for rtm_cls, rtm_reg in zip(self.rtm_cls, self.rtm_reg):
            normal_init(rtm_cls, std=INIT_STD, bias=bias_cls)
            normal_init(rtm_reg, std=INIT_STD, bias=1.0)
        if self.with_objectness:
            for rtm_obj in self.rtm_obj:
                normal_init(rtm_obj, std=INIT_STD, bias=bias_cls)

    def _level_layers(self, level: int) -> tuple[Sequence[nn.Module], Sequence[nn.Module], nn.Module, nn.Module]:
        return self.cls_convs[level], self.reg_convs[level], self.rtm_cls[level], self.rtm_reg[level]

    def _kernel_layers(self, level: int) -> tuple[Sequence[nn.Module], nn.Module]:
        return self.kernel_convs[level], self.rtm_kernel[level]

    def _objectness(self, level: int) -> nn.Module:
        return self.rtm_obj[level]

    def _distances(self, level: int, reg: Tensor) -> Tensor:
        """``relu(reg) * stride`` (mmdet's ``RTMDetInsSepBNHead.forward``)."""
        return F.relu(reg) * self.prior_generator.strides[level][0]
