"""Faster R-CNN as one traceable graph: preprocessed batch -> final detections.

Shapes: B images, inputs ``[B, 3, H, W]`` (normalised and padded, as
``DetDataPreprocessor`` makes them), ``img_shape [B, 2]`` float32 ``(h, w)`` of each image
inside the padded batch, ``scale_factor [B, 2]`` float64 ``(w_scale, h_scale)`` from the
original image to the input (float64 so that ``1 / s`` is rounded exactly as mmdet rounds
it). Outputs, D detections over the batch grouped by image, best first within an image:
``boxes [D, 4]`` xyxy in original pixels, ``scores [D]``, ``labels [D]`` int64 and
``batch_index [D]`` int64.

The steps are those of ``TwoStageDetector.predict`` (mmdet's order and arithmetic),
written with tensor operations only, so that the whole batch goes through one graph:

* RPN: per level sigmoid scores, the ``nms_pre`` best (TopK), decode against anchors
  generated from the feature size in the graph, clip to ``img_shape``, invalidate boxes
  not wider and taller than ``min_bbox_size``; per image one NMS with the level as the
  group, by mmcv's offset trick (``boxes + level * (max coordinate + 1)``, the same float
  operations as :func:`visdet.ops.batched_nms`), keeping ``max_per_img``.
* RoI head: level of each RoI by scale, ``RoiAlign`` per level, the box head, softmax,
  decode per class, clip, divide by ``scale_factor``; multi-class NMS per image with the
  class as the group (again the offset trick), candidates ``score > score_thr``, at most
  ``max_per_img`` per image.

Removal of candidates is replaced by scores below the NMS score threshold (the ONNX
operator then never considers them), and images are kept apart by giving each image its
own NMS class: both change no result. See :mod:`visdet.export.onnx_ops` for the two
ONNX operators and why their semantics match mmcv's.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from visdet.export.onnx_ops import NonMaxSuppression, RoiAlign
from visdet.models.detectors.base import extract_features
from visdet.models.roi_heads.single_roi_extractor import map_roi_levels

# NonMaxSuppression's max_output_boxes_per_class when nothing caps the count.
NO_CAP = 2**31 - 1
# Score given to removed RPN candidates; the RPN's NMS admits scores above INVALID_RPN_THRESHOLD only.
INVALID_SCORE = -1.0
INVALID_RPN_THRESHOLD = -0.5


def _tracing() -> bool:
    return torch.jit.is_tracing()


def _count(x: Tensor, dim: int) -> Tensor | int:
    """``x.shape[dim]``, as a traced tensor while tracing."""
    return torch._shape_as_tensor(x)[dim] if _tracing() else x.shape[dim]


def _at_most(count: Tensor | int, cap: int) -> Tensor | int:
    if isinstance(count, Tensor):
        return torch.clamp(count, max=cap)
    return min(count, cap)


def _cap(*limits: int) -> int:
    positive = [limit for limit in limits if limit > 0]
    return min(positive) if positive else NO_CAP


class TwoStageGraph(nn.Module):
    """Traceable prediction of a ``TwoStageDetector`` (see the module docstring).

    Args:
        model: A Faster R-CNN; check it first with
            :func:`visdet.export.support.check_exportable`.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        # the parts, not the detector: a fused detector refuses state_dict(), which export calls
        self.backbone = model.backbone
        self.neck = getattr(model, "neck", None)
        self.rpn_head = model.rpn_head
        self.roi_head = model.roi_head
        rpn = model.rpn_head.test_proposals
        self.rpn_nms_pre = int(rpn.nms_pre)
        self.rpn_max = _cap(rpn.max_per_img, rpn.nms.options().max_num)
        self.rpn_iou = float(rpn.nms.options().iou_threshold)
        self.rpn_min_size = float(rpn.min_bbox_size)
        rcnn = model.roi_head.test_cfg
        self.score_thr = float(rcnn.score_thr)
        self.rcnn_max = _cap(rcnn.max_per_img, rcnn.nms.options().max_num)
        self.rcnn_iou = float(rcnn.nms.options().iou_threshold)

    def forward(self, inputs: Tensor, img_shape: Tensor, scale_factor: Tensor) -> tuple[Tensor, ...]:
        """Detections of the batch: ``boxes``, ``scores``, ``labels``, ``batch_index``."""
        feats = extract_features(self.backbone, self.neck, inputs)
        cls_scores, bbox_preds = self.rpn_head(feats)
        boxes, batch_index = self._proposals(cls_scores, bbox_preds, img_shape)
        return self._detections(feats, boxes, batch_index, img_shape, scale_factor)

    # ------------------------------------------------------------------ RPN
    def _anchors(self, level: int, feat: Tensor) -> Tensor:
        """``[H * W * A, 4]`` anchors of ``level``, as ``AnchorGenerator.single_level_grid_priors``."""
        generator = self.rpn_head.prior_generator
        base = generator.base_anchors[level].to(feat)
        stride_w, stride_h = generator.strides[level]
        shift_x = torch.arange(_count(feat, 3), device=feat.device).to(feat.dtype) * stride_w
        shift_y = torch.arange(_count(feat, 2), device=feat.device).to(feat.dtype) * stride_h
        # [H, W] grids by broadcasting (adding an exact zero), row-major as mmdet's meshgrid
        xx = (shift_x[None, :] + 0 * shift_y[:, None]).reshape(-1)
        yy = (shift_y[:, None] + 0 * shift_x[None, :]).reshape(-1)
        shifts = torch.stack([xx, yy, xx, yy], dim=-1)
        return (base[None, :, :] + shifts[:, None, :]).reshape(-1, 4)

    def _clip(self, boxes: Tensor, max_xyxy: Tensor) -> Tensor:
        if not self.rpn_head.bbox_coder.clip_border:
            return boxes
        return torch.clamp(boxes, min=torch.zeros_like(max_xyxy), max=max_xyxy)

    def _proposals(
        self, cls_scores: list[Tensor], bbox_preds: list[Tensor], img_shape: Tensor
    ) -> tuple[Tensor, Tensor]:
        head = self.rpn_head
        max_xy = img_shape.flip(-1)
        max_xyxy = torch.cat([max_xy, max_xy], -1)[:, None, :]  # [B, 1, 4]
        level_boxes, level_scores, level_ids = [], [], []
        for level, (cls_score, bbox_pred) in enumerate(zip(cls_scores, bbox_preds)):
            batch = _count(cls_score, 0)
            scores = cls_score.permute(0, 2, 3, 1).reshape(batch, -1).sigmoid()
            deltas = bbox_pred.permute(0, 2, 3, 1).reshape(batch, -1, 4)
            anchors = self._anchors(level, cls_score)
            if self.rpn_nms_pre > 0:
                k = _at_most(_count(scores, 1), self.rpn_nms_pre)
                scores, order = scores.topk(k, dim=1)
                deltas = torch.gather(deltas, 1, order[..., None].expand(-1, -1, 4))
                anchors = anchors[order]
            else:
                anchors = anchors[None].expand_as(deltas)
            boxes = self._clip(head.bbox_coder.decode(anchors, deltas), max_xyxy)
            level_boxes.append(boxes)
            level_scores.append(scores)
            level_ids.append(torch.full_like(scores[0], level))
        boxes, scores, levels = torch.cat(level_boxes, 1), torch.cat(level_scores, 1), torch.cat(level_ids)
        if self.rpn_min_size >= 0:
            valid = (boxes[..., 2] - boxes[..., 0] > self.rpn_min_size) & (
                boxes[..., 3] - boxes[..., 1] > self.rpn_min_size
            )
        else:
            valid = torch.ones_like(scores, dtype=torch.bool)
        scores = torch.where(valid, scores, torch.full_like(scores, INVALID_SCORE))
        max_coordinate = torch.where(valid[..., None], boxes, torch.zeros_like(boxes)).amax(dim=(1, 2))
        offsets = levels[None, :] * (max_coordinate[:, None] + 1)
        selected = NonMaxSuppression.apply(
            boxes + offsets[..., None], scores[:, None, :], self.rpn_max, self.rpn_iou, INVALID_RPN_THRESHOLD
        )
        batch_index, box_index = selected[:, 0], selected[:, 2]
        return boxes[batch_index, box_index], batch_index

    # ------------------------------------------------------------------ RoI head
    def _roi_features(self, feats: tuple[Tensor, ...], boxes: Tensor, batch_index: Tensor) -> Tensor:
        extractor = self.roi_head.bbox_roi_extractor
        num_levels = extractor.num_inputs
        rois = torch.cat([batch_index[:, None].to(boxes.dtype), boxes], 1)
        levels = map_roi_levels(rois, num_levels, extractor.finest_scale)
        pooled, order = [], []
        for level in range(num_levels):
            layer = extractor.roi_layers[level]
            inds = torch.nonzero(levels == level).squeeze(1)
            pooled.append(
                RoiAlign.apply(
                    feats[level],
                    boxes[inds],
                    batch_index[inds],
                    int(layer.output_size[0]),
                    float(layer.spatial_scale),
                    int(layer.sampling_ratio),
                )
            )
            order.append(inds)
        return torch.cat(pooled)[torch.argsort(torch.cat(order))]

    def _detections(
        self, feats: tuple[Tensor, ...], boxes: Tensor, batch_index: Tensor, img_shape: Tensor, scale_factor: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        bbox_head = self.roi_head.bbox_head
        num_classes = int(bbox_head.num_classes)
        cls_score, bbox_pred = bbox_head(self._roi_features(feats, boxes, batch_index))
        scores = torch.softmax(cls_score, dim=-1)[:, :num_classes]
        decoded = bbox_head.bbox_coder.decode(boxes, bbox_pred)  # [R, 4] or [R, 4K]
        decoded = decoded.reshape(_count(decoded, 0), -1, 4)
        max_xy = img_shape.flip(-1)[batch_index]
        if bbox_head.bbox_coder.clip_border:
            max_xyxy = torch.cat([max_xy, max_xy], -1)[:, None, :]
            decoded = torch.clamp(decoded, min=torch.zeros_like(max_xyxy), max=max_xyxy)
        inverse = (1.0 / scale_factor).to(boxes.dtype)  # mmdet: 1 / s in double, then float32
        inverse = torch.cat([inverse, inverse], -1)[batch_index][:, None, :]
        decoded = (decoded * inverse).expand(-1, num_classes, 4)  # class-agnostic: one box for all
        labels = torch.arange(num_classes, device=boxes.device)[None, :].expand_as(scores).reshape(-1)
        images = batch_index[:, None].expand_as(scores).reshape(-1)
        candidates, scores = decoded.reshape(-1, 4), scores.reshape(-1)
        # per image, the largest coordinate among its candidates (mmcv's offset base)
        image_ids = torch.arange(_count(img_shape, 0), device=boxes.device)
        member = images[None, :] == image_ids[:, None]  # [B, R * K]
        in_image = member & (scores > self.score_thr)[None, :]
        max_coordinate = torch.where(in_image[..., None], candidates[None], torch.zeros_like(candidates[None]))
        max_coordinate = max_coordinate.amax(dim=(1, 2))
        offsets = labels.to(candidates.dtype) * (max_coordinate[images] + 1)
        nms_scores = torch.where(member, scores[None, :], torch.full_like(member, INVALID_SCORE, dtype=scores.dtype))
        selected = NonMaxSuppression.apply(
            (candidates + offsets[:, None])[None], nms_scores[None], self.rcnn_max, self.rcnn_iou, self.score_thr
        )
        keep = selected[:, 2]
        return candidates[keep], scores[keep], labels[keep], selected[:, 1]
