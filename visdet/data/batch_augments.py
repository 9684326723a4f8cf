"""Batch augmentations on the model's device: mmdet's ``batch_augments`` slot of the data preprocessor.

Each augmentation is an ``nn.Module`` called as
``augment(inputs, metas, gt_instances, mean=..., std=..., rgb=...)`` on the
preprocessed batch ``Tensor[B, C, Hp, Wp]`` (normalised, padded bottom/right), the
per-image metas (``img_shape = (h_i, w_i)`` is each image's valid region) and the
ground truth (``Instances`` with ``bboxes`` ``Tensor[N_i, 4]`` xyxy absolute, labels,
optional ``masks``), and returns the three transformed. Images keep their ``img_shape``
and the batch keeps its shape, so nothing downstream changes.

Geometry follows the CPU pipeline's conventions, not Kornia's: Kornia transforms boxes as
pixel indices (a horizontal flip maps ``x`` to ``w - 1 - x``, a crop maps the corner
pixels' centres onto each other), while mmdet's boxes are continuous coordinates (``x``
to ``w - x``; a crop-and-resize scales by ``out / crop``). A one-pixel disagreement with
the CPU ``RandomFlip`` is not acceptable, so flip and crop are batched index / sampling
operations here, computing boxes exactly as :class:`~visdet.data.transforms.RandomFlip`,
:class:`~visdet.data.transforms.RandomCrop` + :class:`~visdet.data.transforms.Resize` do
(the same functions), per image inside its ``img_shape``. Kornia
(``pip install visdet[augment]``) does the photometric part (:class:`BatchColorJitter`).

Random parameters are drawn from torch's global CPU generator (a few numbers per image),
so a seeded run augments identically on any device.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from visdet.data.transforms.crop import boxes_inside
from visdet.data.transforms.flip import flip_boxes
from visdet.data.transforms.image_geometry import is_mask_structure
from visdet.data.transforms.resize import clip_boxes_
from visdet.structures.instances import Instances

Batch = tuple[Tensor, list[dict[str, Any]], list[Instances]]


def _valid_region(metas: Sequence[Mapping[str, Any]], shape: torch.Size, device: torch.device) -> Tensor:
    """``Tensor[B, 1, Hp, Wp]`` bool: inside each image's ``img_shape``."""
    heights = torch.tensor([int(m["img_shape"][0]) for m in metas], device=device)
    widths = torch.tensor([int(m["img_shape"][1]) for m in metas], device=device)
    rows = torch.arange(shape[-2], device=device).view(1, -1, 1) < heights.view(-1, 1, 1)
    cols = torch.arange(shape[-1], device=device).view(1, 1, -1) < widths.view(-1, 1, 1)
    return (rows & cols).unsqueeze(1)


def _check_masks(gt: Instances, img_shape: tuple[int, int]) -> None:
    masks = gt.get("masks")
    if masks is None:
        return
    if not is_mask_structure(masks):
        raise TypeError(f"batch augments transform BitmapMasks / PolygonMasks, got {type(masks).__name__}")
    if (masks.height, masks.width) != tuple(img_shape):
        raise ValueError(f"masks of size {(masks.height, masks.width)} for an image of img_shape {tuple(img_shape)}: "
                         "run batch augments before the masks are padded")  # fmt: skip


