"""Parity case: two SGD training steps of a reduced Faster R-CNN (R18 at base 4, FPN 16).

Reference: mmdet's model and mmengine's ``OptimWrapper`` (SGD, lr 0.02, momentum 0.9,
weight decay 1e-4, gradient-norm clipping at 1.0) through ``model.train_step`` twice on
one packed batch of two uint8 images. visdet: the same config through
``build_detector``, weights copied, ``build_optimizer`` and ``Runner`` (two iterations of
a loader that yields that batch). Random sampling in the heads draws from torch's global
RNG, seeded identically before the first step. Recorded: every logged loss term of both
steps (``step.<k>.<name>``) and every trainable weight after the second step
(``after.<name>``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch

from parity.cases._heads_detector_common import draw_gt, load_state, metas, mm_build, mm_cfg, state_entries
from parity.cases.base import Case, Tensors, register
from parity.cases.heads_detector_faster_rcnn import reduced_config

COMPONENT = "engine/train_step"
LOG_NAMES = ("loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "acc", "loss_bbox", "loss")
SGD = {"lr": 0.02, "momentum": 0.9, "weight_decay": 1e-4}
MAX_NORM = 1.0


def _config() -> dict:
    cfg = reduced_config()  # then smaller still, to keep the golden small
    cfg["backbone"].update(depth=18, base_channels=4)
    cfg["neck"].update(in_channels=[4, 8, 16, 32], out_channels=16)
    cfg["rpn_head"].update(in_channels=16, feat_channels=16)
    cfg["roi_head"]["bbox_roi_extractor"]["out_channels"] = 16
    cfg["roi_head"]["bbox_head"].update(in_channels=16, fc_out_channels=32)
    return cfg


def _inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    images = {
        f"img.{i}": torch.randint(0, 256, (3, h, w), generator=generator, dtype=torch.uint8)
        for i, (h, w) in enumerate(params["img_shapes"])
    }
    return {**images, **draw_gt(params, generator)}


def _after(model: torch.nn.Module) -> Tensors:
    return {f"after.{n}": p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.structures import DetDataSample
    from mmengine.optim import build_optim_wrapper
    from mmengine.structures import InstanceData

    torch.manual_seed(params["seed"])
    model = mm_build(mm_cfg(copy.deepcopy(params["config"])))
    state = state_entries(model)
    wrapper = build_optim_wrapper(model, mm_cfg({"type": "OptimWrapper", "optimizer": {"type": "SGD", **SGD},
                                                 "clip_grad": {"max_norm": MAX_NORM}}))  # fmt: skip
    samples = []
    for i, meta in enumerate(metas(params)):
        sample = DetDataSample(metainfo=meta)
        sample.gt_instances = InstanceData(bboxes=inputs[f"gt.{i}.bboxes"].clone(),
                                           labels=inputs[f"gt.{i}.labels"].clone())  # fmt: skip
        samples.append(sample)
    model.train()
    out: Tensors = {}
    torch.manual_seed(params["sample_seed"])
    for step in range(params["steps"]):
        images = [inputs[f"img.{i}"].clone() for i in range(len(params["img_shapes"]))]
        log_vars = model.train_step({"inputs": images, "data_samples": samples}, wrapper)
        for name in LOG_NAMES:
            out[f"step.{step}.{name}"] = torch.as_tensor(log_vars[name], dtype=torch.get_default_dtype()).reshape(())
    return {**state, **out, **_after(model)}


class _Batch(torch.utils.data.Dataset):
    def __init__(self, items: list) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Any:
        return self.items[i]


def _visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet import build_detector
    from visdet.data import DetDataSample, build_dataloader
    from visdet.engine import Runner
    from visdet.engine.hooks import Hook
    from visdet.engine.optim import build_optimizer
    from visdet.structures import Instances

    model = build_detector(copy.deepcopy(params["config"]))
    load_state(model, tensors)
    items = []
    for i, meta in enumerate(metas(params)):
        gt = Instances(bboxes=tensors[f"gt.{i}.bboxes"].clone(), labels=tensors[f"gt.{i}.labels"].clone())
        items.append(
            {"inputs": tensors[f"img.{i}"].clone(), "data_samples": DetDataSample(metainfo=meta, gt_instances=gt)}
        )
    loader = build_dataloader(_Batch(items), batch_size=len(items), shuffle=False, seed=0)
    out: Tensors = {}

    class Record(Hook):
        def after_train_iter(self, runner: Any) -> None:
            for name in LOG_NAMES:
                value = torch.as_tensor(runner.log_vars[name], dtype=torch.get_default_dtype())
                out[f"step.{runner.iter - 1}.{name}"] = value.reshape(())

    import tempfile

    with tempfile.TemporaryDirectory() as work_dir:
        runner = Runner(model=model, train_loader=loader, optimizer=build_optimizer(model, name="sgd", **SGD),
                        work_dir=work_dir, max_iters=params["steps"], grad_clip=MAX_NORM, hooks=[Record()])  # fmt: skip
        torch.manual_seed(params["sample_seed"])
        runner.train()
    return {**out, **_after(model)}


register(Case(
    component=COMPONENT, dtype="float64", name="sgd_two_steps_faster_rcnn",
    params={"config": _config(), "img_shapes": [[100, 130], [84, 118]], "scale_factors": [[1.3, 1.25], [0.59, 0.6]],
            "num_gts": [3, 2], "num_classes": 5, "seed": 0, "sample_seed": 21, "steps": 2},
    seed=12, make_inputs=_inputs, reference=_reference, visdet=_visdet,
    description="reduced Faster R-CNN (R18 at base 4, FPN 16): two mmengine SGD steps with clipping vs visdet's Runner",
))  # fmt: skip
