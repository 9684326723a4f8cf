"""Benchmark cases for layers (conv block, normalisation, activation) and losses.

Layers take ``Tensor[2, 64, S, S]`` (size S = spatial side); losses take N samples:
``Tensor[N, 81]`` logits with labels for cross-entropy, ``Tensor[N, 4]`` box deltas
for the L1 family. The mmdet side builds mmcv's layers and mmdet's losses with the
same keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from visdet.benchmark.cases.base import (
    Case,
    Workload,
    generator,
    module_workload,
    register,
    require,
)

CHANNELS = 64
BATCH = 2
NUM_CLASSES = 80

_LAYER_SOURCES = {
    "ConvModule": {"visdet": "visdet.models.layers:ConvModule", "mmdet": "mmcv.cnn:ConvModule"},
    "build_norm_layer": {
        "visdet": "visdet.models.layers:build_norm_layer",
        "mmdet": "mmcv.cnn:build_norm_layer",
    },
    "build_activation_layer": {
        "visdet": "visdet.models.layers:build_activation_layer",
        "mmdet": "mmcv.cnn:build_activation_layer",
    },
}
_LOSS_SOURCES = {
    name: {"visdet": f"visdet.models.losses:{name}", "mmdet": f"mmdet.models.losses:{name}"}
    for name in ("CrossEntropyLoss", "SmoothL1Loss", "L1Loss")
}


def _feature_map(size: int, device: torch.device) -> torch.Tensor:
    features = torch.randn(BATCH, CHANNELS, size, size, generator=generator())
    return features.to(device).requires_grad_(True)


def _layer_case(component: str, description: str, make: Callable[[str], nn.Module]) -> Case:
    def builder_for(impl: str):
        def build(size: int, device: torch.device) -> Workload:
            return module_workload(make(impl), (_feature_map(size, device),), device)

        return build

    return Case(
        component=component,
        size_name="spatial side S",
        sizes=(32, 64, 128),
        quick_sizes=(8,),
        builders={impl: builder_for(impl) for impl in ("visdet", "mmdet")},
        description=description,
    )


def _conv_module(impl: str) -> nn.Module:
    conv_module = require(_LAYER_SOURCES["ConvModule"][impl])
    return conv_module(
        in_channels=CHANNELS,
        out_channels=CHANNELS,
        kernel_size=3,
        padding=1,
        norm_cfg={"type": "BN"},
    )


def _norm(cfg: dict) -> Callable[[str], nn.Module]:
    def make(impl: str) -> nn.Module:
        return require(_LAYER_SOURCES["build_norm_layer"][impl])(dict(cfg), CHANNELS)[1]

    return make


def _relu(impl: str) -> nn.Module:
    return require(_LAYER_SOURCES["build_activation_layer"][impl])({"type": "ReLU"})


def _loss_case(component: str, loss_name: str, description: str, classification: bool) -> Case:
    def builder_for(impl: str):
        def build(size: int, device: torch.device) -> Workload:
            gen = generator()
            loss = require(_LOSS_SOURCES[loss_name][impl])()
            if classification:
                pred = torch.randn(size, NUM_CLASSES + 1, generator=gen)
                target = torch.randint(0, NUM_CLASSES + 1, (size,), generator=gen)
            else:
                pred = torch.randn(size, 4, generator=gen)
                target = torch.randn(size, 4, generator=gen)
            pred = pred.to(device).requires_grad_(True)
            return module_workload(loss, (pred, target.to(device)), device)

        return build

    return Case(
        component=component,
        size_name="samples N",
        sizes=(512, 4096, 32768),
        quick_sizes=(16,),
        builders={impl: builder_for(impl) for impl in ("visdet", "mmdet")},
        description=description,
    )


register(_layer_case("layers/conv_module", "3x3 conv + BN + ReLU, 64->64 channels", _conv_module))
register(_layer_case("layers/batch_norm", "BatchNorm2d(64) via build_norm_layer", _norm({"type": "BN"})))
register(
    _layer_case("layers/group_norm", "GroupNorm(32, 64) via build_norm_layer", _norm({"type": "GN", "num_groups": 32}))
)
register(_layer_case("layers/relu", "ReLU via build_activation_layer", _relu))
register(_loss_case("losses/cross_entropy", "CrossEntropyLoss", f"softmax CE over {NUM_CLASSES}+1 classes", True))
register(_loss_case("losses/smooth_l1", "SmoothL1Loss", "SmoothL1Loss(beta=1) on N x 4", False))
register(_loss_case("losses/l1", "L1Loss", "L1Loss on N x 4 box deltas", False))
