"""``AnchorGenerator``: the anchors of anchor-based detectors (RPN, RetinaNet, ...).

Shape shorthand: L feature levels; A base anchors per feature-map cell (ratios x scales);
a level of ``H x W`` cells has ``H * W * A`` anchors, ordered row by row over the cells
and, within a cell, in base-anchor order. Anchors are absolute ``(x1, y1, x2, y2)``.

Numerics follow mmdet 3.3's ``AnchorGenerator`` operation for operation (same order of
multiplications, fp32 base anchors), so the anchors are bit-identical.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

Device = torch.device | str


def _as_pair(stride: int | float | Sequence[int | float], index: int) -> tuple[float, float]:
    """``(stride_w, stride_h)`` from an int or a pair."""
    if isinstance(stride, (int, float)):
        return (stride, stride)
    if len(stride) != 2:
        raise ValueError(f"strides[{index}] must be an int or a (w, h) pair, got {stride!r}")
    return (stride[0], stride[1])


def valid_feat_size(
    featmap_size: Sequence[int], pad_shape: Sequence[int], stride: tuple[float, float]
) -> tuple[int, int]:
    """``(h, w)`` cells of a ``featmap_size`` level that cover the padded image (mmdet's ``ceil`` rule)."""
    feat_h, feat_w = featmap_size
    return min(int(math.ceil(pad_shape[0] / stride[1])), feat_h), min(int(math.ceil(pad_shape[1] / stride[0])), feat_w)


def grid_valid_flags(featmap_size: Sequence[int], valid_size: Sequence[int], device: Device = "cpu") -> torch.Tensor:
    """``BoolTensor[H * W]``, row by row: the cells in the top-left ``valid_size`` block are valid."""
    feat_h, feat_w = featmap_size
    valid_h, valid_w = valid_size
    if valid_h > feat_h or valid_w > feat_w:
        raise ValueError(f"valid_size {tuple(valid_size)} exceeds featmap_size {tuple(featmap_size)}")
    valid_x = torch.zeros(feat_w, dtype=torch.bool, device=device)
    valid_y = torch.zeros(feat_h, dtype=torch.bool, device=device)
    valid_x[:valid_w] = True
    valid_y[:valid_h] = True
    return valid_x.repeat(feat_h) & valid_y.view(-1, 1).repeat(1, feat_w).view(-1)


class AnchorGenerator:
    """Square-grid anchors of several aspect ratios and scales on every feature level.

    Args:
        strides: Stride of each level, an int or ``(stride_w, stride_h)``.
        ratios: Height / width ratios of the anchors of a cell.
        scales: Anchor scales of a cell. Give either ``scales`` or both
            ``octave_base_scale`` and ``scales_per_octave``.
        base_sizes: Base anchor size of each level; defaults to the smaller stride.
        scale_major: When True, base anchors are ordered ratio-major with scales varying
            fastest (mmdet's ordering); when False, scale-major.
        octave_base_scale: Base scale of the octave (RetinaNet style).
        scales_per_octave: Number of scales per octave: ``2 ** (i / scales_per_octave)``.
        centers: Per-level anchor centres relative to a cell's top-left corner.
        center_offset: Centre offset in units of the base size, in ``[0, 1]``; must be 0
            when ``centers`` is given.

    Example:
        >>> gen = AnchorGenerator(strides=[16], ratios=[1.0], scales=[1.0], base_sizes=[9])
        >>> gen.grid_priors([(1, 2)])[0].tolist()
        [[-4.5, -4.5, 4.5, 4.5], [11.5, -4.5, 20.5, 4.5]]
    """

    def __init__(
        self,
        *,
        strides: Sequence[int | Sequence[int]],
        ratios: Sequence[float],
        scales: Sequence[float] | None = None,
        base_sizes: Sequence[int | float] | None = None,
        scale_major: bool = True,
        octave_base_scale: float | None = None,
        scales_per_octave: int | None = None,
        centers: Sequence[tuple[float, float]] | None = None,
        center_offset: float = 0.0,
    ) -> None:
        if center_offset != 0 and centers is not None:
            raise ValueError(
                f"centers must be None when center_offset != 0, got centers={centers!r}"
            )
        if not 0 <= center_offset <= 1:
            raise ValueError(f"center_offset must be in [0, 1], got {center_offset}")
        if centers is not None and len(centers) != len(strides):
            raise ValueError(f"centers has {len(centers)} entries but strides has {len(strides)}")
        self.strides = [_as_pair(stride, i) for i, stride in enumerate(strides)]
        self.base_sizes = (
            [min(stride) for stride in self.strides] if base_sizes is None else list(base_sizes)
        )
        if len(self.base_sizes) != len(self.strides):
            raise ValueError(
                f"base_sizes has {len(self.base_sizes)} entries but strides has {len(self.strides)}"
            )
        octave_given = octave_base_scale is not None and scales_per_octave is not None
        if octave_given == (scales is not None):
            raise ValueError(
                "give either scales or both octave_base_scale and scales_per_octave, "
                f"got scales={scales!r}, octave_base_scale={octave_base_scale!r}, "
                f"scales_per_octave={scales_per_octave!r}"
            )
        # Scales and ratios take torch's default float dtype, as mmdet's ``torch.Tensor(...)``
        # does (float32 unless a float64 default is set); octave products in float64 first,
        # as mmdet computes them with numpy.
        default = torch.get_default_dtype()
        if scales is not None:
            self.scales = torch.tensor([float(s) for s in scales], dtype=default)
        else:
            octave_scales = [
                2 ** (i / scales_per_octave) * octave_base_scale for i in range(scales_per_octave)
            ]
            self.scales = torch.tensor(octave_scales, dtype=default)
        self.octave_base_scale = octave_base_scale
        self.scales_per_octave = scales_per_octave
        self.ratios = torch.tensor([float(r) for r in ratios], dtype=default)
        self.scale_major = scale_major
        self.centers = centers
        self.center_offset = center_offset
        self.base_anchors = self.gen_base_anchors()

    # ----------------------------------------------------------------- counts
    @property
    def num_levels(self) -> int:
        """Number of feature levels L."""
        return len(self.strides)

    @property
    def num_base_priors(self) -> list[int]:
        """Anchors per feature-map cell A, one entry per level."""
        return [anchors.size(0) for anchors in self.base_anchors]

    @property
    def num_base_anchors(self) -> list[int]:
        """Alias of :attr:`num_base_priors` (mmdet's older name)."""
        return self.num_base_priors

    # ----------------------------------------------------------- base anchors
    def gen_base_anchors(self) -> list[torch.Tensor]:
        """Base anchors of one cell on every level, ``Tensor[A, 4]`` each."""
        return [
            self.gen_single_level_base_anchors(
                base_size,
                scales=self.scales,
                ratios=self.ratios,
                center=None if self.centers is None else self.centers[i],
            )
            for i, base_size in enumerate(self.base_sizes)
        ]

    def gen_single_level_base_anchors(
        self,
        base_size: int | float,
        scales: torch.Tensor,
        ratios: torch.Tensor,
        center: tuple[float, float] | None = None,
    ) -> torch.Tensor:
        """Base anchors of one cell.

        Args:
            base_size: Side of the unit anchor.
            scales: ``Tensor[S]`` anchor scales.
            ratios: ``Tensor[R]`` height / width ratios.
            center: Anchor centre ``(x, y)``; default ``center_offset * base_size``.

        Returns:
            ``Tensor[R * S, 4]`` anchors centred on ``center``.
        """
        w = h = base_size
        if center is None:
            x_center, y_center = self.center_offset * w, self.center_offset * h
        else:
            x_center, y_center = center
        h_ratios = torch.sqrt(ratios)
        w_ratios = 1 / h_ratios
        # The multiplication order (size * ratio * scale) is mmdet's; fp32 rounding depends on it.
        if self.scale_major:
            ws = (w * w_ratios[:, None] * scales[None, :]).view(-1)
            hs = (h * h_ratios[:, None] * scales[None, :]).view(-1)
        else:
            ws = (w * scales[:, None] * w_ratios[None, :]).view(-1)
            hs = (h * scales[:, None] * h_ratios[None, :]).view(-1)
        corners = [
            x_center - 0.5 * ws,
            y_center - 0.5 * hs,
            x_center + 0.5 * ws,
            y_center + 0.5 * hs,
        ]
        return torch.stack(corners, dim=-1)

    # ------------------------------------------------------------ grid priors
    @staticmethod
    def _meshgrid(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flattened row-major grid: x varies fastest."""
        xx = x.repeat(y.shape[0])
        yy = y.view(-1, 1).repeat(1, x.shape[0]).view(-1)
        return xx, yy

    def _check_levels(self, featmap_sizes: Sequence[tuple[int, int]]) -> None:
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(
                f"featmap_sizes has {len(featmap_sizes)} levels but the generator has "
                f"{self.num_levels}"
            )

    def grid_priors(
        self,
        featmap_sizes: Sequence[tuple[int, int]],
        dtype: torch.dtype = torch.float32,
        device: Device = "cpu",
    ) -> list[torch.Tensor]:
        """Anchors of every level.

        Args:
            featmap_sizes: ``(H_l, W_l)`` of each level.
            dtype: Dtype of the anchors.
            device: Device of the anchors.

        Returns:
            One ``Tensor[H_l * W_l * A_l, 4]`` per level.
        """
        self._check_levels(featmap_sizes)
        return [
            self.single_level_grid_priors(featmap_sizes[i], level_idx=i, dtype=dtype, device=device)
            for i in range(self.num_levels)
        ]

    def single_level_grid_priors(
        self,
        featmap_size: tuple[int, int],
        level_idx: int,
        dtype: torch.dtype = torch.float32,
        device: Device = "cpu",
    ) -> torch.Tensor:
        """Anchors of one level, ``Tensor[H * W * A, 4]``; cell (0, 0)'s A anchors first."""
        base_anchors = self.base_anchors[level_idx].to(device).to(dtype)
        feat_h, feat_w = featmap_size
        stride_w, stride_h = self.strides[level_idx]
        shift_x = torch.arange(0, feat_w, device=device).to(dtype) * stride_w
        shift_y = torch.arange(0, feat_h, device=device).to(dtype) * stride_h
        shift_xx, shift_yy = self._meshgrid(shift_x, shift_y)
        shifts = torch.stack([shift_xx, shift_yy, shift_xx, shift_yy], dim=-1)
        return (base_anchors[None, :, :] + shifts[:, None, :]).view(-1, 4)

    def sparse_priors(
        self,
        prior_idxs: torch.Tensor,
        featmap_size: tuple[int, int],
        level_idx: int,
        dtype: torch.dtype = torch.float32,
        device: Device = "cpu",
    ) -> torch.Tensor:
        """Anchors ``[M, 4]`` at flat indices ``prior_idxs`` (``LongTensor[M]``) of one level."""
        height, width = featmap_size
        num_base = self.num_base_priors[level_idx]
        stride_w, stride_h = self.strides[level_idx]
        base_anchor_id = prior_idxs % num_base
        x = (prior_idxs // num_base) % width * stride_w
        y = (prior_idxs // width // num_base) % height * stride_h
        shifts = torch.stack([x, y, x, y], 1).to(dtype).to(device)
        return shifts + self.base_anchors[level_idx][base_anchor_id, :].to(device)

    # ------------------------------------------------------------ valid flags
    def valid_flags(
        self,
        featmap_sizes: Sequence[tuple[int, int]],
        pad_shape: Sequence[int],
        device: Device = "cpu",
    ) -> list[torch.Tensor]:
        """Whether each anchor's cell lies inside the padded image.

        Args:
            featmap_sizes: ``(H_l, W_l)`` of each level.
            pad_shape: Padded image shape ``(H, W, ...)``.
            device: Device of the flags.

        Returns:
            One ``BoolTensor[H_l * W_l * A_l]`` per level.
        """
        self._check_levels(featmap_sizes)
        return [
            self.single_level_valid_flags(featmap_sizes[i], valid_feat_size(featmap_sizes[i], pad_shape, stride),
                                          self.num_base_priors[i], device=device)  # fmt: skip
            for i, stride in enumerate(self.strides)
        ]

    def single_level_valid_flags(
        self,
        featmap_size: tuple[int, int],
        valid_size: tuple[int, int],
        num_base_anchors: int,
        device: Device = "cpu",
    ) -> torch.Tensor:
        """Flags of one level: cells in the top-left ``valid_size`` block are valid."""
        valid = grid_valid_flags(featmap_size, valid_size, device)
        return valid[:, None].expand(valid.size(0), num_base_anchors).contiguous().view(-1)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(strides={self.strides}, ratios={self.ratios.tolist()}, "
            f"scales={self.scales.tolist()}, base_sizes={self.base_sizes}, "
            f"scale_major={self.scale_major}, center_offset={self.center_offset})"
        )
