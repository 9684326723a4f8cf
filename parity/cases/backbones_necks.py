"""Parity cases for ResNet-family backbones and FPN: outputs, gradients, BN buffers.

Every case builds the mmdet module under ``torch.manual_seed(seed)``, randomises norm
affine parameters, running statistics and conv biases (so they are not the trivial
1/0 values), and records:

* ``state.<key>``: the module's state before the forward pass (visdet loads it strictly);
* ``out.<i>``: the outputs of one forward pass in the case's mode (train or eval);
* ``grad.input`` / ``grad.input.<l>``: gradients of sum_i <out_i, w_i> w.r.t. the inputs,
  with w_i drawn from a generator seeded with the input ``grad_seed`` + i;
* ``grad.param.<name>``: the same gradient for every parameter that requires grad
  (frozen parameters have none; an extra or missing key fails the comparison);
* ``after.<buffer>``: BN running statistics after the pass (train-mode cases only), which
  shows that frozen / norm_eval layers kept their statistics and the others moved.

Widths are reduced (base_channels 2-4) to keep each golden file in the hundreds of KB.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from parity.cases.base import STATE_PREFIX, Case, Tensors, register

RESNET_COMPONENT = "models/backbones/resnet"
FPN_COMPONENT = "models/necks/fpn"


# --------------------------------------------------------------------------- shared
def _randomise_state(module: nn.Module, seed: int) -> None:
    """Give norm layers and conv biases non-trivial values, drawn from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)):
                if sub.weight is not None:
                    sub.weight.copy_(torch.rand(sub.weight.shape, generator=gen) + 0.5)
                    sub.bias.copy_(torch.randn(sub.bias.shape, generator=gen) * 0.1)
                if getattr(sub, "running_mean", None) is not None:
                    sub.running_mean.copy_(torch.randn(sub.running_mean.shape, generator=gen) * 0.1)
                    sub.running_var.copy_(torch.rand(sub.running_var.shape, generator=gen) + 0.5)
            elif isinstance(sub, nn.Conv2d) and sub.bias is not None:
                sub.bias.copy_(torch.randn(sub.bias.shape, generator=gen) * 0.1)


def _set_mode(module: nn.Module, mode: str) -> None:
    if mode not in ("train", "eval"):
        raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
    module.train(mode == "train")


def _run(module: nn.Module, inputs: Sequence[torch.Tensor], as_list: bool, grad_seed: int, mode: str) -> Tensors:
    """One forward/backward pass; returns out.*, grad.*, after.* (train mode) tensors."""
    _set_mode(module, mode)
    leaves = [x.clone().requires_grad_(True) for x in inputs]
    outs = module(list(leaves)) if as_list else module(leaves[0])
    result: Tensors = {}
    total = torch.zeros(())
    for i, out in enumerate(outs):
        gen = torch.Generator().manual_seed(grad_seed + i)
        weight = torch.randn(out.shape, generator=gen)
        total = total + (out * weight).sum()
        result[f"out.{i}"] = out.detach().clone()
    total.backward()
    if as_list:
        for i, leaf in enumerate(leaves):
            # a level the module does not read (start_level > 0) has no gradient: zeros
            grad = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
            result[f"grad.input.{i}"] = grad.detach().clone()
    else:
        result["grad.input"] = leaves[0].grad.detach().clone()
    for name, param in module.named_parameters():
        if param.requires_grad:
            if param.grad is None:
                raise RuntimeError(f"parameter {name} requires grad but got none")
            result[f"grad.param.{name}"] = param.grad.detach().clone()
    if mode == "train":
        for name, buf in module.named_buffers():
            result[f"after.{name}"] = buf.detach().clone()
    return result


def _state_entries(module: nn.Module) -> Tensors:
    return {STATE_PREFIX + k: v.detach().clone() for k, v in module.state_dict().items()}


def _load_state(module: nn.Module, tensors: Mapping[str, torch.Tensor]) -> None:
    state = {k[len(STATE_PREFIX) :]: v for k, v in tensors.items() if k.startswith(STATE_PREFIX)}
    module.load_state_dict(state, strict=True)


def _grad_seed(generator: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 2**30, (1,), generator=generator)


# --------------------------------------------------------------------------- ResNet
def _resnet_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    return {
        "input": torch.randn(tuple(params["input_shape"]), generator=generator),
        "grad_seed": _grad_seed(generator),
    }


def _resnet_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.backbones.resnet import ResNet, ResNetV1d
    from mmdet.models.backbones.resnext import ResNeXt

    classes = {"ResNet": ResNet, "ResNetV1d": ResNetV1d, "ResNeXt": ResNeXt}
    torch.manual_seed(params["seed"])
    model = classes[params["arch"]](**params["kwargs"], init_cfg=None)
    _randomise_state(model, params["seed"] + 1)
    state = _state_entries(model)
    outputs = _run(model, [inputs["input"]], False, int(inputs["grad_seed"]), params["mode"])
    return {**state, **outputs}


