"""visdet: object detection in pure PyTorch, numerically the same as MMDetection 3.3.

The names below load on first use (PEP 562), so ``import visdet.ops`` imports the ops
alone and not the layers above them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0.dev0"

# public name -> module that defines it
_EXPORTS = {
    "LoadResult": "visdet.checkpoint",
    "build_detector": "visdet.apis",
    "inference_detector": "visdet.apis",
    "init_detector": "visdet.apis",
    "list_presets": "visdet.config",
    "load_checkpoint": "visdet.checkpoint",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'visdet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
