"""asv: whole detectors. Faster R-CNN R50-FPN predict and one training step.

Both implementations are built from the same mmdet-shaped model dict
(``visdet.benchmark.cases.detector_config``), random weights, score_thr 0.05.
Everything here is slow on a CPU: the 640 image side is behind ASV_SKIP_SLOW, and
the training step is slow at every size.
"""

from __future__ import annotations

import torch

from benchmarks._common import IMPLS, SEED, configure_torch, generator, load, random_boxes, skip_slow

CONFIG = "visdet.benchmark.cases.detector_config:faster_rcnn_r50_fpn_config"


def _metas(side):
    shape = (side, side)
    return [
        {
            "img_shape": shape,
            "ori_shape": shape,
            "pad_shape": shape,
            "batch_input_shape": shape,
            "scale_factor": (1.0, 1.0),
        }
    ]


def _build(impl):
    config = load(CONFIG)()
    torch.manual_seed(SEED)
    if impl == "visdet":
        return load("visdet:build_detector")(config)
    load("mmdet.utils:register_all_modules")(init_default_scope=True)
    config_dict = load("mmengine.config:ConfigDict")
    return load("mmdet.registry:MODELS").build(config_dict(config))


def _cache_weights():
    configure_torch()
    built = {}
    for impl in IMPLS:
        try:
            # weights only: asv pickles the cache, and not every module pickles
            built[impl] = _build(impl).state_dict()
        except (NotImplementedError, ImportError) as exc:
            # ImportError: the detector's own imports are missing (older commits)
            built[impl] = f"{impl}: {type(exc).__name__}: {exc}"
    return built


class _FasterRCNNBase:
    """Shared setup: the model (weights cached) and one image with its metas and boxes."""

    params = (IMPLS, [320, 640])
    param_names = ["impl", "image_side"]
    timeout = 600
    repeat = (1, 3, 60.0)
    number = 1

    def setup(self, built, impl, side):
        skip_slow(side > 320)
        configure_torch()
        if isinstance(built[impl], str):
            raise NotImplementedError(built[impl])
        self.model = _build(impl)
        self.model.load_state_dict(built[impl])
        gen = generator()
        self.image = torch.randn(1, 3, side, side, generator=gen)
        boxes = random_boxes(5, gen, image_size=float(side), max_side=side / 2)
        labels = torch.randint(0, 80, (5,), generator=gen)
        metas = _metas(side)
        if impl == "visdet":
            instances = load("visdet.structures.instances:Instances")
            self.predict = lambda: self.model.predict(self.image, metas)
            gt = [instances(bboxes=boxes, labels=labels)]
            self.loss = lambda: self.model.loss(self.image, metas, gt)
        else:
            sample = load("mmdet.structures:DetDataSample")()
            sample.set_metainfo(metas[0])
            sample.gt_instances = load("mmengine.structures:InstanceData")(bboxes=boxes, labels=labels)
            self.predict = lambda: self.model.predict(self.image, [sample])
            self.loss = lambda: self.model.loss(self.image, [sample])

    def teardown(self, built, impl, side):
        self.model = None


class FasterRCNN(_FasterRCNNBase):
    """Predict (inference) of one image."""

    def setup_cache(self):
        return _cache_weights()

    def time_predict(self, built, impl, side):
        self.model.eval()
        with torch.no_grad():
            self.predict()

    def peakmem_predict(self, built, impl, side):
        self.model.eval()
        with torch.no_grad():
            self.predict()

    def track_params(self, built, impl, side):
        return sum(p.numel() for p in self.model.parameters())

    track_params.unit = "count"


class FasterRCNNTrainStep(_FasterRCNNBase):
    """A training step (loss + backward) of one image: slow, skipped under ASV_SKIP_SLOW.

    The skip is raised in setup: asv counts NotImplementedError as "skipped" only there
    (raised inside a timed function it is a failure).
    """

    def setup_cache(self):
        return _cache_weights()

    def setup(self, built, impl, side):
        skip_slow(True)
        super().setup(built, impl, side)

    def time_train_step(self, built, impl, side):
        self.model.train()
        losses = self.loss()
        parts = [v for vs in losses.values() for v in (vs if isinstance(vs, list) else [vs])]
        torch.stack([p.sum() for p in parts if p.requires_grad]).sum().backward()
        self.model.zero_grad(set_to_none=True)
