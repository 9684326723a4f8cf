"""The registration modules of the model and data kinds, listed by name.

Importing this module imports each of them, and each registers its schemas with
``@registry(kind).register`` beside their definitions. A new component's schema module
is added here (the engine's kinds are listed in :mod:`visdet.engine.components`).
"""

from __future__ import annotations

from visdet.build.components import (
    backbones,
    batch_augments,
    datasets,
    dense_heads,
    detectors,
    detr,
    dino,
    losses,
    mask_heads,
    metrics,
    necks,
    roi_heads,
    task_modules,
    transformer,
    transforms,
)

MODULES = (
    backbones, batch_augments, necks, transformer, task_modules, losses, dense_heads, mask_heads, roi_heads, detectors,
    detr, dino, transforms, datasets, metrics,
)  # fmt: skip