class BatchRandomFlip(nn.Module):
    """Flip each image horizontally inside its ``img_shape`` with probability ``prob``.

    Boxes and masks flip as :class:`~visdet.data.transforms.RandomFlip` flips them
    (``x1' = w - x2``), so the result equals the CPU transform's exactly.
    """

    def __init__(self, *, prob: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        self.prob = prob

    def forward(self, inputs: Tensor, metas: list[dict[str, Any]], gt: list[Instances], **_: Any) -> Batch:
        """Flip the drawn images (see the class docstring)."""
        flip = (torch.rand(len(metas)) < self.prob).tolist()
        return self.apply(inputs, metas, gt, flip=flip)

    @staticmethod
    def apply(inputs: Tensor, metas: list[dict[str, Any]], gt: list[Instances], *, flip: Sequence[bool]) -> Batch:
        """Flip the images ``i`` with ``flip[i]`` (the deterministic part)."""
        if not any(flip):
            return inputs, metas, gt
        device, width = inputs.device, inputs.shape[-1]
        cols = torch.arange(width, device=device)
        widths = torch.tensor([int(m["img_shape"][1]) if f else 0 for m, f in zip(metas, flip)], device=device)
        source = torch.where(cols < widths.view(-1, 1), widths.view(-1, 1) - 1 - cols, cols)  # [B, Wp]
        out = inputs.gather(3, source.view(len(metas), 1, 1, width).expand_as(inputs))
        out = torch.where(_valid_region(metas, inputs.shape, device), out, inputs)  # padding rows stay
        new_gt = []
        for instances, meta, flipped in zip(gt, metas, flip):
            if flipped:
                img_shape = tuple(meta["img_shape"][:2])
                _check_masks(instances, img_shape)
                fields = dict(instances.items())
                fields["bboxes"] = flip_boxes(instances.bboxes, img_shape, "horizontal")
                if fields.get("masks") is not None:
                    fields["masks"] = fields["masks"].flip("horizontal")
                instances = Instances(**fields)
            new_gt.append(instances)
        return out, metas, new_gt


class BatchRandomResizedCrop(nn.Module):
    """Crop a random window of each image and resize it back to the image's size (scale jitter).

    The window covers a fraction of the image's area drawn from ``scale`` with an aspect
    ratio drawn log-uniformly from ``ratio`` (integer sides, clipped to the image), at a
    uniformly drawn integer offset. Boxes follow the CPU ``RandomCrop`` (shift, clip,
    drop boxes outside the window) then ``Resize(keep_ratio=False)`` (scale by
    ``size / window``, clip); an image whose boxes would all be dropped is left uncropped,
    as the CPU ``RandomCrop(allow_negative_crop=False)`` refuses such a crop. The image is
    resampled bilinearly with half-pixel centres and edge replication (cv2's ``resize``).

    Args:
        scale: ``(min, max)`` fraction of the image area the window covers.
        ratio: ``(min, max)`` aspect ratio (w / h) of the window.
        prob: Probability that an image is cropped.
    """

    def __init__(
        self,
        *,
        scale: Sequence[float] = (0.5, 1.0),
        ratio: Sequence[float] = (3 / 4, 4 / 3),
        prob: float = 1.0,
    ) -> None:
        super().__init__()
        if not (0 < scale[0] <= scale[1] <= 1):
            raise ValueError(f"scale must be 0 < min <= max <= 1, got {tuple(scale)}")
        if not (0 < ratio[0] <= ratio[1]):
            raise ValueError(f"ratio must be 0 < min <= max, got {tuple(ratio)}")
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        self.scale, self.ratio, self.prob = tuple(scale), tuple(ratio), prob

    def sample(self, metas: Sequence[Mapping[str, Any]]) -> list[tuple[int, int, int, int] | None]:
        """One ``(x, y, w, h)`` window per image (``None``: not cropped)."""
        n = len(metas)
        draws = torch.rand(n, 5)  # prob, area, log-ratio, x offset, y offset
        windows: list[tuple[int, int, int, int] | None] = []
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for meta, (p, area, log_r, fx, fy) in zip(metas, draws.tolist()):
            if p >= self.prob:
                windows.append(None)
                continue
            h, w = int(meta["img_shape"][0]), int(meta["img_shape"][1])
            target = h * w * (self.scale[0] + area * (self.scale[1] - self.scale[0]))
            aspect = math.exp(log_lo + log_r * (log_hi - log_lo))
            crop_w = min(max(int(round(math.sqrt(target * aspect))), 1), w)
            crop_h = min(max(int(round(math.sqrt(target / aspect))), 1), h)
            x = min(int(fx * (w - crop_w + 1)), w - crop_w)
            y = min(int(fy * (h - crop_h + 1)), h - crop_h)
            windows.append((x, y, crop_w, crop_h))
        return windows

    def forward(self, inputs: Tensor, metas: list[dict[str, Any]], gt: list[Instances], **_: Any) -> Batch:
        """Crop and resize the drawn images (see the class docstring)."""
        return self.apply(inputs, metas, gt, windows=self.sample(metas))

    @staticmethod
    def apply(
        inputs: Tensor,
        metas: list[dict[str, Any]],
        gt: list[Instances],
        *,
        windows: Sequence[tuple[int, int, int, int] | None],
    ) -> Batch:
        """Crop ``windows[i] = (x, y, w, h)`` of image ``i`` and resize it to its ``img_shape``."""
        new_gt, kept_windows = [], []
        for instances, meta, window in zip(gt, metas, windows):
            img_shape = tuple(meta["img_shape"][:2])
            cropped = None if window is None else _crop_resize_instances(instances, img_shape, window)
            kept_windows.append(window if cropped is not None else None)
            new_gt.append(instances if cropped is None else cropped)
        if all(window is None for window in kept_windows):
            return inputs, metas, new_gt
        return _crop_resize_images(inputs, metas, kept_windows), metas, new_gt


def _crop_resize_instances(
    instances: Instances, img_shape: tuple[int, int], window: tuple[int, int, int, int]
) -> Instances | None:
    """The CPU ``RandomCrop`` then ``Resize(keep_ratio=False)`` on the ground truth; ``None``: no box survives."""
    x, y, crop_w, crop_h = window
    boxes = instances.bboxes - torch.tensor([x, y, x, y], dtype=instances.bboxes.dtype, device=instances.bboxes.device)
    clip_boxes_(boxes, (crop_h, crop_w))
    valid = boxes_inside(boxes, (crop_h, crop_w))
    if len(instances) and not bool(valid.any()):
        return None
    fields = dict(instances[valid].items())
    height, width = img_shape
    factor = torch.tensor([width / crop_w, height / crop_h], dtype=boxes.dtype, device=boxes.device).repeat(2)
    boxes = boxes[valid] * factor
    clip_boxes_(boxes, img_shape)
    fields["bboxes"] = boxes
    masks = fields.get("masks")
    if masks is not None:
        _check_masks(instances, img_shape)
        fields["masks"] = masks.crop(np.asarray([x, y, x + crop_w, y + crop_h])).resize(img_shape)
    return Instances(**fields)


def _crop_resize_images(inputs: Tensor, metas: Sequence[Mapping[str, Any]], windows: Sequence[Any]) -> Tensor:
    """Bilinear crop-and-resize of every image with a window, in one ``grid_sample``."""
    n, _, height, width = inputs.shape
    device, dtype = inputs.device, inputs.dtype
    params = []  # x, y, w, h of the window and the image's own h, w
    for meta, window in zip(metas, windows):
        h, w = int(meta["img_shape"][0]), int(meta["img_shape"][1])
        params.append([*(window if window is not None else (0, 0, w, h)), h, w])
    x0, y0, cw, ch, ih, iw = torch.tensor(params, dtype=torch.float64, device=device).unbind(1)
    cols = torch.arange(width, dtype=torch.float64, device=device)
    rows = torch.arange(height, dtype=torch.float64, device=device)
    # half-pixel centres: source index = x0 + (u + 0.5) * cw / iw - 0.5, clamped inside the window (edge replicate)
    src_x = x0.view(-1, 1) + (cols + 0.5) * (cw / iw).view(-1, 1) - 0.5
    src_y = y0.view(-1, 1) + (rows + 0.5) * (ch / ih).view(-1, 1) - 0.5
    src_x = torch.minimum(torch.maximum(src_x, x0.view(-1, 1)), (x0 + cw - 1).view(-1, 1))
    src_y = torch.minimum(torch.maximum(src_y, y0.view(-1, 1)), (y0 + ch - 1).view(-1, 1))
    grid_x = (2 * src_x + 1) / width - 1  # grid_sample, align_corners=False: -1 and 1 are the outer edges
    grid_y = (2 * src_y + 1) / height - 1
    grid = torch.stack([grid_x.view(n, 1, width).expand(n, height, width),
                        grid_y.view(n, height, 1).expand(n, height, width)], dim=-1).to(dtype)  # fmt: skip
    sampled = F.grid_sample(inputs, grid, mode="bilinear", padding_mode="border", align_corners=False)
    keep = torch.tensor([w is not None for w in windows], device=device).view(n, 1, 1, 1)
    return torch.where(keep & _valid_region(metas, inputs.shape, device), sampled, inputs)


class BatchColorJitter(nn.Module):
    """Kornia's ``ColorJitter`` (brightness, contrast, saturation, hue) inside each image's ``img_shape``.

    The batch is un-normalised with the preprocessor's ``mean``/``std`` to ``[0, 1]`` RGB,
    jittered, and normalised again; padding keeps its value. Needs ``kornia``
    (``pip install visdet[augment]``).

    Args:
        brightness, contrast, saturation, hue: Kornia's ranges (a factor or ``(min, max)``).
        prob: Probability that an image is jittered.
    """

    def __init__(
        self,
        *,
        brightness: float | Sequence[float] = 0.0,
        contrast: float | Sequence[float] = 0.0,
        saturation: float | Sequence[float] = 0.0,
        hue: float | Sequence[float] = 0.0,
        prob: float = 1.0,
    ) -> None:
        super().__init__()
        try:
            import kornia.augmentation as K
        except ImportError as err:
            raise ImportError("BatchColorJitter needs kornia: pip install 'visdet[augment]'") from err

        def _range(value: float | Sequence[float]) -> Any:
            return tuple(value) if isinstance(value, Sequence) else value

        self.jitter = K.ColorJitter(brightness=_range(brightness), contrast=_range(contrast),
                                    saturation=_range(saturation), hue=_range(hue), p=prob)  # fmt: skip

    def forward(
        self,
        inputs: Tensor,
        metas: list[dict[str, Any]],
        gt: list[Instances],
        *,
        mean: Tensor | None = None,
        std: Tensor | None = None,
        rgb: bool = True,
        **_: Any,
    ) -> Batch:
        """Jitter the colours; boxes and masks are unchanged."""
        if inputs.shape[1] != 3:
            raise ValueError(f"BatchColorJitter needs 3-channel images, got {tuple(inputs.shape)}")
        pixels = inputs if mean is None else inputs * std.to(inputs) + mean.to(inputs)
        unit = (pixels / 255.0).clamp(0, 1)
        if not rgb:
            unit = unit.flip(1)
        jittered = self.jitter(unit)
        if not rgb:
            jittered = jittered.flip(1)
        out = jittered * 255.0
        if mean is not None:
            out = (out - mean.to(inputs)) / std.to(inputs)
        return torch.where(_valid_region(metas, inputs.shape, inputs.device), out, inputs), metas, gt
