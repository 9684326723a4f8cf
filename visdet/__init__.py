"""visdet: object detection in pure PyTorch, numerically the same as MMDetection 3.3."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from visdet.checkpoint import LoadResult, load_checkpoint

if TYPE_CHECKING:
    from torch import nn

__version__ = "0.1.0.dev0"

__all__ = ["LoadResult", "__version__", "build_detector", "load_checkpoint"]


def build_detector(config: Mapping[str, Any] | str) -> nn.Module:
    """Build a detector from an mmdet-shaped model config or a preset name.

    Args:
        config: The ``model`` dict of an mmdet 3.x config (``type='FasterRCNN'``), a
            whole config dict that has a ``model`` entry, or a preset name
            (``"faster_rcnn_r50_fpn"``: mmdet's COCO Faster R-CNN R50-FPN).

    Returns:
        The detector module (``predict``, ``loss``, ``forward``) with random weights;
        fill it with ``load_checkpoint``.
    """
    from visdet.models.builders import build_faster_rcnn, presets  # models load on first use

    if isinstance(config, str):
        preset = getattr(presets, config, None) if not config.startswith("_") else None
        if preset is None:
            raise ValueError(f"unknown detector preset {config!r} (known: ['faster_rcnn_r50_fpn'])")
        config = preset()
    if not isinstance(config, Mapping):
        raise TypeError(f"build_detector takes a config dict, got {type(config).__name__}")
    model_cfg = config["model"] if "model" in config and "type" not in config else config
    return build_faster_rcnn(model_cfg)
