"""Turn the RoI box head's raw outputs for one image into detections.

Shapes: R RoIs ``[R, 5]``; ``cls_score [R, K + 1]``; ``bbox_pred [R, 4K]`` or ``[R, 4]``;
detections ``bboxes [D, 4]`` xyxy, ``scores [D]``, ``labels [D]`` (long, in ``[0, K)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from visdet.models.task_modules.nms_config import NMSConfig
from visdet.models.task_modules.protocols import BoxCoder
from visdet.ops import multiclass_nms
from visdet.structures import ImageMeta, Instances, Settings, as_image_meta, empty_detections, scale_boxes


class RCNNTestConfig(Settings):
    """Test-time settings of the second stage (mmdet's ``test_cfg.rcnn``).

    Attributes:
        score_thr: Minimum class score kept before NMS.
        nms: NMS settings, e.g. ``{"type": "nms", "iou_threshold": 0.5}``.
        max_per_img: Detections kept per image after NMS (``-1``: all).
        mask_thr_binary: Threshold of the pasted mask probabilities (mask branch only;
            negative: uint8 probability maps); ``None`` when there is no mask head.
    """

    score_thr: float = Field(0.05, ge=0, le=1)
    nms: NMSConfig = NMSConfig(iou_threshold=0.5)
    max_per_img: int = 100
    mask_thr_binary: float | None = None


def bbox_postprocess_single(
    roi: Tensor,
    cls_score: Tensor,
    bbox_pred: Tensor | None,
    img_meta: ImageMeta | Mapping[str, Any],
    *,
    num_classes: int,
    bbox_coder: BoxCoder,
    test_cfg: RCNNTestConfig | None,
    reg_class_agnostic: bool = False,
    rescale: bool = False,
) -> Instances:
    """Decode, optionally rescale, and apply multi-class NMS for one image.

    With ``test_cfg=None`` (mmdet's ``rcnn_test_cfg=None``, used to merge test-time
    augmentations) there is no NMS: the result holds every RoI's decoded boxes
    ``[R, 4K]`` (``[R, 4]`` class-agnostic) and class scores ``[R, K + 1]``, no labels.
    mmdet quirk kept: with no RoI at all that result still carries an empty ``labels``
    and ``bboxes [0, 4]``, as mmdet's ``empty_instances`` builds it.

    Args:
        roi: ``Tensor[R, 5]`` the image's RoIs.
        cls_score: ``Tensor[R, K + 1]`` logits.
        bbox_pred: ``Tensor[R, 4K]`` / ``[R, 4]`` deltas, or ``None`` (boxes = RoIs).
        img_meta: Needs ``img_shape`` (decoded boxes are clipped to it), and ``scale_factor``
            ``(w_scale, h_scale)`` when ``rescale``.
        num_classes: K.
        bbox_coder: Decodes the deltas.
        test_cfg: Score threshold, NMS and detections per image; ``None`` for the raw
            per-class boxes and scores (see above).
        reg_class_agnostic: ``bbox_pred`` has one box per RoI.
        rescale: Divide boxes by ``scale_factor`` (back to the original image).

    Returns:
        ``Instances`` with ``bboxes``, ``scores``, ``labels`` (raw: ``bboxes``, ``scores``).
    """
    meta = as_image_meta(img_meta).require("img_shape")
    if roi.shape[0] == 0:
        empty = empty_detections(roi.device)
        if test_cfg is None:
            empty.scores = torch.zeros((0, num_classes + 1), device=roi.device)
        return empty
    scores = F.softmax(cls_score, dim=-1)
    img_shape = meta.img_shape
    num_rois = roi.size(0)
    if bbox_pred is not None:
        repeats = 1 if reg_class_agnostic else num_classes
        boxes = bbox_coder.decode(
            roi.repeat_interleave(repeats, dim=0)[..., 1:], bbox_pred.view(-1, 4), max_shape=img_shape
        )
    else:
        # mmdet means to clip these to the image, but its in-place clamp works on an
        # indexed copy and changes nothing; the RoIs are kept unclipped for parity.
        boxes = roi[:, 1:].clone()
    if rescale and boxes.size(0) > 0:
        meta.require("scale_factor", where="rescale=True: the image meta")
        boxes = scale_boxes(boxes, [1 / s for s in meta.scale_factor])  # type: ignore[union-attr]
    boxes = boxes.view(num_rois, -1)
    if test_cfg is None:
        return Instances(bboxes=boxes, scores=scores)
    dets, labels = multiclass_nms(boxes, scores, test_cfg.score_thr, test_cfg.nms.options(), test_cfg.max_per_img)
    return Instances(bboxes=dets[:, :-1], scores=dets[:, -1], labels=labels)
