"""``FCNMaskHead``: Mask R-CNN's mask branch (He et al., 2017), mmdet 3.3's module.

Shapes: P RoIs with features ``[P, C, s, s]`` (s = 14 in Mask R-CNN); K classes;
``forward`` gives mask logits ``[P, K, 2s, 2s]`` (``[P, 1, ...]`` when ``class_agnostic``;
the size is ``s`` times the upsample factor); targets ``[P, 28, 28]``; pasted masks
``[N, H, W]`` per image.

Layers and ``state_dict`` keys are mmdet's: ``convs.{i}.conv`` (3x3 ``ConvModule`` +
ReLU), ``upsample`` (``ConvTranspose2d`` followed by ReLU, or ``nn.Upsample``, or none),
``conv_logits`` (1x1 conv). The loss is the binary cross-entropy of each positive RoI's
logits for its gt class (``CrossEntropyLoss(use_mask=True)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from visdet.models.layers import ConvModule
from visdet.models.layers.conv import build_conv_layer
from visdet.models.layers.weight_init import kaiming_init
from visdet.models.roi_heads.mask_paste import paste_masks_in_image
from visdet.models.roi_heads.mask_target import mask_target
from visdet.models.task_modules.sampling_result import SamplingResult
from visdet.structures import ImageMeta, Instances, as_image_meta

UPSAMPLE_METHODS = (None, "deconv", "nearest", "bilinear")


class FCNMaskHead(nn.Module):
    """Convs, an upsampling step and a 1x1 per-class mask predictor.

    Args:
        num_convs: Number of ``conv_kernel_size`` convs (each ``ConvModule`` + ReLU).
        roi_feat_size: RoI feature size (kept for mmdet compatibility; not used).
        in_channels: Channels C of the RoI features.
        conv_kernel_size: Kernel of the convs (padding keeps the size).
        conv_out_channels: Channels of the convs and of the deconv.
        num_classes: K.
        class_agnostic: Predict one mask per RoI instead of one per class.
        upsample_method: ``"deconv"`` (``ConvTranspose2d`` with kernel = stride =
            ``scale_factor``, then ReLU), ``"nearest"``/``"bilinear"`` (``nn.Upsample``)
            or ``None`` (no upsampling). mmdet's ``carafe`` is not implemented.
        scale_factor: Upsampling factor (mmdet's ``upsample_cfg.scale_factor``).
        conv_cfg: Conv config of the convs (``None``: ``nn.Conv2d``).
        norm_cfg: Norm config of the convs (``None``: no norm, convs with bias).
        predictor_cfg: Conv config of ``conv_logits``.
        loss_mask: Mask loss module (``CrossEntropyLoss(use_mask=True)``).
    """

    def __init__(
        self,
        *,
        num_convs: int = 4,
        roi_feat_size: int = 14,
        in_channels: int = 256,
        conv_kernel_size: int = 3,
        conv_out_channels: int = 256,
        num_classes: int = 80,
        class_agnostic: bool = False,
        upsample_method: str | None = "deconv",
        scale_factor: int | float | None = 2,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: Mapping[str, Any] | None = None,
        predictor_cfg: Mapping[str, Any] = MappingProxyType({"type": "Conv"}),
        loss_mask: nn.Module,
    ) -> None:
        super().__init__()
        if upsample_method not in UPSAMPLE_METHODS:
            raise ValueError(
                f"invalid upsample method {upsample_method!r}; accepted: 'deconv', 'nearest', 'bilinear', None "
                "(mmdet's 'carafe' is not implemented in visdet)"
            )
        if upsample_method is not None and scale_factor is None:
            raise ValueError(f"upsample method {upsample_method!r} needs a scale_factor")
        self.num_convs = num_convs
        self.roi_feat_size = (roi_feat_size, roi_feat_size)  # mmdet: reserved, unused
        self.in_channels = in_channels
        self.conv_kernel_size = conv_kernel_size
        self.conv_out_channels = conv_out_channels
        self.upsample_method = upsample_method
        self.scale_factor = scale_factor
        self.num_classes = num_classes
        self.class_agnostic = class_agnostic
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.predictor_cfg = dict(predictor_cfg)
        self.loss_mask = loss_mask

        padding = (conv_kernel_size - 1) // 2
        self.convs = nn.ModuleList(
            ConvModule(
                in_channels=in_channels if i == 0 else conv_out_channels,
                out_channels=conv_out_channels,
                kernel_size=conv_kernel_size,
                padding=padding,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
            )
            for i in range(num_convs)
        )
        upsample_in_channels = conv_out_channels if num_convs > 0 else in_channels
        self.upsample: nn.Module | None
        if upsample_method is None:
            self.upsample = None
        elif upsample_method == "deconv":
            stride = int(scale_factor)  # type: ignore[arg-type]
            self.upsample = nn.ConvTranspose2d(upsample_in_channels, conv_out_channels, stride, stride=stride)
        else:
            align_corners = None if upsample_method == "nearest" else False
            self.upsample = nn.Upsample(scale_factor=scale_factor, mode=upsample_method, align_corners=align_corners)
        logits_in_channels = conv_out_channels if upsample_method == "deconv" else upsample_in_channels
        self.conv_logits = build_conv_layer(
            self.predictor_cfg,
            in_channels=logits_in_channels,
            out_channels=1 if class_agnostic else num_classes,
            kernel_size=1,
        )
        self.relu = nn.ReLU(inplace=True)

    def init_weights(self) -> None:
        """Mmdet's init of the upsampling and predictor layers: He-normal (fan_out), zero bias."""
        for module in (self.upsample, self.conv_logits):
            if module is not None and getattr(module, "weight", None) is not None:
                kaiming_init(module, mode="fan_out", nonlinearity="relu", bias=0.0)

    def forward(self, x: Tensor) -> Tensor:
        """Mask logits ``[P, K or 1, H', W']`` of RoI features ``[P, C, s, s]``."""
        for conv in self.convs:
            x = conv(x)
        if self.upsample is not None:
            x = self.upsample(x)
            if self.upsample_method == "deconv":
                x = self.relu(x)
        return self.conv_logits(x)

    # ----------------------------------------------------------------- training
    def get_targets(
        self,
        sampling_results: Sequence[SamplingResult],
        batch_gt_instances: Sequence[Instances],
        mask_size: int | Sequence[int],
        soft_mask_target: bool = False,
    ) -> Tensor:
        """Mask targets ``[sum P, mh, mw]`` of the positive RoIs (see ``mask_target``)."""
        for i, gt in enumerate(batch_gt_instances):
            if not gt.has("masks"):
                raise ValueError(f"image {i}: ground truth has no 'masks'; the mask head needs them")
        return mask_target(
            [res.pos_priors for res in sampling_results],
            [res.pos_assigned_gt_inds for res in sampling_results],
            [gt.masks for gt in batch_gt_instances],
            mask_size,
            soft=soft_mask_target,
        )

    def loss_and_target(
        self,
        mask_preds: Tensor,
        sampling_results: Sequence[SamplingResult],
        batch_gt_instances: Sequence[Instances],
        mask_size: int | Sequence[int],
        soft_mask_target: bool = False,
    ) -> dict[str, Any]:
        """``{"loss_mask": {"loss_mask": Tensor[1]}, "mask_targets": Tensor[P, mh, mw]}``.

        With no positive RoI at all the loss is ``mask_preds.sum()`` (a zero that keeps
        the graph), as mmdet.
        """
        mask_targets = self.get_targets(sampling_results, batch_gt_instances, mask_size, soft_mask_target)
        pos_labels = torch.cat([res.pos_gt_labels for res in sampling_results])
        if mask_preds.size(0) == 0:
            loss_mask = mask_preds.sum()
        else:
            labels = torch.zeros_like(pos_labels) if self.class_agnostic else pos_labels
            loss_mask = self.loss_mask(mask_preds, mask_targets, labels)
        return {"loss_mask": {"loss_mask": loss_mask}, "mask_targets": mask_targets}

    # ----------------------------------------------------------------- testing
    def predict_by_feat(
        self,
        mask_preds: Sequence[Tensor],
        results_list: Sequence[Instances],
        batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]],
        mask_thr_binary: float,
        rescale: bool = False,
        activate_map: bool = False,
    ) -> list[Instances]:
        """Add ``masks [N, H, W]`` to each image's detections.

        With ``rescale`` the masks are pasted at ``ori_shape`` and the detections' boxes
        are divided by ``scale_factor`` (mmdet divides in place; visdet returns new
        ``Instances`` with the divided boxes); without it the masks are pasted at
        ``round(ori_shape * scale_factor)`` and the boxes stay.

        Args:
            mask_preds: Per image logits ``[N_i, K or 1, mh, mw]`` (probabilities when
                ``activate_map``).
            results_list: Per image detections (``bboxes``, ``labels``, ``scores``).
            batch_img_metas: Per image ``ori_shape`` and ``scale_factor``.
            mask_thr_binary: Threshold of the pasted probabilities (negative: uint8 maps).
            rescale: Back to the original image.
            activate_map: ``mask_preds`` are probabilities already.

        Returns:
            Per image ``Instances`` with ``masks`` added.
        """
        if not (len(mask_preds) == len(results_list) == len(batch_img_metas)):
            raise ValueError(
                f"{len(mask_preds)} mask predictions, {len(results_list)} results and {len(batch_img_metas)} metas"
            )
        out = []
        for preds, results, meta in zip(mask_preds, results_list, batch_img_metas):
            meta = as_image_meta(meta).require("ori_shape", "scale_factor", where="mask pasting: the image meta")
            fields = dict(results.items())
            boxes = results.bboxes
            if boxes.shape[0] == 0:
                img_h, img_w = meta.ori_shape[:2]
                dtype = torch.bool if mask_thr_binary >= 0 else torch.uint8
                fields["masks"] = torch.zeros(0, img_h, img_w, device=boxes.device, dtype=dtype)
            else:
                fields["bboxes"], fields["masks"] = self._paste_single(
                    preds, boxes, results.labels, meta, mask_thr_binary, rescale, activate_map
                )
            out.append(Instances(**fields))
        return out

    def _paste_single(
        self,
        mask_preds: Tensor,
        bboxes: Tensor,
        labels: Tensor,
        meta: ImageMeta,
        mask_thr_binary: float,
        rescale: bool,
        activate_map: bool,
    ) -> tuple[Tensor, Tensor]:
        scale_factor = bboxes.new_tensor(meta.scale_factor).repeat((1, 2))
        img_h, img_w = meta.ori_shape[:2]
        probs = mask_preds.sigmoid() if not activate_map else mask_preds.detach().to(bboxes, copy=True)
        if rescale:
            bboxes = bboxes / scale_factor  # mmdet divides (the box head multiplies by 1/s)
        else:
            img_h = int(np.round(img_h * scale_factor[0, 1].item()).astype(np.int32))
            img_w = int(np.round(img_w * scale_factor[0, 0].item()).astype(np.int32))
        num = len(probs)
        if not self.class_agnostic:
            probs = probs[torch.arange(num, device=probs.device), labels][:, None]
        return bboxes, paste_masks_in_image(probs, bboxes, img_h, img_w, mask_thr_binary)
