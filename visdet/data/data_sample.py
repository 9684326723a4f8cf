"""``DetDataSample``: one image's meta information and its ground truth, as packed for a model.

``metainfo`` holds mmdet's meta keys (``img_id``, ``img_path``, ``ori_shape``,
``img_shape``, ``scale_factor``, ``flip``, ``flip_direction``, ...). ``gt_instances``
holds ``bboxes`` (``Tensor[N, 4]`` float32 xyxy), ``labels`` (``Tensor[N]`` int64) and,
when loaded, ``masks`` (``Tensor[N, H, W]`` uint8); ``ignored_instances`` holds the same
fields for crowd / ignored objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from visdet.structures.instances import Instances


@dataclass
class DetDataSample:
    """Meta information plus ground-truth and ignored instances of one image."""

    metainfo: dict[str, Any] = field(default_factory=dict)
    gt_instances: Instances = field(default_factory=Instances)
    ignored_instances: Instances = field(default_factory=Instances)

    def __getattr__(self, name: str) -> Any:
        # metainfo keys read like attributes (sample.img_shape), as in mmdet's data samples
        metainfo = self.__dict__.get("metainfo", {})
        if name in metainfo:
            return metainfo[name]
        raise AttributeError(f"DetDataSample has no attribute or meta key {name!r}")