def _resnet_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.models.backbones import ResNet, ResNetV1d, ResNeXt

    classes = {"ResNet": ResNet, "ResNetV1d": ResNetV1d, "ResNeXt": ResNeXt}
    model = classes[params["arch"]](**params["kwargs"])
    _load_state(model, tensors)
    return _run(model, [tensors["input"]], False, int(tensors["grad_seed"]), params["mode"])


def _resnet_case(
    name: str,
    arch: str,
    kwargs: dict[str, Any],
    mode: str,
    seed: int,
    description: str,
    input_shape: Sequence[int] = (2, 3, 48, 64),
) -> None:
    register(
        Case(
            component=RESNET_COMPONENT, dtype="float64",
            name=name,
            params={"arch": arch, "kwargs": kwargs, "mode": mode, "seed": seed, "input_shape": list(input_shape)},
            make_inputs=_resnet_inputs,
            reference=_resnet_reference,
            visdet=_resnet_visdet,
            seed=seed,
            description=description,
        )
    )


_resnet_case(
    "resnet18_eval",
    "ResNet",
    {"depth": 18, "base_channels": 4},
    "eval",
    11,
    "ResNet-18 (BasicBlock), eval mode, all four stages",
)
_resnet_case(
    "resnet50_pytorch_train",
    "ResNet",
    {"depth": 50, "base_channels": 2, "stem_channels": 8, "norm_eval": False},
    "train",
    12,
    "ResNet-50 pytorch style, train mode with batch statistics",
)
_resnet_case(
    "resnet50_caffe_eval",
    "ResNet",
    {
        "depth": 50,
        "base_channels": 4,
        "num_stages": 3,
        "strides": [1, 2, 2],
        "dilations": [1, 1, 1],
        "out_indices": [0, 1, 2],
        "style": "caffe",
    },
    "eval",
    13,
    "ResNet-50 caffe style (stride on the first 1x1 conv), 3 stages",
)
_resnet_case(
    "resnetv1d50_frozen1_train",
    "ResNetV1d",
    {
        "depth": 50,
        "base_channels": 4,
        "stem_channels": 8,
        "num_stages": 3,
        "strides": [1, 2, 2],
        "dilations": [1, 1, 1],
        "out_indices": [0, 1, 2],
        "frozen_stages": 1,
        "norm_eval": False,
    },
    "train",
    14,
    "ResNetV1d (deep stem, avg-pool shortcut), stem+stage 1 frozen, other BNs in train mode",
)
_resnet_case(
    "resnet18_frozen2_normeval_train",
    "ResNet",
    {"depth": 18, "base_channels": 4, "frozen_stages": 2, "norm_eval": True},
    "train",
    15,
    "ResNet-18, frozen_stages=2 and norm_eval in train mode",
)
_resnet_case(
    "resnet50_dilated_eval",
    "ResNet",
    {"depth": 50, "base_channels": 2, "strides": [1, 2, 2, 1], "dilations": [1, 1, 2, 4], "out_indices": [1, 3]},
    "eval",
    16,
    "ResNet-50 with dilated stages 3-4 (output stride 16)",
    input_shape=(1, 3, 48, 56),
)
_resnet_case(
    "resnet34_gn_train",
    "ResNet",
    {
        "depth": 34,
        "base_channels": 4,
        "num_stages": 2,
        "strides": [1, 2],
        "dilations": [1, 1],
        "out_indices": [0, 1],
        "norm_cfg": {"type": "GN", "num_groups": 2, "requires_grad": True},
    },
    "train",
    17,
    "ResNet-34 stages 1-2 with GroupNorm, train mode",
)
_resnet_case(
    "resnext50_train",
    "ResNeXt",
    {
        "depth": 50,
        "base_channels": 4,
        "groups": 4,
        "base_width": 2,
        "num_stages": 2,
        "strides": [1, 2],
        "dilations": [1, 1],
        "out_indices": [0, 1],
        "norm_eval": False,
    },
    "train",
    18,
    "ResNeXt-50 (grouped 3x3), stages 1-2, train mode",
)
_resnet_case(
    "resnet18_bn_nograd_train",
    "ResNet",
    {
        "depth": 18,
        "base_channels": 4,
        "num_stages": 2,
        "strides": [1, 2],
        "dilations": [1, 1],
        "out_indices": [1],
        "norm_eval": False,
        "norm_cfg": {"type": "BN", "requires_grad": False},
    },
    "train",
    19,
    "ResNet-18 with BN requires_grad=False (no BN param grads)",
)


