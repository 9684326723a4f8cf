"""``DetDataPreprocessor``: turn a list of images into one normalised, padded batch.

Shapes: images are ``Tensor[C, H, W]`` (any dtype, usually uint8 BGR from the loader) or
one ``Tensor[B, C, H, W]``; the output is ``Tensor[B, C, Hp, Wp]`` float32 where
``Hp, Wp`` are the largest height/width rounded up to ``pad_size_divisor``. Padding goes
to the right and bottom, after normalisation, so ``pad_value`` is a normalised value.

Per-image metas (mmdet metainfo dicts) are returned as copies with two keys added, the
same as mmdet's:

* ``batch_input_shape``: ``(Hp, Wp)`` of the whole batch;
* ``pad_shape``: the image's OWN size rounded up to ``pad_size_divisor`` (not the batch
  size). mmdet's anchor valid flags use it, so it is kept as mmdet computes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _round_up(size: int, divisor: int) -> int:
    return int(math.ceil(size / divisor)) * divisor


class DetDataPreprocessor(nn.Module):
    """Normalise, convert channel order and pad images into a batch (mmdet semantics).

    Args:
        mean: Per-channel mean (1 or 3 values), subtracted after channel conversion.
            ``None`` (with ``std=None``) skips normalisation.
        std: Per-channel standard deviation (1 or 3 values).
        pad_size_divisor: Padded height and width are multiples of this.
        pad_value: Value written into the padding (in normalised units).
        bgr_to_rgb: Reverse the channel order of 3-channel inputs (BGR -> RGB).
        rgb_to_bgr: Reverse the channel order (RGB -> BGR); exclusive with ``bgr_to_rgb``.
        pad_mask: Pad ground-truth masks to the batch's size in training
            (:meth:`pad_gt_masks`, mmdet's ``pad_mask``).
        mask_pad_value: Value of the padded mask pixels.
        batch_augments: Augmentations of the whole batch on its device, applied in
            training by :meth:`augment` (mmdet's ``batch_augments``; see
            :mod:`visdet.data.batch_augments`).
    """

    def __init__(
        self,
        *,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        pad_size_divisor: int = 1,
        pad_value: float = 0,
        bgr_to_rgb: bool = False,
        rgb_to_bgr: bool = False,
        pad_mask: bool = False,
        mask_pad_value: int = 0,
        batch_augments: Sequence[nn.Module] | None = None,
    ) -> None:
        super().__init__()
        if bgr_to_rgb and rgb_to_bgr:
            raise ValueError("bgr_to_rgb and rgb_to_bgr cannot both be True")
        if (mean is None) != (std is None):
            raise ValueError(f"mean and std must both be given or both be None, got mean={mean}, std={std}")
        if pad_size_divisor < 1:
            raise ValueError(f"pad_size_divisor must be >= 1, got {pad_size_divisor}")
        self.normalize = mean is not None
        if mean is not None and std is not None:
            if len(mean) not in (1, 3) or len(std) not in (1, 3):
                raise ValueError(f"mean and std need 1 or 3 values, got {len(mean)} and {len(std)}")
            # non-persistent, as in mmengine: the buffers never appear in a state_dict. Their
            # dtype is torch's default float dtype, as mmengine's (float32 unless changed);
            # `image.float()` below is mmengine's too, so a float64 default or `.double()`
            # normalises the float32 pixels in float64, as mmengine does.
            self.register_buffer("mean", torch.tensor([float(v) for v in mean]).view(-1, 1, 1), False)
            self.register_buffer("std", torch.tensor([float(v) for v in std]).view(-1, 1, 1), False)
        self.pad_size_divisor = pad_size_divisor
        self.pad_value = pad_value
        self.channel_conversion = bgr_to_rgb or rgb_to_bgr
        self.pad_mask = pad_mask
        self.mask_pad_value = mask_pad_value
        self.rgb_output = bgr_to_rgb  # loaders give BGR (cv2): the batch is RGB only after conversion
        self.batch_augments = nn.ModuleList(batch_augments) if batch_augments else None

    def augment(
        self, inputs: Tensor, metas: list[dict[str, Any]], gt_instances: list[Any]
    ) -> tuple[Tensor, list[dict[str, Any]], list[Any]]:
        """Apply ``batch_augments`` in training (unchanged otherwise, or without any).

        Called by the training step after :meth:`forward` and before :meth:`pad_gt_masks`,
        so masks still have each image's ``img_shape``.
        """
        if not self.training or not self.batch_augments:
            return inputs, metas, gt_instances
        mean, std = (self.mean, self.std) if self.normalize else (None, None)
        for augment in self.batch_augments:
            inputs, metas, gt_instances = augment(inputs, metas, gt_instances, mean=mean, std=std, rgb=self.rgb_output)
        return inputs, metas, gt_instances

    def pad_gt_masks(self, gt_instances: Sequence[Any], metas: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Ground truth with its ``masks`` padded (bottom, right) to ``batch_input_shape``.

        mmdet pads the masks of the data samples when ``pad_mask`` is set and it is
        training; visdet's ``forward`` sees only images, so the training step calls this
        with the metas ``forward`` returned. Instances without masks, or with
        ``pad_mask=False``, are returned as they are.
        """
        if not self.pad_mask:
            return list(gt_instances)
        out = []
        for gt, meta in zip(gt_instances, metas):
            masks = gt.get("masks") if hasattr(gt, "get") else None
            if masks is None:
                out.append(gt)
                continue
            height, width = meta["batch_input_shape"]
            if isinstance(masks, Tensor):
                padded = F.pad(masks, (0, width - masks.shape[-1], 0, height - masks.shape[-2]),
                               value=self.mask_pad_value)  # fmt: skip
            else:  # BitmapMasks / PolygonMasks
                padded = masks.pad((height, width), pad_val=self.mask_pad_value)
            fields = dict(gt.items())
            fields["masks"] = padded
            out.append(type(gt)(**fields))
        return out

    def _convert(self, image: Tensor, channel_dim: int) -> Tensor:
        """Channel flip, float conversion and normalisation of one image or a batch."""
        if self.channel_conversion:
            if image.shape[channel_dim] != 3:
                raise ValueError(f"bgr_to_rgb/rgb_to_bgr needs 3 channels, got an input of shape {tuple(image.shape)}")
            image = image.flip(channel_dim)
        image = image.float()
        if self.normalize:
            if self.mean.shape[0] == 3 and image.shape[channel_dim] != 3:
                raise ValueError(f"mean has 3 values, so images need 3 channels; got shape {tuple(image.shape)}")
            image = (image - self.mean) / self.std
        return image

    def forward(
        self,
        inputs: Tensor | Sequence[Tensor],
        metas: Sequence[Mapping[str, Any]] | None = None,
    ) -> tuple[Tensor, list[dict[str, Any]] | None]:
        """Build the batch.

        Args:
            inputs: A list of ``Tensor[C, H_i, W_i]`` or one ``Tensor[B, C, H, W]``.
            metas: Optional per-image meta dicts (one per image).

        Returns:
            ``(batch, metas)``: ``Tensor[B, C, Hp, Wp]`` float32, and copies of ``metas``
            with ``batch_input_shape`` and ``pad_shape`` added (``None`` if none given).
        """
        divisor = self.pad_size_divisor
        if isinstance(inputs, Tensor):
            if inputs.dim() != 4:
                raise ValueError(f"inputs tensor must be (B, C, H, W), got shape {tuple(inputs.shape)}")
            batch = self._convert(inputs, channel_dim=1)
            height, width = batch.shape[-2:]
            pad_h, pad_w = _round_up(height, divisor), _round_up(width, divisor)
            batch = F.pad(batch, (0, pad_w - width, 0, pad_h - height), "constant", self.pad_value)
            pad_shapes = [(pad_h, pad_w)] * batch.shape[0]
        else:
            images = list(inputs)
            if not images:
                raise ValueError("inputs is an empty list")
            for i, image in enumerate(images):
                if not isinstance(image, Tensor) or image.dim() != 3:
                    shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
                    raise ValueError(f"inputs[{i}] must be a (C, H, W) tensor, got {shape}")
            if len({image.shape[0] for image in images}) != 1:
                raise ValueError(f"images differ in channels: {[tuple(im.shape) for im in images]}")
            converted = [self._convert(image, channel_dim=0) for image in images]
            batch_h = _round_up(max(im.shape[1] for im in converted), divisor)
            batch_w = _round_up(max(im.shape[2] for im in converted), divisor)
            batch = torch.stack(
                [
                    F.pad(im, (0, batch_w - im.shape[2], 0, batch_h - im.shape[1]), value=self.pad_value)
                    for im in converted
                ]
            )
            pad_shapes = [(_round_up(im.shape[1], divisor), _round_up(im.shape[2], divisor)) for im in images]
        if metas is None:
            return batch, None
        if len(metas) != batch.shape[0]:
            raise ValueError(f"got {len(metas)} metas for {batch.shape[0]} images")
        batch_input_shape = (int(batch.shape[2]), int(batch.shape[3]))
        out_metas = []
        for meta, pad_shape in zip(metas, pad_shapes):
            meta = dict(meta)
            meta["batch_input_shape"] = batch_input_shape
            meta["pad_shape"] = pad_shape
            out_metas.append(meta)
        return batch, out_metas
