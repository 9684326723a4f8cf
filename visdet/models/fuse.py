"""Prepare a detector for CPU inference: fold BatchNorm into convolutions, channels-last layout.

``fuse_for_inference(model)`` changes the model in place and returns it:

* **BatchNorm folding.** In eval mode a BatchNorm after a convolution is a per-channel
  affine map, ``y = (conv(x) - mean) * gamma / sqrt(var + eps) + beta``, so it can be
  moved into the convolution's weight and bias (computed in float64, stored in the
  weight's dtype) and replaced by ``nn.Identity``. Folded pairs are the ones whose
  forward applies the norm directly to the convolution's output: ``ConvModule`` with
  ``order`` ``conv`` then ``norm``; ResNet's plain stem and the ``convK``/``normK``
  pairs of ``BasicBlock``/``Bottleneck`` (ResNeXt's too); and a ``Conv2d`` followed by a
  ``BatchNorm`` inside an ``nn.Sequential`` (shortcuts, deep stems). GroupNorm and
  LayerNorm depend on the input and stay.
* **Channels-last.** 4-d parameters move to ``torch.channels_last``, so oneDNN runs the
  convolutions in NHWC without reordering each input (on 2 CPU cores the ResNet-50 + FPN
  trunk at 800x1216 took 0.82 s instead of 1.21 s). Inputs need no change: a convolution
  with a channels-last weight returns a channels-last output.

The result gives the same detections up to float32 rounding (the test bounds it: boxes
within 1e-3 px, scores within 1e-4 on the full-size Faster R-CNN), but its
``state_dict`` no longer has mmdet's keys (no BatchNorm entries; convolutions gain
biases), so ``state_dict()`` and ``load_state_dict()`` raise rather than hand out or take
weights in a layout no mmdet or visdet model has, and it cannot train: ``train()``
raises. Keep the unfused model for training,
saving and parity checks; the inference API fuses by default (``init_detector(...,
fuse=True)``, ``visdet predict`` unless ``--no-fuse``), ``visdet parity check`` never.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

FUSED_ATTR = "visdet_fused"


@dataclasses.dataclass(frozen=True)
class FuseInfo:
    """What :func:`fuse_for_inference` did to a model."""

    folded_norms: int
    channels_last: bool


def is_fused(model: nn.Module) -> bool:
    """Whether ``model`` went through :func:`fuse_for_inference`."""
    return isinstance(getattr(model, FUSED_ATTR, None), FuseInfo)


def fold_batchnorm(conv: nn.Conv2d, norm: _BatchNorm) -> None:
    """Fold eval-mode ``norm`` (applied to ``conv``'s output) into ``conv``'s weight and bias, in place."""
    if norm.running_mean is None or norm.running_var is None:
        raise ValueError(f"{type(norm).__name__} without running statistics cannot be folded")
    dtype = conv.weight.dtype
    scale = (norm.running_var.double() + norm.eps).rsqrt()
    if norm.weight is not None:
        scale = scale * norm.weight.detach().double()
    shift = -norm.running_mean.double() * scale
    if norm.bias is not None:
        shift = shift + norm.bias.detach().double()
    if conv.bias is not None:
        shift = shift + conv.bias.detach().double() * scale
    view = (-1,) + (1,) * (conv.weight.dim() - 1)
    weight = conv.weight.detach().double() * scale.view(view)
    conv.weight = nn.Parameter(weight.to(dtype), requires_grad=False)
    conv.bias = nn.Parameter(shift.to(dtype), requires_grad=False)


def _foldable(conv: Any, norm: Any) -> bool:
    return isinstance(conv, nn.Conv2d) and isinstance(norm, _BatchNorm) and norm.num_features == conv.out_channels


def _fold_named_pairs(module: nn.Module) -> int:
    """ResNet stem/blocks: ``convK`` followed directly by the norm named ``normK_name``."""
    from visdet.models.backbones.resnet import ResNet
    from visdet.models.backbones.resnet_blocks import BasicBlock, Bottleneck

    if not isinstance(module, (ResNet, BasicBlock, Bottleneck)):
        return 0
    folded = 0
    for k in (1, 2, 3):
        norm_name = getattr(module, f"norm{k}_name", None)
        conv = getattr(module, f"conv{k}", None)
        if norm_name is None or not _foldable(conv, getattr(module, norm_name, None)):
            continue
        fold_batchnorm(conv, getattr(module, norm_name))
        setattr(module, norm_name, nn.Identity())
        folded += 1
    return folded


def _fold_conv_module(module: nn.Module) -> int:
    from visdet.models.layers.conv_module import ConvModule

    if not isinstance(module, ConvModule) or module.norm_name is None:
        return 0
    order = tuple(module.order)
    if order.index("norm") != order.index("conv") + 1 or not _foldable(module.conv, module.norm):
        return 0
    fold_batchnorm(module.conv, module.norm)
    setattr(module, module.norm_name, nn.Identity())
    return 1


def _fold_sequential(module: nn.Module) -> int:
    if not isinstance(module, nn.Sequential):
        return 0
    folded = 0
    names = list(module._modules)
    for first, second in zip(names, names[1:]):
        conv, norm = module._modules[first], module._modules[second]
        if _foldable(conv, norm):
            fold_batchnorm(conv, norm)
            module._modules[second] = nn.Identity()
            folded += 1
    return folded


def _refuse_train(self: nn.Module, mode: bool = True) -> nn.Module:
    if mode:
        raise RuntimeError(
            "this model was fused for inference (BatchNorm folded into convolutions, see "
            "visdet.models.fuse); build or load it again without fusing to train it"
        )
    return nn.Module.train(self, False)


def _refuse_state_dict(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(
        "this model was fused for inference: its weights no longer have mmdet's keys (BatchNorm folded "
        "into convolutions, see visdet.models.fuse); save or load the weights of the unfused model "
        "(visdet.init_detector(..., fuse=False) or visdet.build_detector)"
    )


def fuse_for_inference(model: nn.Module, *, fold_bn: bool = True, channels_last: bool = True) -> nn.Module:
    """Fold BatchNorm into convolutions and move 4-d weights to channels-last, in place.

    Args:
        model: Any visdet model (a detector, a backbone, ...); put in eval mode.
        fold_bn: Fold eval-mode BatchNorm layers into the convolutions before them.
        channels_last: Store 4-d parameters and buffers in ``torch.channels_last``.

    Returns:
        ``model``, with ``model.visdet_fused`` (a :class:`FuseInfo`) set; ``train()``
        refuses training mode and ``state_dict()``/``load_state_dict()`` raise.
    """
    if is_fused(model):
        return model
    model.eval()
    folded = 0
    if fold_bn:
        with torch.no_grad():
            for module in list(model.modules()):
                folded += _fold_named_pairs(module) + _fold_conv_module(module) + _fold_sequential(module)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    setattr(model, FUSED_ATTR, FuseInfo(folded_norms=folded, channels_last=channels_last))
    # partials of module-level functions (not bound methods), so that a fused model pickles
    model.train = functools.partial(_refuse_train, model)
    model.state_dict = functools.partial(_refuse_state_dict, model)
    model.load_state_dict = functools.partial(_refuse_state_dict, model)
    return model
