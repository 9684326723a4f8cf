"""``Compose``: a pipeline of transforms, applied in order.

Transforms are callables on a ``results`` dict; one that returns ``None`` stops the
pipeline (the dataset then draws another item). Configs (``{"type": "Resize", ...}``)
become transforms at the config boundary: ``visdet.build.build_pipeline(configs)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

Transform = Callable[[dict[str, Any]], "dict[str, Any] | None"]


class Compose:
    """Apply transforms in order.

    Args:
        transforms: Transform objects (callables on a ``results`` dict).

    Raises:
        TypeError: A transform is a config dict or not callable.
    """

    def __init__(self, transforms: Sequence[Transform] | None = None) -> None:
        self.transforms = list(transforms or [])
        for i, transform in enumerate(self.transforms):
            if isinstance(transform, Mapping):
                raise TypeError(
                    f"pipeline[{i}] is a config dict ({transform.get('type')!r}); build the pipeline with "
                    "visdet.build.build_pipeline(configs)"
                )
            if not callable(transform):
                raise TypeError(f"pipeline[{i}] must be a callable transform, got {type(transform).__name__}")

    def __call__(self, results: dict[str, Any]) -> dict[str, Any] | None:
        """Run ``results`` through every transform; ``None`` as soon as one returns ``None``."""
        for transform in self.transforms:
            results = transform(results)
            if results is None:
                return None
        return results

    def __repr__(self) -> str:
        inner = ",\n    ".join(repr(t) for t in self.transforms)
        return f"Compose([\n    {inner}\n])"
