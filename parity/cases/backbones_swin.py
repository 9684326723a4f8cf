"""Parity cases for the Swin Transformer backbone: outputs and gradients in float64.

Each case builds mmdet's ``SwinTransformer`` under ``torch.manual_seed(seed)``, gives the
LayerNorms, relative position bias tables and absolute position embedding non-trivial
values (mmdet starts them at 1/0/zeros), rounds every floating parameter to a float32
value and stores it as float32 (halving the golden; the model runs in float64), and records

* ``out.<i>``: the feature maps of one forward pass in the case's mode;
* ``grad.input`` and ``grad.param.<name>``: gradients of sum_i <out_i, w_i> with w_i drawn
  from a generator seeded with ``grad_seed`` + i (frozen parameters have none).

Train-mode cases seed torch's global RNG (``rng_seed``) right before the forward pass,
so with ``drop_path_rate > 0`` both libraries must draw the same stochastic-depth
samples in the same order. Image sizes are chosen so that the patch embedding, the
window partition and the patch merging all pad. Widths are reduced (embed_dims 16-24,
two stages, mlp_ratio 1-2) to keep the three goldens near 1.6 MB together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from parity.cases.base import STATE_PREFIX, Case, Tensors, register

SWIN_COMPONENT = "models/backbones/swin"


def _randomise_state(module: nn.Module, seed: int) -> None:
    """Non-trivial norms, bias tables and position embedding, then float32-representable values."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            if name.endswith("relative_position_bias_table") or name == "absolute_pos_embed":
                param.copy_(torch.randn(param.shape, generator=gen) * 0.5)
        for sub in module.modules():
            if isinstance(sub, nn.LayerNorm):
                sub.weight.copy_(torch.rand(sub.weight.shape, generator=gen) + 0.5)
                sub.bias.copy_(torch.randn(sub.bias.shape, generator=gen) * 0.1)
        for param in module.parameters():
            param.copy_(param.float())


def _run(module: nn.Module, params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    if params["mode"] == "train":
        module.train()  # no argument: train()'s default mode is mirrored too
    else:
        module.eval()
    leaf = tensors["input"].clone().requires_grad_(True)
    torch.manual_seed(int(tensors["rng_seed"]))
    outs = module(leaf)
    result: Tensors = {}
    total = torch.zeros(())
    for i, out in enumerate(outs):
        gen = torch.Generator().manual_seed(int(tensors["grad_seed"]) + i)
        total = total + (out * torch.randn(out.shape, generator=gen)).sum()
        result[f"out.{i}"] = out.detach().clone()
    total.backward()
    result["grad.input"] = leaf.grad.detach().clone()
    for name, param in module.named_parameters():
        if param.requires_grad:
            if param.grad is None:
                raise RuntimeError(f"parameter {name} requires grad but got none")
            result[f"grad.param.{name}"] = param.grad.detach().clone()
    return result


def _inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    return {
        "input": torch.randn(tuple(params["input_shape"]), generator=generator),
        "grad_seed": torch.randint(0, 2**30, (1,), generator=generator),
        "rng_seed": torch.randint(0, 2**30, (1,), generator=generator),
    }


def _reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.backbones.swin import SwinTransformer

    torch.manual_seed(params["seed"])
    model = SwinTransformer(**params["kwargs"], init_cfg=None)
    model.init_weights()
    _randomise_state(model, params["seed"] + 1)
    state = {STATE_PREFIX + k: (v.float() if v.is_floating_point() else v).detach().clone()
             for k, v in model.state_dict().items()}  # fmt: skip
    return {**state, **_run(model, params, inputs)}


def _visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.models.backbones import SwinTransformer

    model = SwinTransformer(**params["kwargs"])
    state = {k[len(STATE_PREFIX) :]: v for k, v in tensors.items() if k.startswith(STATE_PREFIX)}
    model.load_state_dict(state, strict=True)
    return _run(model, params, tensors)


def _swin_case(name: str, kwargs: dict[str, Any], mode: str, seed: int, input_shape: Sequence[int],
               description: str) -> None:  # fmt: skip
    register(
        Case(
            component=SWIN_COMPONENT,
            dtype="float64",
            name=name,
            params={"kwargs": kwargs, "mode": mode, "seed": seed, "input_shape": list(input_shape)},
            make_inputs=_inputs,
            reference=_reference,
            visdet=_visdet,
            seed=seed,
            description=description,
        )
    )


_swin_case(
    "swin_eval",
    {
        "embed_dims": 24,
        "depths": [2, 1],
        "num_heads": [3, 6],
        "strides": [4, 2],
        "out_indices": [0, 1],
        "window_size": 4,
        "mlp_ratio": 2,
        "drop_path_rate": 0.0,
    },
    "eval",
    51,
    (2, 3, 38, 55),
    "2 stages (embed 24, heads 3/6, window 4), eval: 38x55 pads to 40x56 in the patch embedding, "
    "10x14 to 12x16 windows (shifted, with the region mask, over a batch of 2), 5x7 merged with padding",
)
_swin_case(
    "swin_drop_path_train",
    {
        "embed_dims": 16,
        "depths": [2, 2],
        "num_heads": [2, 4],
        "strides": [4, 2],
        "out_indices": [0, 1],
        "window_size": 3,
        "mlp_ratio": 1,
        "drop_path_rate": 0.5,
    },
    "train",
    52,
    (2, 3, 28, 44),
    "train mode with drop_path_rate 0.5 (rates linspace over the 4 blocks, per-sample draws in mmdet's order), "
    "window 3 (shift 1), 7x11 merged with padding to 4x6",
)
_swin_case(
    "swin_pad_right_only",
    {"embed_dims": 16, "depths": [2], "num_heads": [2], "strides": [4], "out_indices": [0], "window_size": 4,
     "mlp_ratio": 1, "drop_path_rate": 0.0},
    "eval",
    56,
    (1, 3, 32, 60),
    "one stage, window 4: 8x15 tokens pad on the right only (by 1 column), so only the width is cropped back",
)  # fmt: skip
_swin_case(
    "swin_frozen_abs_pos_train",
    {"embed_dims": 24, "depths": [2, 2], "num_heads": [2, 4], "strides": [4, 2], "out_indices": [0, 1],
     "window_size": 4, "mlp_ratio": 1, "drop_path_rate": 0.0, "frozen_stages": 1, "use_abs_pos_embed": True,
     "pretrain_img_size": [32, 48], "patch_norm": False, "qkv_bias": False, "qk_scale": 0.25, "with_cp": True},
    "train",
    53,
    (1, 3, 32, 48),
    "train mode: frozen patch embedding, stage 1 and its output norm; absolute position embedding, no patch norm, "
    "qkv without bias, qk_scale 0.25, gradient checkpointing",
)  # fmt: skip
_swin_case(
    "swin_window_1",
    {"embed_dims": 8, "depths": [2], "num_heads": [2], "strides": [4], "out_indices": [0], "window_size": 1,
     "mlp_ratio": 1, "drop_path_rate": 0.0},
    "eval",
    57,
    (1, 3, 12, 8),
    "one stage, window 1 (shift 0): a 1x1 bias table, every token attends to itself only",
)  # fmt: skip
