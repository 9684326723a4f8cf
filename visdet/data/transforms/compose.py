"""``Compose``: a pipeline of transforms built from mmdet-shaped config dicts.

A config dict names its transform with ``type`` (mmdet's class name) and passes the rest
as keyword arguments. The name -> class table is explicit (:data:`TRANSFORMS`).
A transform that returns ``None`` stops the pipeline (the dataset then draws another item).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from visdet.data.transforms.crop import RandomCrop
from visdet.data.transforms.flip import RandomFlip
from visdet.data.transforms.formatting import PackDetInputs
from visdet.data.transforms.loading import LoadAnnotations, LoadImageFromFile
from visdet.data.transforms.pad import Pad
from visdet.data.transforms.photometric import PhotoMetricDistortion
from visdet.data.transforms.resize import RandomResize, Resize

Transform = Callable[[dict[str, Any]], "dict[str, Any] | None"]

TRANSFORMS: dict[str, type] = {
    "LoadImageFromFile": LoadImageFromFile,
    "LoadAnnotations": LoadAnnotations,
    "Resize": Resize,
    "RandomResize": RandomResize,
    "RandomFlip": RandomFlip,
    "Pad": Pad,
    "RandomCrop": RandomCrop,
    "PhotoMetricDistortion": PhotoMetricDistortion,
    "PackDetInputs": PackDetInputs,
}


def build_transform(config: Mapping[str, Any] | Transform) -> Transform:
    """Build one transform from ``{"type": name, **kwargs}`` (a callable passes through)."""
    if callable(config) and not isinstance(config, Mapping):
        return config
    if not isinstance(config, Mapping) or "type" not in config:
        raise TypeError(f"a transform config must be a dict with a 'type' key, got {config!r}")
    kwargs = dict(config)
    name = kwargs.pop("type")
    if name not in TRANSFORMS:
        raise KeyError(f"unknown transform type {name!r}; known: {', '.join(sorted(TRANSFORMS))}")
    try:
        return TRANSFORMS[name](**kwargs)
    except TypeError as err:
        raise TypeError(f"bad arguments for transform {name!r}: {err}") from err


class Compose:
    """Apply transforms in order.

    Args:
        transforms: transform objects or config dicts (see :func:`build_transform`).
    """

    def __init__(self, transforms: Sequence[Mapping[str, Any] | Transform] | None = None) -> None:
        self.transforms = [build_transform(t) for t in (transforms or [])]

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
