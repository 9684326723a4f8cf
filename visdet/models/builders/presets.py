"""Model presets as mmdet-shaped dicts (the ``model`` entry of an mmdet config).

The single source of each preset is its YAML file packaged in ``visdet/presets/models``
(``faster_rcnn_r50_fpn.yaml`` is mmdet 3.3's ``configs/_base_/models/faster-rcnn_r50_fpn.py``
with the backbone's ``init_cfg`` set to ``None``: visdet never downloads weights). This
module reads the file directly with importlib.resources, so ``visdet.models`` does not
depend on the higher ``visdet.config`` layer. Each call returns a fresh dict.
"""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import Any

import yaml


@cache
def _model_preset(name: str) -> dict[str, Any]:
    text = resources.files("visdet.presets").joinpath("models", f"{name}.yaml").read_text()
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise ValueError(f"visdet/presets/models/{name}.yaml: expected a top-level 'model' mapping")
    return data["model"]


def faster_rcnn_r50_fpn(num_classes: int = 80) -> dict[str, Any]:
    """The Faster R-CNN R50-FPN model dict of mmdet (COCO: ``num_classes=80``)."""
    model = copy.deepcopy(_model_preset("faster_rcnn_r50_fpn"))
    model["roi_head"]["bbox_head"]["num_classes"] = num_classes
    return model
