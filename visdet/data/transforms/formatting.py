"""``PackDetInputs``: the last pipeline step, from a ``results`` dict to model inputs.

Output: ``{"inputs": Tensor[C, H, W] (the image's dtype, uint8 normally),
"data_samples": DetDataSample}``. Ground truth is split by ``gt_ignore_flags`` into
``gt_instances`` (flag False) and ``ignored_instances`` (flag True).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from visdet.data.data_sample import DetDataSample
from visdet.data.transforms.image_geometry import is_mask_structure
from visdet.structures.instances import Instances

DEFAULT_META_KEYS = (
    "img_id",
    "img_path",
    "ori_shape",
    "img_shape",
    "scale_factor",
    "flip",
    "flip_direction",
)

# results key -> Instances field
FIELD_NAMES = {"gt_bboxes": "bboxes", "gt_bboxes_labels": "labels", "gt_masks": "masks"}


def _to_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    raise TypeError(f"cannot pack a {type(value).__name__} as a tensor")


def _check_counts(results: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the image unless boxes, labels, masks and ignore flags agree in count.

    mmdet defines no behaviour here: its ``PackDetInputs`` fails with an ``IndexError``
    (indexing the masks by the ignore flags) or an ``AssertionError`` from
    ``InstanceData``; visdet names the image and the lengths instead.
    """
    lengths = {key: len(results[key]) for key in (*FIELD_NAMES, "gt_ignore_flags") if results.get(key) is not None}
    if len(set(lengths.values())) > 1:
        where = f"img_id={results.get('img_id')} ({results.get('img_path')})"
        raise ValueError(f"{where}: ground-truth fields disagree in count: {lengths}")


class PackDetInputs:
    """Pack the image as a CHW tensor and the annotations as ``Instances``.

    Args:
        meta_keys: ``results`` keys copied into ``data_samples.metainfo`` when present.
    """

    def __init__(self, *, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Return ``{"inputs": Tensor[C, H, W], "data_samples": DetDataSample}``."""
        packed: dict[str, Any] = {}
        if "img" in results:
            img = results["img"]
            if img.ndim < 3:
                img = img[..., None]
            if img.flags.c_contiguous:  # torch's permuted copy is ~2x faster than NumPy's here
                packed["inputs"] = torch.from_numpy(img).permute(2, 0, 1).contiguous()
            else:
                packed["inputs"] = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        flags = results.get("gt_ignore_flags")
        _check_counts(results)
        gt, ignored = Instances(), Instances()
        for key, name in FIELD_NAMES.items():
            if key not in results:
                continue
            value = results[key]
            if is_mask_structure(value):  # mmdet keeps BitmapMasks/PolygonMasks as they are
                if flags is not None:
                    keep = ~np.asarray(flags, dtype=bool)
                    gt.set(name, value[keep.nonzero()[0].tolist()])
                    ignored.set(name, value[(~keep).nonzero()[0].tolist()])
                else:
                    gt.set(name, value)
                continue
            value = _to_tensor(value)
            if flags is not None:
                keep = torch.from_numpy(~np.asarray(flags, dtype=bool))
                gt.set(name, value[keep])
                ignored.set(name, value[~keep])
            else:
                gt.set(name, value)
        metainfo = {key: results[key] for key in self.meta_keys if key in results}
        packed["data_samples"] = DetDataSample(metainfo=metainfo, gt_instances=gt, ignored_instances=ignored)
        return packed

    def __repr__(self) -> str:
        return f"PackDetInputs(meta_keys={self.meta_keys})"
