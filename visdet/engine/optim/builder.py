"""Build a torch optimizer with parameter-wise options (mmengine's ``paramwise_cfg`` semantics).

Per parameter, the learning rate and weight decay are the base values times:

* ``lr_mults[prefix]`` for the longest prefix of the parameter's name in ``lr_mults``
  (discriminative / layer-wise learning rates, see :mod:`.discriminative`);
* ``custom_keys[key]["lr_mult"]`` / ``["decay_mult"]`` for the first key found as a
  substring of the name, longest keys tried first (mmengine's rule);
* ``norm_decay_mult`` on the weight and bias of normalisation layers, and
  ``bias_decay_mult`` on other biases (``0.0`` means no decay; ``1.0``, the default,
  keeps mmdet's behaviour).

Parameters with ``requires_grad=False`` (frozen stages) are left out. Parameters that end
up with the same (lr, weight decay) share one group; each group records ``lr_mult`` and
``decay_mult`` and lists its parameter names under ``"names"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)
OPTIMIZERS = {"sgd": torch.optim.SGD, "adamw": torch.optim.AdamW, "adam": torch.optim.Adam}


def _longest_prefix(name: str, prefixes: Mapping[str, float]) -> float:
    best, mult = -1, 1.0
    for prefix, value in prefixes.items():
        if (name == prefix or name.startswith(prefix + ".") or prefix == "") and len(prefix) > best:
            best, mult = len(prefix), value
    return mult


def param_groups(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    norm_decay_mult: float = 1.0,
    bias_decay_mult: float = 1.0,
    custom_keys: Mapping[str, Mapping[str, float]] | None = None,
    lr_mults: Mapping[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Parameter groups for an optimizer; see the module docstring for the rules.

    Returns:
        Groups with ``params``, ``names``, ``lr``, ``weight_decay``, ``lr_mult``, ``decay_mult``.
    """
    custom_keys = dict(custom_keys or {})
    ordered_keys = sorted(sorted(custom_keys), key=len, reverse=True)
    for key, opts in custom_keys.items():
        unknown = set(opts) - {"lr_mult", "decay_mult"}
        if unknown:
            raise KeyError(f"custom_keys[{key!r}] has unknown options {sorted(unknown)} (use lr_mult, decay_mult)")
    groups: dict[tuple[float, float], dict[str, Any]] = {}
    seen: set[int] = set()
    for module_name, module in model.named_modules():
        is_norm = isinstance(module, NORM_TYPES)
        for param_name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            name = f"{module_name}.{param_name}" if module_name else param_name
            lr_mult = _longest_prefix(name, lr_mults or {})
            decay_mult = 1.0
            if is_norm:
                decay_mult *= norm_decay_mult
            elif param_name == "bias":
                decay_mult *= bias_decay_mult
            for key in ordered_keys:
                if key in name:
                    lr_mult *= custom_keys[key].get("lr_mult", 1.0)
                    decay_mult *= custom_keys[key].get("decay_mult", 1.0)
                    break
            slot = (lr_mult, decay_mult)
            group = groups.setdefault(
                slot,
                {
                    "params": [],
                    "names": [],
                    "lr": lr * lr_mult,
                    "weight_decay": weight_decay * decay_mult,
                    "lr_mult": lr_mult,
                    "decay_mult": decay_mult,
                },  # fmt: skip
            )
            group["params"].append(param)
            group["names"].append(name)
    if not groups:
        raise ValueError("the model has no trainable parameters (all have requires_grad=False)")
    return list(groups.values())


def build_optimizer(
    model: nn.Module,
    *,
    name: str = "sgd",
    lr: float = 0.02,
    weight_decay: float = 1e-4,
    momentum: float = 0.9,
    betas: tuple[float, float] = (0.9, 0.999),
    norm_decay_mult: float = 1.0,
    bias_decay_mult: float = 1.0,
    custom_keys: Mapping[str, Mapping[str, float]] | None = None,
    lr_mults: Mapping[str, float] | None = None,
    options: Mapping[str, Any] | None = None,
) -> torch.optim.Optimizer:
    """Build ``SGD`` / ``AdamW`` / ``Adam`` over :func:`param_groups`.

    Args:
        model: The model (unwrapped; not DDP).
        name: ``"sgd"``, ``"adamw"`` or ``"adam"`` (case-insensitive).
        lr: Base learning rate.
        weight_decay: Base weight decay.
        momentum: SGD momentum.
        betas: Adam(W) betas.
        norm_decay_mult: Weight-decay multiplier of normalisation parameters.
        bias_decay_mult: Weight-decay multiplier of (non-norm) biases.
        custom_keys: mmengine-style ``{substring: {"lr_mult": .., "decay_mult": ..}}``.
        lr_mults: ``{module-name prefix: lr multiplier}`` (see :mod:`.discriminative`).
        options: Further keyword arguments of the torch optimizer (``nesterov``,
            ``dampening``; ``eps``, ``amsgrad``).

    Returns:
        The optimizer.
    """
    key = name.lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr}")
    groups = param_groups(
        model,
        lr=lr,
        weight_decay=weight_decay,
        norm_decay_mult=norm_decay_mult,
        bias_decay_mult=bias_decay_mult,
        custom_keys=custom_keys,
        lr_mults=lr_mults,
    )
    extra = dict(options or {})
    if key == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay, **extra)
    return OPTIMIZERS[key](groups, lr=lr, betas=tuple(betas), weight_decay=weight_decay, **extra)
