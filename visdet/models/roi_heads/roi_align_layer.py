"""``RoIAlign`` as a module: a thin, stateless wrapper around ``visdet.ops.roi_align``.

Shapes: features ``Tensor[B, C, H, W]``, rois ``Tensor[R, 5]`` as
``(batch_index, x1, y1, x2, y2)`` in image pixels; output ``Tensor[R, C, oh, ow]``.
Attribute names follow mmcv's ``RoIAlign`` (``output_size``, ``spatial_scale``,
``sampling_ratio``, ``pool_mode``, ``aligned``) so the extractor can read them.
"""

from __future__ import annotations

from torch import Tensor, nn

from visdet.ops import roi_align


def _pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    if len(value) != 2:
        raise ValueError(f"output_size must be an int or a pair, got {value!r}")
    return (int(value[0]), int(value[1]))


class RoIAlign(nn.Module):
    """Pool each RoI into a fixed ``output_size`` grid by bilinear sampling.

    Args:
        output_size: ``oh`` (= ``ow``) or ``(oh, ow)``.
        spatial_scale: Feature-map scale relative to the image, ``1 / stride``.
        sampling_ratio: Samples per bin side; ``0`` means adaptive (``ceil(bin size)``).
        pool_mode: ``"avg"`` or ``"max"`` over the samples of a bin.
        aligned: Shift boxes by half a pixel (the corrected RoIAlign); mmcv's default.
    """

    def __init__(
        self,
        *,
        output_size: int | tuple[int, int],
        spatial_scale: float = 1.0,
        sampling_ratio: int = 0,
        pool_mode: str = "avg",
        aligned: bool = True,
    ) -> None:
        super().__init__()
        if pool_mode not in ("avg", "max"):
            raise ValueError(f"pool_mode must be 'avg' or 'max', got {pool_mode!r}")
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.pool_mode = pool_mode
        self.aligned = aligned

    def forward(self, features: Tensor, rois: Tensor) -> Tensor:
        """Pool ``rois`` (``[R, 5]``) from ``features`` (``[B, C, H, W]``) to ``[R, C, oh, ow]``."""
        return roi_align(
            features,
            rois,
            self.output_size,
            spatial_scale=self.spatial_scale,
            sampling_ratio=self.sampling_ratio,
            pool_mode=self.pool_mode,
            aligned=self.aligned,
        )

    def extra_repr(self) -> str:
        """The settings, shown by ``print(module)``."""
        return (
            f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
            f"sampling_ratio={self.sampling_ratio}, pool_mode={self.pool_mode!r}, aligned={self.aligned}"
        )
