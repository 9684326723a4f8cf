"""Benchmark cases for model components: backbone, neck, heads, whole detector.

Size S is the side of a square ``Tensor[1, 3, S, S]`` image (a multiple of 32); the
neck and heads get feature maps of the shapes ResNet-50 gives for that image. The
bbox head's size is R RoIs of ``Tensor[R, 256, 7, 7]``. Components are built from
the same mmdet-shaped keyword arguments on both sides (mmdet after
``register_all_modules``); weights are random, seeded.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from visdet.benchmark.cases.base import (
    SEED,
    Case,
    ComponentUnavailable,
    Workload,
    generator,
    module_workload,
    random_boxes,
    register,
    require,
)
from visdet.benchmark.cases.detector_config import faster_rcnn_r50_fpn_config

IMAGE_SIZES = (320, 640)
QUICK_IMAGE_SIZES = (64,)
RESNET50_CHANNELS = (256, 512, 1024, 2048)
RESNET50_STRIDES = (4, 8, 16, 32)
FPN_CHANNELS = 256
NUM_GT = 5


def _component(impl: str, visdet_path: str, mmdet_path: str) -> Any:
    if impl == "mmdet":
        require("mmdet.utils:register_all_modules")(init_default_scope=True)
        return require(mmdet_path)
    return require(visdet_path)


def _backbone_cfg() -> dict[str, Any]:
    cfg = faster_rcnn_r50_fpn_config()["backbone"]
    cfg.pop("type")
    return cfg


def _neck_cfg() -> dict[str, Any]:
    cfg = faster_rcnn_r50_fpn_config()["neck"]
    cfg.pop("type")
    return cfg


def _image(size: int, device: torch.device) -> torch.Tensor:
    if size % 32:
        raise ValueError(f"image side must be a multiple of 32, got {size}")
    return torch.randn(1, 3, size, size, generator=generator()).to(device)


def _features(size: int, channels: tuple[int, ...], device: torch.device) -> tuple:
    gen = generator()
    return tuple(
        torch.randn(1, c, size // s, size // s, generator=gen).to(device).requires_grad_(True)
        for c, s in zip(channels, RESNET50_STRIDES + (64,), strict=False)
    )


def _seeded(build):
    torch.manual_seed(SEED)
    return build()


def _backbone(impl: str, size: int, device: torch.device) -> Workload:
    resnet = _component(impl, "visdet.models.backbones:ResNet", "mmdet.models.backbones:ResNet")
    module = _seeded(lambda: resnet(**_backbone_cfg()))
    return module_workload(module, (_image(size, device),), device)


def _neck(impl: str, size: int, device: torch.device) -> Workload:
    fpn = _component(impl, "visdet.models.necks:FPN", "mmdet.models.necks:FPN")
    module = _seeded(lambda: fpn(**_neck_cfg()))
    return module_workload(module, (_features(size, RESNET50_CHANNELS, device),), device)


def _rpn_head(impl: str, size: int, device: torch.device) -> Workload:
    cfg = faster_rcnn_r50_fpn_config()["rpn_head"]
    if impl == "visdet":
        # visdet's heads take built parts; its config boundary builds them from the dict
        build = require("visdet.build:build_component")
        module = _seeded(lambda: build("dense_head", cfg))
    else:
        head = _component(impl, "", "mmdet.models.dense_heads:RPNHead")
        cfg.pop("type")
        module = _seeded(lambda: head(**cfg))
    feats = _features(size, (FPN_CHANNELS,) * 5, device)
    return module_workload(module, (feats,), device)


def _bbox_head(impl: str, size: int, device: torch.device) -> Workload:
    cfg = faster_rcnn_r50_fpn_config()["roi_head"]["bbox_head"]
    if impl == "visdet":
        build = require("visdet.build:build_component")
        module = _seeded(lambda: build("bbox_head", cfg))
    else:
        head = _component(impl, "", "mmdet.models.roi_heads.bbox_heads:Shared2FCBBoxHead")
        cfg.pop("type")
        module = _seeded(lambda: head(**cfg))
    rois = torch.randn(size, FPN_CHANNELS, 7, 7, generator=generator()).to(device)
    return module_workload(module, (rois.requires_grad_(True),), device)


ROI_IMAGE_SIDE = 640  # the RoI extractor pools from the FPN maps of a 640x640 image


def _roi_extractor(impl: str, size: int, device: torch.device) -> Workload:
    cfg = faster_rcnn_r50_fpn_config()["roi_head"]["bbox_roi_extractor"]
    if impl == "visdet":
        build = require("visdet.build:build_component")
        module = _seeded(lambda: build("roi_extractor", cfg))
    else:
        extractor = _component(impl, "", "mmdet.models.roi_heads.roi_extractors:SingleRoIExtractor")
        cfg.pop("type")
        module = _seeded(lambda: extractor(**cfg))
    feats = _features(ROI_IMAGE_SIDE, (FPN_CHANNELS,) * 4, device)
    boxes = random_boxes(size, generator(), image_size=float(ROI_IMAGE_SIDE), max_side=ROI_IMAGE_SIDE / 2)
    rois = torch.cat([boxes.new_zeros(size, 1), boxes], dim=1).to(device)
    return module_workload(module, (feats, rois), device)


class _MmdetPreprocessorCall(nn.Module):
    """Calls mmdet's DetDataPreprocessor the way its detectors do (a dict of lists)."""

    def __init__(self, preprocessor: nn.Module, size: int) -> None:
        super().__init__()
        self.preprocessor = preprocessor
        self.size = size

    def forward(self, images: list[torch.Tensor]) -> torch.Tensor:
        sample_cls = require("mmdet.structures:DetDataSample")
        samples = []
        for _ in images:
            sample = sample_cls()
            sample.set_metainfo({"img_shape": (self.size, self.size)})
            samples.append(sample)
        return self.preprocessor({"inputs": images, "data_samples": samples}, training=False)["inputs"]


