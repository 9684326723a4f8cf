"""Paste RoI mask probabilities into the image: mmdet's ``_do_paste_mask`` and its chunking.

Shapes: N detections with ``mask_probs [N, 1, mh, mw]`` (sigmoid of the head's logits) and
boxes ``[N, 4]`` xyxy in the output image; result ``[N, H, W]``, bool after
``mask_thr_binary >= 0``, uint8 (probability x 255, truncated) when the threshold is negative.

Each output pixel centre ``(x + 0.5, y + 0.5)`` is mapped into its box's ``[-1, 1]``
square and read from the RoI mask with ``grid_sample`` (bilinear, zeros outside,
``align_corners=False``), in float32 as mmdet computes it. On CPU every detection is pasted
alone, only over the pixels around its box (``skip_empty``), as mmdet does; on other
devices the detections are pasted in chunks over the whole image, each chunk holding at
most ``GPU_MEM_LIMIT`` bytes of float32.

mmdet computes the pixel grid as ``float32 pixel - box``; with float64 boxes that grid
becomes float64 and ``grid_sample`` then refuses the float32 masks. visdet rounds the boxes
to float32 first, which is mmdet's arithmetic for the float32 models mmdet runs and lets a
float64 model paste too.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

BYTES_PER_FLOAT = 4
# mmdet's memory limit of one pasted chunk on a GPU
GPU_MEM_LIMIT = 1024**3


def paste_masks_chunk(
    masks: Tensor, boxes: Tensor, img_h: int, img_w: int, skip_empty: bool = True
) -> tuple[Tensor, tuple[slice, ...]]:
    """Mmdet's ``_do_paste_mask``: masks ``[n, 1, mh, mw]`` on boxes ``[n, 4]``.

    Args:
        masks: Mask probabilities.
        boxes: Boxes in image pixels.
        img_h: Image height.
        img_w: Image width.
        skip_empty: Paste only over the box region ``[floor(min) - 1, ceil(max) + 1]``
            clipped to the image, and return that region's slices.

    Returns:
        ``(pasted [n, h', w'] float32, (row slice, column slice))``; with
        ``skip_empty=False`` the whole image and ``()``.
    """
    device = masks.device
    boxes = boxes.to(torch.float32)
    if skip_empty:
        x0_int, y0_int = torch.clamp(boxes.min(dim=0).values.floor()[:2] - 1, min=0).to(dtype=torch.int32)
        x1_int = torch.clamp(boxes[:, 2].max().ceil() + 1, max=img_w).to(dtype=torch.int32)
        y1_int = torch.clamp(boxes[:, 3].max().ceil() + 1, max=img_h).to(dtype=torch.int32)
    else:
        x0_int, y0_int, x1_int, y1_int = 0, 0, img_w, img_h
    x0, y0, x1, y1 = torch.split(boxes, 1, dim=1)  # each [n, 1]
    num = masks.shape[0]
    img_y = torch.arange(y0_int, y1_int, device=device).to(torch.float32) + 0.5
    img_x = torch.arange(x0_int, x1_int, device=device).to(torch.float32) + 0.5
    img_y = (img_y - y0) / (y1 - y0) * 2 - 1
    img_x = (img_x - x0) / (x1 - x0) * 2 - 1
    # a zero-width (or -height) box divides by zero; mmdet maps the infinities to 0
    img_x = torch.where(torch.isinf(img_x), torch.zeros_like(img_x), img_x)
    img_y = torch.where(torch.isinf(img_y), torch.zeros_like(img_y), img_y)
    gx = img_x[:, None, :].expand(num, img_y.size(1), img_x.size(1))
    gy = img_y[:, :, None].expand(num, img_y.size(1), img_x.size(1))
    grid = torch.stack([gx, gy], dim=3)
    pasted = F.grid_sample(masks.to(dtype=torch.float32), grid, align_corners=False)
    if skip_empty:
        return pasted[:, 0], (slice(int(y0_int), int(y1_int)), slice(int(x0_int), int(x1_int)))
    return pasted[:, 0], ()


def paste_masks_in_image(mask_probs: Tensor, boxes: Tensor, img_h: int, img_w: int, mask_thr_binary: float) -> Tensor:
    """Paste every detection's mask into an ``img_h x img_w`` image.

    Args:
        mask_probs: ``[N, 1, mh, mw]`` probabilities of each detection's class.
        boxes: ``[N, 4]`` boxes in the image's pixels.
        img_h: Image height.
        img_w: Image width.
        mask_thr_binary: Threshold (``>=``) for bool masks; negative: uint8 x 255.

    Returns:
        ``[N, img_h, img_w]`` bool (or uint8).
    """
    device = mask_probs.device
    num = len(mask_probs)
    if device.type == "cpu":
        num_chunks = num  # one by one with skip_empty: the fewest operations on a CPU
    else:
        num_chunks = int(math.ceil(num * int(img_h) * int(img_w) * BYTES_PER_FLOAT / GPU_MEM_LIMIT))
        if num_chunks > num:
            raise ValueError(f"GPU_MEM_LIMIT is too small to paste {num} masks of {img_h}x{img_w}")
    binary = mask_thr_binary >= 0
    image_masks = torch.zeros(num, img_h, img_w, device=device, dtype=torch.bool if binary else torch.uint8)
    if num == 0:
        return image_masks
    for inds in torch.chunk(torch.arange(num, device=device), num_chunks):
        chunk, spatial = paste_masks_chunk(mask_probs[inds], boxes[inds], img_h, img_w, skip_empty=device.type == "cpu")
        chunk = (chunk >= mask_thr_binary).to(dtype=torch.bool) if binary else (chunk * 255).to(dtype=torch.uint8)
        image_masks[(inds, *spatial)] = chunk
    return image_masks
