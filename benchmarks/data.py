"""asv: the data path. Batch preprocessing (normalise, BGR->RGB, pad to /32) and the
training pipeline (COCO dataset item: load, annotations, resize, flip, pack).
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile

import numpy as np
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


class TrainPipeline:
    """One pass over a synthetic COCO set of ~640x480 JPEGs through mmdet's default
    Faster R-CNN training pipeline (``benchmarks.compare_pipeline.TRAIN_PIPELINE``),
    ``dataset[i]`` for every item (the item copy included). Divide by ``num_images``
    for seconds per image.
    """

    params = (IMPLS, [20])
    param_names = ["impl", "num_images"]
    repeat = (2, 10, 20.0)

    def setup(self, impl, num_images):
        from benchmarks.compare_pipeline import CLASSES, TRAIN_PIPELINE, visdet_pipeline, write_synth_set

        configure_torch()
        pipeline = TRAIN_PIPELINE
        if impl == "visdet":
            dataset_cls = load("visdet.data.datasets.coco:CocoDataset")
            pipeline = visdet_pipeline(TRAIN_PIPELINE)
        else:
            load("mmdet.utils:register_all_modules")(init_default_scope=True)
            dataset_cls = load("mmdet.datasets:CocoDataset")
        self.root = tempfile.mkdtemp(prefix="visdet-asv-pipeline-")
        ann_file = write_synth_set(self.root, num_images)
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            self.dataset = dataset_cls(
                ann_file=str(ann_file),
                data_prefix={"img": str(ann_file.parent / "images")},
                metainfo={"classes": CLASSES},
                pipeline=pipeline,
                test_mode=False,
            )

    def teardown(self, impl, num_images):
        shutil.rmtree(getattr(self, "root", ""), ignore_errors=True)

    def time_pipeline(self, impl, num_images):
        np.random.seed(0)
        for idx in range(len(self.dataset)):
            self.dataset[idx]

    def peakmem_pipeline(self, impl, num_images):
        np.random.seed(0)
        for idx in range(len(self.dataset)):
            self.dataset[idx]
