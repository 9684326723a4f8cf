"""``MlvlPointGenerator``: the prior points of anchor-free heads (FCOS, RTMDet, ...).

Shape shorthand: L feature levels; a level of ``H x W`` cells has ``H * W`` points,
ordered row by row (x varies fastest). A point is the cell centre
``((j + offset) * stride_w, (i + offset) * stride_h)`` in input-image pixels; with
``with_stride`` each row also carries ``(stride_w, stride_h)``.

Numerics follow mmdet 3.3: the grid is built from ``torch.arange`` (int64) plus the
offset, so it is computed in torch's default dtype and then cast to ``dtype``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from visdet.models.task_modules.anchor_generator import _as_pair, grid_valid_flags, valid_feat_size

Device = torch.device | str


class MlvlPointGenerator:
    """Points at the cell centres of every feature level.

    Args:
        strides: Stride of each level, an int or ``(stride_w, stride_h)``.
        offset: Offset of the points inside a cell, in units of the stride (0.5: centre).

    Example:
        >>> MlvlPointGenerator(strides=[8]).grid_priors([(1, 2)])[0].tolist()
        [[4.0, 4.0], [12.0, 4.0]]
    """

    def __init__(self, strides: Sequence[int | Sequence[int]], offset: float = 0.5) -> None:
        self.strides = [_as_pair(stride, i) for i, stride in enumerate(strides)]
        self.offset = offset

    @property
    def num_levels(self) -> int:
        """Number of feature levels L."""
        return len(self.strides)

    @property
    def num_base_priors(self) -> list[int]:
        """One point per cell on every level."""
        return [1] * len(self.strides)

    @staticmethod
    def _meshgrid(x: torch.Tensor, y: torch.Tensor, row_major: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Flattened grid of ``y`` rows by ``x`` columns: ``(xx, yy)``, or ``(yy, xx)`` if not ``row_major``."""
        yy, xx = torch.meshgrid(y, x, indexing="ij")
        if row_major:
            return xx.reshape(-1), yy.reshape(-1)
        return yy.reshape(-1), xx.reshape(-1)

    def _check_levels(self, featmap_sizes: Sequence[tuple[int, int]]) -> None:
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(
                f"featmap_sizes has {len(featmap_sizes)} levels but the generator has {self.num_levels}"
            )

    def grid_priors(
        self,
        featmap_sizes: Sequence[tuple[int, int]],
        dtype: torch.dtype = torch.float32,
        device: Device = "cpu",
        with_stride: bool = False,
    ) -> list[torch.Tensor]:
        """Points of every level.

        Args:
            featmap_sizes: ``(H_l, W_l)`` of each level.
            dtype: Dtype of the points.
            device: Device of the points.
            with_stride: Append ``(stride_w, stride_h)`` to each point.

        Returns:
            One ``Tensor[H_l * W_l, 2]`` (``[H_l * W_l, 4]`` with strides) per level.
        """
        self._check_levels(featmap_sizes)
        return [
            self.single_level_grid_priors(featmap_sizes[i], level_idx=i, dtype=dtype, device=device,
                                          with_stride=with_stride)  # fmt: skip
            for i in range(self.num_levels)
        ]

    def single_level_grid_priors(
        self,
        featmap_size: tuple[int, int],
        level_idx: int,
        dtype: torch.dtype = torch.float32,
        device: Device = "cpu",
        with_stride: bool = False,
    ) -> torch.Tensor:
        """Points of one level, ``Tensor[H * W, 2]`` (``[H * W, 4]`` with strides)."""
        feat_h, feat_w = featmap_size
        stride_w, stride_h = self.strides[level_idx]
        shift_x = ((torch.arange(0, feat_w, device=device) + self.offset) * stride_w).to(dtype)
        shift_y = ((torch.arange(0, feat_h, device=device) + self.offset) * stride_h).to(dtype)
        shift_xx, shift_yy = self._meshgrid(shift_x, shift_y)
        if not with_stride:
            return torch.stack([shift_xx, shift_yy], dim=-1)
        strides_w = shift_xx.new_full((shift_xx.shape[0],), stride_w).to(dtype)
        strides_h = shift_xx.new_full((shift_yy.shape[0],), stride_h).to(dtype)
        return torch.stack([shift_xx, shift_yy, strides_w, strides_h], dim=-1)

    def valid_flags(
        self,
        featmap_sizes: Sequence[tuple[int, int]],
        pad_shape: Sequence[int],
        device: Device = "cpu",
    ) -> list[torch.Tensor]:
        """Whether each point's cell lies inside the padded image.

        Args:
            featmap_sizes: ``(H_l, W_l)`` of each level.
            pad_shape: Padded image shape ``(H, W, ...)``.
            device: Device of the flags.

        Returns:
            One ``BoolTensor[H_l * W_l]`` per level.
        """
        self._check_levels(featmap_sizes)
        return [
            grid_valid_flags(featmap_sizes[i], valid_feat_size(featmap_sizes[i], pad_shape, stride), device)
            for i, stride in enumerate(self.strides)
        ]

    def single_level_valid_flags(
        self, featmap_size: tuple[int, int], valid_size: tuple[int, int], device: Device = "cpu"
    ) -> torch.Tensor:
        """Flags of one level: cells in the top-left ``valid_size`` block are valid."""
        return grid_valid_flags(featmap_size, valid_size, device)

    def sparse_priors(
        self,
        prior_idxs: torch.Tensor,
        featmap_size: tuple[int, int],
        level_idx: int,
        dtype: torch.dtype = torch.float32,
        device: Device = "cpu",
    ) -> torch.Tensor:
        """Points ``[M, 2]`` at flat indices ``prior_idxs`` (``LongTensor[M]``) of one level."""
        height, width = featmap_size
        stride_w, stride_h = self.strides[level_idx]
        x = (prior_idxs % width + self.offset) * stride_w
        y = ((prior_idxs // width) % height + self.offset) * stride_h
        return torch.stack([x, y], 1).to(dtype).to(device)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(strides={self.strides}, offset={self.offset})"
