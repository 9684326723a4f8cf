"""NMS and RoIAlign as single ONNX operators (``NonMaxSuppression``, ``RoiAlign``) for tracing.

Each is a ``torch.autograd.Function`` whose ``forward`` computes the result in PyTorch
(used while tracing, and when the export graph runs eagerly) and whose ``symbolic`` emits
the ONNX operator, so the traced graph holds one node instead of a Python loop.

Why the ONNX operators match mmcv's (and visdet's) semantics here:

* ``NonMaxSuppression`` (opset 10+; onnxruntime's CPU kernel): box ``j`` is suppressed by a
  kept box ``i`` when ``inter / (area_i + area_j - inter) > iou_threshold`` with
  ``area = (x2 - x1) * (y2 - y1)`` and ``inter`` from the clipped min/max edges, which is
  mmcv's ``nms`` with ``offset=0``, strictly greater included; zero-area boxes never
  suppress (IoU 0 in mmcv, "no overlap" in onnxruntime). Candidates need
  ``score > score_threshold`` (strict, as mmdet's ``scores > score_thr``). Selected
  indices come per batch and class, best score first. Ties between equal scores may be
  ranked differently (torch's sort versus onnxruntime's heap): a difference only when
  two candidates have bit-equal scores.
* ``RoiAlign`` (opset 16) with ``coordinate_transformation_mode="half_pixel"`` is mmcv's
  ``roi_align(aligned=True)``: the scaled RoI is shifted by -0.5 pixel and not widened to
  1 pixel; ``sampling_ratio=0`` samples ``ceil(roi_size / bins)`` points per bin and axis;
  bilinear sampling drops points beyond one pixel outside the map and clamps the rest to
  the border, and ``mode="avg"`` divides by the sample count, the same formulas. Only the
  order of float additions may differ (about 1e-7 relative). ``pool_mode="max"`` and
  ``aligned=False`` are refused: onnxruntime's max mode takes the maximum of weighted
  corner values rather than of interpolated samples, and ``output_half_pixel`` widens
  RoIs differently from mmcv's legacy mode.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from visdet.ops import nms, roi_align


class NonMaxSuppression(torch.autograd.Function):
    """ONNX ``NonMaxSuppression`` on ``boxes [B, N, 4]`` (xyxy) and ``scores [B, C, N]``.

    Returns ``LongTensor[K, 3]`` rows ``(batch, class, box)``: per batch, per class, the
    kept boxes best first, at most ``max_per_class`` of them.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, boxes: Tensor, scores: Tensor, max_per_class: int, iou_threshold: float, score_threshold: float
    ) -> Tensor:
        """The selection computed with visdet's ``nms`` (used while tracing and when run eagerly)."""
        rows = []
        for batch in range(scores.shape[0]):
            for cls in range(scores.shape[1]):
                candidates = torch.nonzero(scores[batch, cls] > score_threshold).squeeze(1)
                _, keep = nms(boxes[batch, candidates], scores[batch, cls, candidates], iou_threshold)
                keep = candidates[keep[:max_per_class]]
                ids = torch.tensor([batch, cls]).expand(keep.shape[0], 2)
                rows.append(torch.cat([ids, keep[:, None].cpu()], 1))
        return torch.cat(rows).to(boxes.device) if rows else torch.zeros(0, 3, dtype=torch.long)

    @staticmethod
    def symbolic(g: Any, boxes: Any, scores: Any, max_per_class: int, iou_threshold: float, score_threshold: float):  # noqa: D102
        return g.op(
            "NonMaxSuppression",
            boxes,
            scores,
            g.op("Constant", value_t=torch.tensor([max_per_class], dtype=torch.long)),
            g.op("Constant", value_t=torch.tensor([iou_threshold], dtype=torch.float)),
            g.op("Constant", value_t=torch.tensor([score_threshold], dtype=torch.float)),
            center_point_box_i=0,
        )


class RoiAlign(torch.autograd.Function):
    """ONNX ``RoiAlign`` (opset 16, half-pixel = mmcv ``aligned=True``, average pooling).

    ``feats [B, C, H, W]``, ``boxes [K, 4]`` xyxy in image pixels, ``batch_index [K]``
    int64 -> ``[K, C, output_size, output_size]``.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        feats: Tensor,
        boxes: Tensor,
        batch_index: Tensor,
        output_size: int,
        spatial_scale: float,
        sampling_ratio: int,
    ) -> Tensor:
        """The pooled features computed with visdet's ``roi_align``."""
        rois = torch.cat([batch_index[:, None].to(boxes.dtype), boxes], 1)
        return roi_align(feats, rois, output_size, spatial_scale, sampling_ratio, "avg", True)

    @staticmethod
    def symbolic(  # noqa: D102
        g: Any, feats: Any, boxes: Any, batch_index: Any, output_size: int, spatial_scale: float, sampling_ratio: int
    ):
        return g.op(
            "RoiAlign",
            feats,
            boxes,
            batch_index,
            coordinate_transformation_mode_s="half_pixel",
            mode_s="avg",
            output_height_i=output_size,
            output_width_i=output_size,
            sampling_ratio_i=sampling_ratio,
            spatial_scale_f=spatial_scale,
        )
