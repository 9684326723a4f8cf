"""The last steps of every dense head's prediction, shared by RPN and one-stage heads.

Shapes: per image, ``bboxes [n, 4]`` decoded candidates, ``scores [n]``, ``groups [n]``
(the NMS groups: the pyramid level for RPN, the class for one-stage heads) and
``labels [n]``. Output: ``Instances`` with ``bboxes [D, 4]``, ``scores [D]``,
``labels [D]``.

Steps, in mmdet's order (``BaseDenseHead._bbox_post_process`` and RPN's own): divide by
``scale_factor`` when rescaling, multiply the scores by the score factors if any,
drop boxes not wider and taller than ``min_bbox_size``,
``batched_nms`` over the groups, keep the best ``max_per_img``.
"""

from __future__ import annotations

from torch import Tensor

from visdet.ops import NMSOptions, batched_nms
from visdet.structures import ImageMeta, Instances, scale_boxes


def dense_post_process(
    bboxes: Tensor,
    scores: Tensor,
    groups: Tensor,
    labels: Tensor,
    meta: ImageMeta,
    *,
    nms: NMSOptions,
    min_bbox_size: float,
    max_per_img: int,
    rescale: bool,
    score_factors: Tensor | None = None,
) -> Instances:
    """Rescale, filter small boxes, NMS per group, cut to ``max_per_img`` (see the module docstring).

    Args:
        bboxes: ``Tensor[n, 4]`` in input-image pixels.
        scores: ``Tensor[n]``.
        groups: ``LongTensor[n]`` NMS group of each box.
        labels: ``LongTensor[n]`` label of each box (kept boxes keep theirs).
        meta: The image's meta (``scale_factor`` when ``rescale``).
        nms: The NMS options.
        min_bbox_size: Boxes must be wider and taller than this; ``< 0`` disables the filter.
        max_per_img: Detections kept after NMS.
        rescale: Map boxes back to the original image.
        score_factors: ``Tensor[n]`` multiplied into the scores after rescaling (FCOS's
            centerness), or ``None``.

    Returns:
        ``Instances`` with ``bboxes``, ``scores``, ``labels``.
    """
    if rescale:
        meta.require("scale_factor", where="rescale=True: the image meta")
        bboxes = scale_boxes(bboxes, [1 / s for s in meta.scale_factor])  # type: ignore[union-attr]
    if score_factors is not None:
        scores = scores * score_factors
    if min_bbox_size >= 0:
        w, h = bboxes[:, 2] - bboxes[:, 0], bboxes[:, 3] - bboxes[:, 1]
        valid = (w > min_bbox_size) & (h > min_bbox_size)
        if not valid.all():
            bboxes, scores, groups, labels = bboxes[valid], scores[valid], groups[valid], labels[valid]
    if bboxes.numel() == 0:
        return Instances(bboxes=bboxes.new_zeros(0, 4), scores=scores.new_zeros(0), labels=labels.new_zeros(0))
    dets, keep = batched_nms(bboxes, scores, groups, nms)
    return Instances(
        bboxes=bboxes[keep][:max_per_img], scores=dets[:, -1][:max_per_img], labels=labels[keep][:max_per_img]
    )
