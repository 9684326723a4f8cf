"""``BboxOverlaps2D``: the IoU calculator that assigners call (mmdet's ``iou_calculator``).

A thin callable around :func:`visdet.ops.bbox_overlaps` that accepts ``[M, 4]`` or
``[M, 5]`` boxes (a trailing score column is dropped) and can compute in fp16 to save
memory, as mmdet's ``BboxOverlaps2D(scale, dtype='fp16')`` does.
"""

from __future__ import annotations

import torch

from visdet.ops.bbox_overlaps import bbox_overlaps


class BboxOverlaps2D:
    """Pairwise (or aligned) IoU / IoF / GIoU of 2-D boxes.

    Args:
        scale: With ``dtype='fp16'``, boxes are divided by ``scale`` before the cast to
            half so large coordinates do not overflow.
        dtype: ``None`` to compute in the boxes' dtype, ``'fp16'`` to compute in half
            precision (the result comes back as fp32 on CPU, as in mmdet).
    """

    def __init__(self, *, scale: float = 1.0, dtype: str | None = None) -> None:
        if dtype not in (None, "fp16"):
            raise ValueError(f"dtype must be None or 'fp16', got {dtype!r}")
        self.scale = scale
        self.dtype = dtype

    def __call__(
        self,
        bboxes1: torch.Tensor,
        bboxes2: torch.Tensor,
        mode: str = "iou",
        is_aligned: bool = False,
    ) -> torch.Tensor:
        """Overlaps of ``bboxes1`` ``[M, 4|5]`` with ``bboxes2`` ``[N, 4|5]``.

        Returns:
            ``Tensor[M, N]``, or ``Tensor[M]`` when ``is_aligned``.
        """
        for name, boxes in (("bboxes1", bboxes1), ("bboxes2", bboxes2)):
            if boxes.size(-1) not in (0, 4, 5):
                raise ValueError(f"{name} must have 4 or 5 columns, got shape {tuple(boxes.shape)}")
        bboxes1 = bboxes1[..., :4]
        bboxes2 = bboxes2[..., :4]
        if self.dtype == "fp16":
            bboxes1 = (bboxes1 / self.scale).half()
            bboxes2 = (bboxes2 / self.scale).half()
            overlaps = bbox_overlaps(bboxes1, bboxes2, mode=mode, is_aligned=is_aligned)
            if not overlaps.is_cuda and overlaps.dtype == torch.float16:
                overlaps = overlaps.float()
            return overlaps
        return bbox_overlaps(bboxes1, bboxes2, mode=mode, is_aligned=is_aligned)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scale={self.scale}, dtype={self.dtype})"
