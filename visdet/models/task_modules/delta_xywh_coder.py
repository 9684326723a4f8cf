"""``DeltaXYWHBBoxCoder``: R-CNN box deltas ``(dx, dy, dw, dh)``.

Encoding (``bbox2delta``): with a prior of centre ``(px, py)`` and size ``(pw, ph)`` and a
target of centre ``(gx, gy)`` and size ``(gw, gh)``,
``d = ((gx - px) / pw, (gy - py) / ph, log(gw / pw), log(gh / ph))``, then normalised as
``(d - means) / stds``. Decoding (``delta2bbox``) inverts it, clamping ``dw, dh`` to
``|log(wh_ratio_clip)|`` and optionally clipping boxes to the image.

Shape shorthand: N boxes, B images, K = 4 * C for class-wise deltas (C classes).
Boxes are absolute ``(x1, y1, x2, y2)``. The elementwise arithmetic matches mmdet 3.3's
``delta2bbox`` and ``onnx_delta2bbox`` (its batched path) operation for operation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

# mmdet's default for the largest allowed |log(w / w_prior)| is |log(16 / 1000)|.
DEFAULT_WH_RATIO_CLIP = 16 / 1000

MaxShape = Sequence[int] | Sequence[Sequence[int]] | torch.Tensor


def bbox2delta(
    proposals: torch.Tensor,
    gt: torch.Tensor,
    means: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
    stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
) -> torch.Tensor:
    """Normalised deltas that move ``proposals`` onto ``gt``.

    Args:
        proposals: ``Tensor[..., 4]`` source boxes.
        gt: ``Tensor[..., 4]`` target boxes, the same shape as ``proposals``.
        means: Means subtracted from the raw deltas.
        stds: Standard deviations the centred deltas are divided by.

    Returns:
        ``FloatTensor[..., 4]`` deltas ``(dx, dy, dw, dh)`` (computed in fp32, as mmdet).
    """
    if proposals.shape != gt.shape:
        raise ValueError(
            f"proposals {tuple(proposals.shape)} and gt {tuple(gt.shape)} must have one shape"
        )
    proposals = proposals.float()
    gt = gt.float()
    px = (proposals[..., 0] + proposals[..., 2]) * 0.5
    py = (proposals[..., 1] + proposals[..., 3]) * 0.5
    pw = proposals[..., 2] - proposals[..., 0]
    ph = proposals[..., 3] - proposals[..., 1]
    gx = (gt[..., 0] + gt[..., 2]) * 0.5
    gy = (gt[..., 1] + gt[..., 3]) * 0.5
    gw = gt[..., 2] - gt[..., 0]
    gh = gt[..., 3] - gt[..., 1]
    deltas = torch.stack(
        [(gx - px) / pw, (gy - py) / ph, torch.log(gw / pw), torch.log(gh / ph)], dim=-1
    )
    return (deltas - deltas.new_tensor(means)) / deltas.new_tensor(stds)


def _max_xy(max_shape: MaxShape, boxes: torch.Tensor) -> torch.Tensor:
    """``(W, H)`` upper bounds shaped to broadcast over ``boxes`` of shape ``[..., N, C, 2]``."""
    shape = torch.as_tensor(max_shape, device=boxes.device)
    if shape.dim() not in (1, 2) or shape.size(-1) < 2:
        raise ValueError(
            f"max_shape must be (H, W[, C]) or one such row per image, got {tuple(shape.shape)}"
        )
    max_xy = shape[..., :2].to(boxes.dtype).flip(-1)
    if shape.dim() == 2:
        # One (H, W) per image: the boxes must be batched [B, N, C, 2].
        if boxes.dim() != 4 or shape.size(0) != boxes.size(0):
            raise ValueError(
                f"max_shape has {shape.size(0)} rows but the batched boxes have shape "
                f"{tuple(boxes.shape[:-2])}; give one (H, W) per image"
            )
        return max_xy[:, None, None, :]
    return max_xy


def delta2bbox(
    rois: torch.Tensor,
    deltas: torch.Tensor,
    means: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
    stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    max_shape: MaxShape | None = None,
    wh_ratio_clip: float = DEFAULT_WH_RATIO_CLIP,
    clip_border: bool = True,
    add_ctr_clamp: bool = False,
    ctr_clamp: float = 32,
) -> torch.Tensor:
    """Apply ``deltas`` to ``rois``.

    Args:
        rois: ``Tensor[N, 4]`` or batched ``Tensor[B, N, 4]`` priors.
        deltas: ``Tensor[N, K]`` or ``Tensor[B, N, K]`` deltas, K = 4 * C.
        means: Means added to the deltas after scaling by ``stds``.
        stds: Scales of the deltas.
        max_shape: Image shape ``(H, W[, C])`` to clip to, or for batched input one such
            row per image (``Sequence`` of length B or ``Tensor[B, 2|3]``).
        wh_ratio_clip: ``dw`` and ``dh`` are clamped to ``|log(wh_ratio_clip)|``.
        clip_border: Whether to clip boxes to ``[0, W] x [0, H]`` (needs ``max_shape``).
        add_ctr_clamp: YOLOF's clamp of the centre shift to ``[-ctr_clamp, ctr_clamp]``
            pixels; ``dw, dh`` then get only an upper clamp, as in mmdet.
        ctr_clamp: Largest centre shift in pixels when ``add_ctr_clamp``.

    Returns:
        Boxes with the shape of ``deltas``: each group of 4 is ``(x1, y1, x2, y2)``.
    """
    if deltas.dim() not in (2, 3) or deltas.size(-1) % 4 != 0:
        raise ValueError(f"deltas must be [N, 4*C] or [B, N, 4*C], got {tuple(deltas.shape)}")
    if rois.shape[:-1] != deltas.shape[:-1] or rois.size(-1) != 4:
        raise ValueError(
            f"rois {tuple(rois.shape)} must be deltas' leading shape "
            f"{tuple(deltas.shape[:-1])} + (4,)"
        )
    if deltas.numel() == 0:
        return deltas.clone()
    num_classes = deltas.size(-1) // 4
    grouped = deltas.reshape(*deltas.shape[:-1], num_classes, 4)
    denorm = grouped * deltas.new_tensor(stds) + deltas.new_tensor(means)
    dxy, dwh = denorm[..., :2], denorm[..., 2:]
    rois_ = rois[..., None, :]
    pxy = (rois_[..., :2] + rois_[..., 2:]) * 0.5
    pwh = rois_[..., 2:] - rois_[..., :2]
    dxy_wh = pwh * dxy
    max_ratio = abs(math.log(wh_ratio_clip))
    if add_ctr_clamp:
        dxy_wh = torch.clamp(dxy_wh, min=-ctr_clamp, max=ctr_clamp)
        dwh = torch.clamp(dwh, max=max_ratio)
    else:
        dwh = dwh.clamp(min=-max_ratio, max=max_ratio)
    gxy = pxy + dxy_wh
    gwh = pwh * dwh.exp()
    x1y1 = gxy - gwh * 0.5
    x2y2 = gxy + gwh * 0.5
    if clip_border and max_shape is not None:
        max_xy = _max_xy(max_shape, x1y1)
        zero = x1y1.new_zeros(())
        x1y1 = torch.clamp(x1y1, min=zero, max=max_xy)
        x2y2 = torch.clamp(x2y2, min=zero, max=max_xy)
    return torch.cat([x1y1, x2y2], dim=-1).reshape(deltas.shape)


class DeltaXYWHBBoxCoder:
    """Encode boxes as normalised ``(dx, dy, dw, dh)`` deltas w.r.t. priors, and back.

    Args:
        target_means: Means of the deltas (subtracted when encoding).
        target_stds: Standard deviations of the deltas (divided when encoding).
        clip_border: Whether decoded boxes are clipped to the image (when a
            ``max_shape`` is given to :meth:`decode`).
        add_ctr_clamp: Clamp the decoded centre shift (YOLOF).
        ctr_clamp: Largest centre shift in pixels when ``add_ctr_clamp``.
    """

    encode_size = 4

    def __init__(
        self,
        *,
        target_means: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
        target_stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
        clip_border: bool = True,
        add_ctr_clamp: bool = False,
        ctr_clamp: float = 32,
    ) -> None:
        if len(target_means) != 4 or len(target_stds) != 4:
            raise ValueError(
                "target_means and target_stds need 4 values, got "
                f"{list(target_means)} and {list(target_stds)}"
            )
        self.means = tuple(float(m) for m in target_means)
        self.stds = tuple(float(s) for s in target_stds)
        self.clip_border = clip_border
        self.add_ctr_clamp = add_ctr_clamp
        self.ctr_clamp = ctr_clamp

    def encode(self, bboxes: torch.Tensor, gt_bboxes: torch.Tensor) -> torch.Tensor:
        """Deltas ``FloatTensor[N, 4]`` moving ``bboxes`` onto ``gt_bboxes`` (both ``[N, 4]``)."""
        if bboxes.size(0) != gt_bboxes.size(0) or bboxes.size(-1) != 4 or gt_bboxes.size(-1) != 4:
            raise ValueError(
                f"bboxes {tuple(bboxes.shape)} and gt_bboxes {tuple(gt_bboxes.shape)} "
                "must both be [N, 4]"
            )
        return bbox2delta(bboxes, gt_bboxes, self.means, self.stds)

    def decode(
        self,
        bboxes: torch.Tensor,
        pred_bboxes: torch.Tensor,
        max_shape: MaxShape | None = None,
        wh_ratio_clip: float = DEFAULT_WH_RATIO_CLIP,
    ) -> torch.Tensor:
        """Boxes from priors and predicted deltas.

        Args:
            bboxes: Priors, ``Tensor[N, 4]`` or batched ``Tensor[B, N, 4]``.
            pred_bboxes: Deltas, ``Tensor[N, K]`` or ``Tensor[B, N, K]`` (K = 4 or 4 * C).
            max_shape: ``(H, W[, C])`` to clip to; for batched input also one per image.
            wh_ratio_clip: Bound on ``|dw|`` and ``|dh|`` is ``|log(wh_ratio_clip)|``.

        Returns:
            Boxes with the shape of ``pred_bboxes``.
        """
        return delta2bbox(
            bboxes,
            pred_bboxes,
            self.means,
            self.stds,
            max_shape=max_shape,
            wh_ratio_clip=wh_ratio_clip,
            clip_border=self.clip_border,
            add_ctr_clamp=self.add_ctr_clamp,
            ctr_clamp=self.ctr_clamp,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(target_means={self.means}, target_stds={self.stds}, "
            f"clip_border={self.clip_border}, add_ctr_clamp={self.add_ctr_clamp}, "
            f"ctr_clamp={self.ctr_clamp})"
        )
