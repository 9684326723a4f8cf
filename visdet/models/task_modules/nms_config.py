"""``NMSConfig``: the ``nms`` entry of a head's test settings, typed (mmcv's keys).

``{"type": "nms", "iou_threshold": 0.7}`` in a config becomes an ``NMSConfig``; heads
hand :meth:`NMSConfig.options` (plain :class:`~visdet.ops.NMSOptions`) to the ops.
Options the chosen NMS does not take (``sigma`` with ``type: nms``) are rejected when
the config is validated, as mmcv would reject them when called.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from visdet.ops import NMSOptions
from visdet.structures import Settings


class NMSConfig(Settings):
    """Which NMS, and its options (mmcv's ``nms_cfg`` keys; unset means mmcv's default)."""

    type: Literal["nms", "soft_nms"] = "nms"
    iou_threshold: float | None = Field(None, description="required for type 'nms'")
    iou_thr: float | None = Field(None, description="mmcv's deprecated name of iou_threshold")
    class_agnostic: bool | None = None
    split_thr: int | None = Field(None, ge=1)
    offset: Literal[0, 1] | None = None
    score_threshold: float | None = None
    max_num: int | None = None
    sigma: float | None = Field(None, gt=0)
    min_score: float | None = None
    method: Literal["linear", "gaussian", "naive"] | None = None

    _options: NMSOptions = PrivateAttr()

    @model_validator(mode="after")
    def _unpack(self) -> NMSConfig:
        try:
            self._options = NMSOptions.from_mmcv(self.to_mmcv())
        except TypeError as err:  # pydantic reports ValueErrors with the config path
            raise ValueError(str(err)) from None
        return self

    def to_mmcv(self) -> dict[str, Any]:
        """The ``nms_cfg`` dict mmcv takes (only the keys that were given)."""
        return self.model_dump(exclude_none=True)

    def options(self) -> NMSOptions:
        """The plain options the NMS ops take."""
        return self._options
