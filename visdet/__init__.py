"""visdet: object detection in pure PyTorch, numerically the same as MMDetection 3.3."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from visdet.checkpoint import LoadResult, load_checkpoint

if TYPE_CHECKING:
    from torch import nn

__version__ = "0.1.0.dev0"

__all__ = ["LoadResult", "__version__", "build_detector", "load_checkpoint"]


def build_detector(config: Mapping[str, Any]) -> nn.Module:
    """Build a detector from an mmdet-shaped model config.

    Args:
        config: The ``model`` dict of an mmdet 3.x config (``type='FasterRCNN'``), or a
            whole config dict that has a ``model`` entry.

    Returns:
        The detector module (``predict``, ``loss``, ``forward``).
    """
    from visdet.models.builders import build_faster_rcnn  # models load on first use

    if not isinstance(config, Mapping):
        raise TypeError(f"build_detector takes a config dict, got {type(config).__name__}")
    model_cfg = config["model"] if "model" in config and "type" not in config else config
    return build_faster_rcnn(model_cfg)
