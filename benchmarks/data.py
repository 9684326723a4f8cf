"""asv: the data path. Batch preprocessing (normalise, BGR->RGB, pad to /32).

Dataset loading and transforms join here when ``visdet.data`` exists.
"""

from __future__ import annotations

import torch

from benchmarks._common import IMPLS, configure_torch, generator, load

MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


class DetDataPreprocessor:
    """Two uint8 images of about S x 1.5S become one padded, normalised batch."""

    params = (IMPLS, [320, 800])
    param_names = ["impl", "image_side"]

    def setup(self, impl, side):
        configure_torch()
        gen = generator()
        sizes = [(side, int(side * 1.5)), (side - 37, int(side * 1.5) - 51)]
        images = [torch.randint(0, 256, (3, h, w), generator=gen, dtype=torch.uint8) for h, w in sizes]
        if impl == "visdet":
            cls = load("visdet.models.data_preprocessors:DetDataPreprocessor")
            module = cls(mean=MEAN, std=STD, bgr_to_rgb=True, pad_size_divisor=32)
            self.call = lambda: module(images)
        else:
            load("mmdet.utils:register_all_modules")(init_default_scope=True)
            cls = load("mmdet.models.data_preprocessors:DetDataPreprocessor")
            module = cls(mean=MEAN, std=STD, bgr_to_rgb=True, pad_size_divisor=32)
            self.call = lambda: module({"inputs": images}, training=False)

    def time_preprocess(self, impl, side):
        self.call()

    def peakmem_preprocess(self, impl, side):
        self.call()