# --------------------------------------------------------------------------- FPN
def _fpn_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    batch = params["batch"]
    channels = params["kwargs"]["in_channels"]
    tensors = {
        f"input.{i}": torch.randn((batch, c, h, w), generator=generator)
        for i, (c, (h, w)) in enumerate(zip(channels, params["sizes"]))
    }
    tensors["grad_seed"] = _grad_seed(generator)
    return tensors


def _fpn_levels(params: Mapping[str, Any], tensors: Tensors) -> list[torch.Tensor]:
    return [tensors[f"input.{i}"] for i in range(len(params["sizes"]))]


def _fpn_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.necks.fpn import FPN

    torch.manual_seed(params["seed"])
    model = FPN(**params["kwargs"])
    model.init_weights()
    _randomise_state(model, params["seed"] + 1)
    state = _state_entries(model)
    outputs = _run(model, _fpn_levels(params, inputs), True, int(inputs["grad_seed"]), params["mode"])
    return {**state, **outputs}


def _fpn_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.models.necks import FPN

    model = FPN(**params["kwargs"])
    _load_state(model, tensors)
    return _run(model, _fpn_levels(params, tensors), True, int(tensors["grad_seed"]), params["mode"])


# Level sizes of a 64x80 image at strides 4..32 (odd sizes make the size-mode upsampling
# differ from scale_factor=2).
_SIZES_ODD = [[16, 20], [8, 10], [4, 5], [2, 3]]
_SIZES_EVEN = [[32, 40], [16, 20], [8, 10], [4, 5]]
_IN_CHANNELS = [4, 8, 16, 32]


def _fpn_case(
    name: str,
    kwargs: dict[str, Any],
    seed: int,
    description: str,
    mode: str = "eval",
    sizes: list[list[int]] = _SIZES_ODD,
) -> None:
    register(
        Case(
            component=FPN_COMPONENT, dtype="float64",
            name=name,
            params={
                "kwargs": {"in_channels": _IN_CHANNELS, "out_channels": 8, **kwargs},
                "mode": mode,
                "seed": seed,
                "batch": 2,
                "sizes": sizes,
            },
            make_inputs=_fpn_inputs,
            reference=_fpn_reference,
            visdet=_fpn_visdet,
            seed=seed,
            description=description,
        )
    )


_fpn_case("maxpool_extra", {"num_outs": 5}, 31, "Faster R-CNN style: 4 levels + 1 max-pooled extra level")
_fpn_case(
    "on_input",
    {"num_outs": 6, "add_extra_convs": "on_input"},
    32,
    "two extra stride-2 convs, the first on the last backbone input",
)
_fpn_case(
    "extra_convs_no_extra_level",
    {"num_outs": 4, "add_extra_convs": "on_input"},
    41,
    "add_extra_convs with num_outs equal to the input levels: no extra level is built",
)
_fpn_case(
    "on_lateral", {"num_outs": 6, "add_extra_convs": "on_lateral"}, 33, "two extra convs, the first on the last lateral"
)
_fpn_case(
    "on_output_relu",
    {"num_outs": 6, "add_extra_convs": "on_output", "relu_before_extra_convs": True},
    34,
    "two extra convs on the last output, ReLU before the second",
)
_fpn_case(
    "retinanet_start1",
    {"num_outs": 5, "start_level": 1, "add_extra_convs": "on_input"},
    35,
    "RetinaNet style: start_level=1, extra convs on input (True -> on_input)",
)
_fpn_case(
    "bool_true_relu",
    {"num_outs": 5, "start_level": 1, "add_extra_convs": True, "relu_before_extra_convs": True},
    36,
    "add_extra_convs=True with relu_before_extra_convs",
)
_fpn_case(
    "end_level2",
    {"num_outs": 2, "start_level": 1, "end_level": 2},
    37,
    "start_level=1, end_level=2: only levels 1-2, no extra",
)
_fpn_case(
    "upsample_scale_factor",
    {"num_outs": 5, "upsample_cfg": {"scale_factor": 2}},
    38,
    "upsampling by scale_factor=2 (nearest)",
    sizes=_SIZES_EVEN,
)
_fpn_case(
    "upsample_bilinear",
    {"num_outs": 4, "upsample_cfg": {"mode": "bilinear", "align_corners": False}},
    39,
    "bilinear size-mode upsampling onto odd sizes",
)
_fpn_case(
    "bn_relu_no_lateral_norm_train",
    {
        "num_outs": 5,
        "add_extra_convs": "on_output",
        "norm_cfg": {"type": "BN", "requires_grad": True},
        "act_cfg": {"type": "ReLU"},
        "no_norm_on_lateral": True,
    },
    40,
    "BN + ReLU ConvModules, no norm on laterals, train mode",
    mode="train",
)
