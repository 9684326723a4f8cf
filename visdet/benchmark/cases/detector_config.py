"""The Faster R-CNN R50-FPN model config benchmarked, in mmdet 3.3's dict shape.

Both implementations are built from this one dict (visdet through
``visdet.build_detector``, mmdet through ``MODELS.build``), so they run the same
architecture with the same test settings. It is visdet's packaged preset
(``visdet/presets/models/faster_rcnn_r50_fpn.yaml``, mmdet's ``faster-rcnn_r50_fpn``
model with ``init_cfg=None`` so nothing downloads) without the data preprocessor,
because the benchmark feeds already-normalised batches.
"""

from __future__ import annotations

from typing import Any

from visdet.config.presets import model_preset


def faster_rcnn_r50_fpn_config(*, num_classes: int = 80) -> dict[str, Any]:
    """A fresh mmdet-shaped model dict for Faster R-CNN R50-FPN (1x COCO settings)."""
    config = model_preset("faster_rcnn_r50_fpn")
    config["roi_head"]["bbox_head"]["num_classes"] = num_classes
    config.pop("data_preprocessor", None)
    return config
