"""``NMSOptions``: how a batched NMS runs, as plain typed values.

The ops take these values, never a config dict. mmcv's ``nms_cfg`` dict (``{"type":
"nms", "iou_threshold": 0.7, ...}``), the form mmcv's ``batched_nms`` and mmdet's
``multiclass_nms`` take, is unpacked once by :meth:`NMSOptions.from_mmcv`, which checks
its keys the way mmcv's calls would (an option the chosen NMS does not take is a
``TypeError`` naming it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from visdet.ops._checks import check_choice

# mmcv's default number of boxes from which batched_nms runs one NMS per group.
DEFAULT_SPLIT_THR = 10000
# soft_nms's default IoU threshold in mmcv (greedy nms has none: it must be given).
SOFT_NMS_IOU_THRESHOLD = 0.3

_GREEDY_KEYS = frozenset({"iou_threshold", "offset", "score_threshold", "max_num"})
_SOFT_KEYS = frozenset({"iou_threshold", "offset", "sigma", "min_score", "method", "max_num"})


@dataclass(frozen=True)
class NMSOptions:
    """Options of :func:`visdet.ops.batched_nms` (mmcv's names and defaults).

    Attributes:
        iou_threshold: Suppression threshold (greedy: strictly greater IoU suppresses).
        soft: Soft-NMS (decay scores) instead of greedy NMS.
        offset: 0, or 1 for the legacy ``x2 - x1 + 1`` widths.
        score_threshold: Greedy only: boxes need a higher score to enter.
        max_num: Keep at most this many boxes (``<= 0``: all).
        sigma: Soft-NMS Gaussian width.
        min_score: Soft-NMS: boxes whose decayed score falls below this are dropped.
        method: Soft-NMS decay, ``"linear"``, ``"gaussian"`` or ``"naive"``.
        class_agnostic: One NMS over all boxes, ignoring the group ids.
        split_thr: From this many boxes on, NMS runs group by group (mmcv's memory
            saver; the result can differ in rounding, see ``batched_nms``).
    """

    iou_threshold: float = SOFT_NMS_IOU_THRESHOLD
    soft: bool = False
    offset: int = 0
    score_threshold: float = 0.0
    max_num: int = -1
    sigma: float = 0.5
    min_score: float = 1e-3
    method: str = "linear"
    class_agnostic: bool = False
    split_thr: int = DEFAULT_SPLIT_THR

    @classmethod
    def from_mmcv(cls, nms_cfg: Mapping[str, Any], *, class_agnostic: bool = False) -> NMSOptions:
        """Unpack mmcv's ``nms_cfg`` dict.

        Args:
            nms_cfg: ``type`` (``"nms"`` default, or ``"soft_nms"``), ``iou_threshold``
                (or the deprecated ``iou_thr``), ``class_agnostic`` (overrides the
                argument), ``split_thr`` and the chosen op's own keywords.
            class_agnostic: Used when ``nms_cfg`` has no ``class_agnostic``.

        Raises:
            TypeError: ``nms_cfg`` is not a mapping, has a key the chosen NMS does not
                take, or greedy NMS lacks ``iou_threshold``.
            ValueError: Unknown ``type``.
        """
        if not isinstance(nms_cfg, Mapping):
            raise TypeError(f"nms_cfg must be a dict or None, got {type(nms_cfg).__name__}")
        cfg = dict(nms_cfg)
        agnostic = bool(cfg.pop("class_agnostic", class_agnostic))
        if "iou_thr" in cfg:  # mmcv's deprecated alias, still found in old configs
            cfg["iou_threshold"] = cfg.pop("iou_thr")
        kind = cfg.pop("type", "nms")
        check_choice(kind, "nms_cfg['type']", ("nms", "soft_nms"))
        split_thr = cfg.pop("split_thr", DEFAULT_SPLIT_THR)
        allowed = _GREEDY_KEYS if kind == "nms" else _SOFT_KEYS
        unknown = sorted(set(cfg) - allowed)
        if unknown:
            raise TypeError(f"nms_cfg: {kind} takes no option(s) {unknown} (it takes {sorted(allowed)})")
        if kind == "nms" and "iou_threshold" not in cfg:
            raise TypeError("nms_cfg: nms needs 'iou_threshold'")
        return cls(soft=kind == "soft_nms", class_agnostic=agnostic, split_thr=split_thr, **cfg)

    def nms_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`visdet.ops.nms` (greedy) or ``soft_nms`` for one run."""
        if self.soft:
            return {"iou_threshold": self.iou_threshold, "sigma": self.sigma, "min_score": self.min_score,
                    "method": self.method, "offset": self.offset}  # fmt: skip
        return {"iou_threshold": self.iou_threshold, "offset": self.offset, "score_threshold": self.score_threshold}


def as_nms_options(nms: NMSOptions | Mapping[str, Any], *, class_agnostic: bool = False) -> NMSOptions:
    """``nms`` as ``NMSOptions`` (mmcv's dict is unpacked with :meth:`NMSOptions.from_mmcv`)."""
    if isinstance(nms, NMSOptions):
        return nms
    return NMSOptions.from_mmcv(nms, class_agnostic=class_agnostic)
