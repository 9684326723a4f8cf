"""Mask targets of positive RoIs: each RoI's ground-truth mask cropped and resized.

Shapes: per image P positive RoIs ``[P, 4]`` xyxy, their assigned gt indices ``[P]`` and
the image's G gt masks (``BitmapMasks``/``PolygonMasks`` of the padded image); result
``Tensor[sum P, mh, mw]`` float32 with 0/1 values (fractions with ``soft``).

mmdet's ``mask_target``: the RoIs are clipped to the mask canvas, then the masks'
``crop_and_resize`` pools them (RoIAlign for bitmaps, rasterised moved polygons for
polygons). mmdet clips a NumPy view of the RoIs, which on CPU writes the clipped values
back into the sampling result's ``pos_priors``; nothing reads them afterwards, and visdet
clips a copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from visdet.structures import BitmapMasks, PolygonMasks

InstanceMasks = BitmapMasks | PolygonMasks


def as_instance_masks(masks: InstanceMasks | Tensor | np.ndarray) -> InstanceMasks:
    """Mask structures as they are; a ``[G, H, W]`` tensor or array as ``BitmapMasks``."""
    if isinstance(masks, (BitmapMasks, PolygonMasks)):
        return masks
    if isinstance(masks, Tensor):
        masks = masks.detach().cpu().numpy()
    if isinstance(masks, np.ndarray) and masks.ndim == 3:
        return BitmapMasks(masks, masks.shape[1], masks.shape[2])
    raise TypeError(
        "gt masks must be BitmapMasks, PolygonMasks or a (G, H, W) tensor/array, "
        f"got {type(masks).__name__}{getattr(masks, 'shape', '')}"
    )


def mask_size_pair(mask_size: int | Sequence[int]) -> tuple[int, int]:
    """``(mh, mw)`` from an int or a pair."""
    if isinstance(mask_size, int):
        return (mask_size, mask_size)
    if len(mask_size) != 2:
        raise ValueError(f"mask_size must be an int or (h, w), got {mask_size!r}")
    return (int(mask_size[0]), int(mask_size[1]))


def mask_target_single(
    pos_proposals: Tensor,
    pos_assigned_gt_inds: Tensor,
    gt_masks: InstanceMasks,
    mask_size: int | Sequence[int],
    soft: bool = False,
) -> Tensor:
    """Targets ``[P, mh, mw]`` (float32) of one image's positive RoIs."""
    size = mask_size_pair(mask_size)
    if pos_proposals.size(0) == 0:
        return pos_proposals.new_zeros((0, *size))
    gt_masks = as_instance_masks(gt_masks)
    proposals = pos_proposals.detach().cpu().numpy().copy()
    proposals[:, [0, 2]] = np.clip(proposals[:, [0, 2]], 0, gt_masks.width)
    proposals[:, [1, 3]] = np.clip(proposals[:, [1, 3]], 0, gt_masks.height)
    targets = gt_masks.crop_and_resize(
        proposals, size, inds=pos_assigned_gt_inds.cpu().numpy(), device=pos_proposals.device, binarize=not soft
    ).to_ndarray()
    return torch.from_numpy(np.asarray(targets)).float().to(pos_proposals.device)


def mask_target(
    pos_proposals_list: Sequence[Tensor],
    pos_assigned_gt_inds_list: Sequence[Tensor],
    gt_masks_list: Sequence[InstanceMasks],
    mask_size: int | Sequence[int],
    soft: bool = False,
) -> Tensor:
    """Targets of every image's positive RoIs, concatenated: ``Tensor[sum P, mh, mw]``.

    Args:
        pos_proposals_list: Per image ``[P_i, 4]`` positive RoIs.
        pos_assigned_gt_inds_list: Per image ``[P_i]`` 0-based gt index of each RoI.
        gt_masks_list: Per image gt masks.
        mask_size: Target size (mmdet's ``train_cfg.rcnn.mask_size``, 28).
        soft: Keep the pooled fractions (mmdet's ``soft_mask_target``).
    """
    if not (len(pos_proposals_list) == len(pos_assigned_gt_inds_list) == len(gt_masks_list)):
        raise ValueError(
            f"mask_target: {len(pos_proposals_list)} proposal sets, {len(pos_assigned_gt_inds_list)} index "
            f"sets and {len(gt_masks_list)} mask sets; need one of each per image"
        )
    parts = [
        mask_target_single(p, i, m, mask_size, soft)
        for p, i, m in zip(pos_proposals_list, pos_assigned_gt_inds_list, gt_masks_list)
    ]
    if not parts:
        raise ValueError("mask_target needs at least one image")
    return torch.cat(parts)
