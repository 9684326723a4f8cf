"""visdet: object detection in pure PyTorch, numerically the same as MMDetection 3.3."""

from __future__ import annotations

from visdet.apis import build_detector, inference_detector, init_detector
from visdet.checkpoint import LoadResult, load_checkpoint
from visdet.config import list_presets

__version__ = "0.1.0.dev0"

__all__ = [
    "LoadResult",
    "__version__",
    "build_detector",
    "inference_detector",
    "init_detector",
    "list_presets",
    "load_checkpoint",
]