def _data_preprocessor(impl: str, size: int, device: torch.device) -> Workload:
    cfg = {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "bgr_to_rgb": True,
           "pad_size_divisor": 32}  # fmt: skip
    if impl == "visdet":
        module = require("visdet.models.data_preprocessors:DetDataPreprocessor")(**cfg)
    else:
        preprocessor = _component(impl, "", "mmdet.models.data_preprocessors:DetDataPreprocessor")(**cfg)
        module = _MmdetPreprocessorCall(preprocessor, size)
    # two uint8 images of different sizes, so padding to a common batch shape happens
    gen = generator()
    images = [torch.randint(0, 256, (3, size - 8 * i, size - 16 * i), generator=gen, dtype=torch.uint8).to(device)
              for i in range(2)]  # fmt: skip
    return module_workload(module, (images,), device, train=False)


def _metas(size: int, batch: int = 1, shape: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    shape = shape or (size, size)
    return [
        {
            "img_shape": shape,
            "ori_shape": shape,
            "pad_shape": shape,
            "batch_input_shape": shape,
            "scale_factor": (1.0, 1.0),
        }
        for _ in range(batch)
    ]


def _gt(size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    gen = generator()
    boxes = random_boxes(NUM_GT, gen, image_size=float(size), max_side=size / 2)
    labels = torch.randint(0, 80, (NUM_GT,), generator=gen)
    return boxes.to(device), labels.to(device)


def _detector(
    impl: str, size: int, device: torch.device, *, config: dict[str, Any] | None = None, metas: list | None = None
) -> tuple[nn.Module, Any, Any]:
    """The detector, a predict call and a loss call for one image of side ``size``.

    ``config`` replaces the Faster R-CNN R50-FPN config and ``metas`` the one square
    image's metainfo (predict only: the loss call is for one image).
    """
    config = config or faster_rcnn_r50_fpn_config()
    metas = metas or _metas(size)
    boxes, labels = _gt(size, device)
    if impl == "visdet":
        build = require("visdet:build_detector")
        instances = require("visdet.structures.instances:Instances")
        model = _seeded(lambda: build(config)).to(device)

        def predict(x):
            return model.predict(x, metas)

        def loss(x):
            return model.loss(x, metas, [instances(bboxes=boxes, labels=labels)])

        return model, predict, loss
    require("mmdet.utils:register_all_modules")(init_default_scope=True)
    models = require("mmdet.registry:MODELS")
    sample_type = require("mmdet.structures:DetDataSample")
    instance_type = require("mmengine.structures:InstanceData")
    config_dict = require("mmengine.config:ConfigDict")  # mmdet reads cfgs as attributes
    model = _seeded(lambda: models.build(config_dict(config))).to(device)
    samples = []
    for meta in metas:
        sample = sample_type()
        sample.set_metainfo(meta)
        sample.gt_instances = instance_type(bboxes=boxes, labels=labels)
        samples.append(sample)

    def predict(x):
        return model.predict(x, samples)

    def loss(x):
        return model.loss(x, samples[:1])

    return model, predict, loss


def _predict(impl: str, size: int, device: torch.device) -> Workload:
    model, predict, _ = _detector(impl, size, device)
    image = _image(size, device)
    model.eval()

    def forward() -> Any:
        with torch.no_grad():
            return predict(image)

    return Workload(forward=forward, module=model)


# The image of the batch and RoI-count cases: mmdet's 1x COCO test scale of a 4:3 photo.
SCALING_IMAGE = (800, 1216)


def _fused_predict(impl: str, model: nn.Module, predict, images: torch.Tensor) -> Workload:
    """``predict`` as users run it: visdet's model fused as ``init_detector`` does."""
    model.eval()
    if impl == "visdet":
        require("visdet.models.fuse:fuse_for_inference")(model)

    def forward() -> Any:
        with torch.no_grad():
            return predict(images)

    return Workload(forward=forward)


def _predict_batch(impl: str, batch: int, device: torch.device) -> Workload:
    images = torch.randn(batch, 3, *SCALING_IMAGE, generator=generator()).to(device)
    metas = _metas(0, batch, SCALING_IMAGE)
    model, predict, _ = _detector(impl, SCALING_IMAGE[0], device, metas=metas)
    return _fused_predict(impl, model, predict, images)


def _predict_rois(impl: str, rois: int, device: torch.device) -> Workload:
    config = faster_rcnn_r50_fpn_config()
    # R proposals per image reach the RoI head: RPN keeps max_per_img after its NMS,
    # from up to nms_pre anchors per level (raised so that 2000 survive the NMS).
    config["test_cfg"]["rpn"].update(max_per_img=rois, nms_pre=max(1000, rois))
    images = torch.randn(1, 3, *SCALING_IMAGE, generator=generator()).to(device)
    model, predict, _ = _detector(impl, SCALING_IMAGE[0], device, config=config, metas=_metas(0, 1, SCALING_IMAGE))
    return _fused_predict(impl, model, predict, images)


def _train_step(impl: str, size: int, device: torch.device) -> Workload:
    model, _, loss = _detector(impl, size, device)
    image = _image(size, device)

    def train() -> None:
        model.train()
        losses = loss(image)
        total = [v for vs in losses.values() for v in (vs if isinstance(vs, list) else [vs])]
        total = [t for t in total if isinstance(t, torch.Tensor) and t.requires_grad]
        if not total:
            raise ComponentUnavailable("the detector's loss returned no differentiable tensors")
        torch.stack([t.sum() for t in total]).sum().backward()
        model.zero_grad(set_to_none=True)

    # The forward of a training step is the loss computation itself.
    return Workload(forward=lambda: loss(image), train=train, module=model)


def _case(component: str, build, size_name: str, sizes, quick, description: str, slow=False):
    def builder_for(impl: str):
        return lambda size, device: build(impl, size, device)

    return Case(
        component=component,
        size_name=size_name,
        sizes=tuple(sizes),
        quick_sizes=tuple(quick),
        builders={impl: builder_for(impl) for impl in ("visdet", "mmdet")},
        description=description,
        slow=slow,
    )


_SIDE = "image side S"
register(
    _case(
        "models/backbone_resnet50",
        _backbone,
        _SIDE,
        IMAGE_SIZES,
        QUICK_IMAGE_SIZES,
        "ResNet-50 (frozen_stages=1, norm_eval) on 1x3xSxS",
    )
)
register(
    _case(
        "models/neck_fpn",
        _neck,
        _SIDE,
        IMAGE_SIZES,
        QUICK_IMAGE_SIZES,
        "FPN 256 channels, 5 outputs, on ResNet-50 feature shapes",
    )
)
register(
    _case("models/rpn_head", _rpn_head, _SIDE, IMAGE_SIZES, QUICK_IMAGE_SIZES, "RPNHead raw outputs on 5 FPN levels")
)
register(
    _case(
        "models/bbox_head", _bbox_head, "RoIs R", (128, 512, 1000), (4,), "Shared2FCBBoxHead on Rx256x7x7 RoI features"
    )
)
register(
    _case(
        "models/roi_extractor",
        _roi_extractor,
        "RoIs R",
        (128, 512, 1000),
        (8,),
        f"SingleRoIExtractor (RoIAlign 7x7, 4 FPN levels of a {ROI_IMAGE_SIDE}px image)",
    )
)
register(
    _case(
        "models/data_preprocessor",
        _data_preprocessor,
        _SIDE,
        IMAGE_SIZES,
        QUICK_IMAGE_SIZES,
        "DetDataPreprocessor: normalise, BGR->RGB, pad 2 uint8 images to a multiple of 32",
    )
)
register(
    _case(
        "models/faster_rcnn_predict",
        _predict,
        _SIDE,
        IMAGE_SIZES,
        QUICK_IMAGE_SIZES,
        "Faster R-CNN R50-FPN predict, score_thr 0.05, random weights",
        slow=True,
    )
)
register(
    _case(
        "models/faster_rcnn_predict_batch",
        _predict_batch,
        "batch B",
        (1, 2, 4, 8),
        (1,),
        f"Faster R-CNN R50-FPN predict on Bx3x{SCALING_IMAGE[0]}x{SCALING_IMAGE[1]} (images/s = B / time); "
        "visdet fused as init_detector does",
        slow=True,
    )
)
register(
    _case(
        "models/faster_rcnn_predict_rois",
        _predict_rois,
        "RoIs R",
        (100, 500, 1000, 2000),
        (100,),
        f"Faster R-CNN R50-FPN predict on 1x3x{SCALING_IMAGE[0]}x{SCALING_IMAGE[1]}, R proposals per image "
        "(test_cfg.rpn.max_per_img); visdet fused as init_detector does",
        slow=True,
    )
)
register(
    _case(
        "models/faster_rcnn_train_step",
        _train_step,
        _SIDE,
        IMAGE_SIZES,
        QUICK_IMAGE_SIZES,
        f"Faster R-CNN R50-FPN loss + backward, {NUM_GT} gt boxes",
        slow=True,
    )
)
