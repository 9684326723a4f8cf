"""Build a torch optimizer with parameter-wise options (mmengine's ``paramwise_cfg`` semantics).

Per parameter, the learning rate and weight decay are the base values times:

* ``lr_mults[prefix]`` for the longest prefix of the parameter's name in ``lr_mults``
  (discriminative / layer-wise learning rates, see :mod:`.discriminative`);
* ``custom_keys[key]["lr_mult"]`` / ``["decay_mult"]`` for the first key found as a
  substring of the name, longest keys tried first (mmengine's rule); a parameter that
  matches a custom key gets none of the rules below (as mmengine's
  ``DefaultOptimWrapperConstructor``);
* otherwise ``bias_lr_mult`` on the learning rate of every bias except those of
  normalisation layers, and for the weight decay the first rule that applies, in
  mmengine's order: ``norm_decay_mult`` on the weight and bias of normalisation layers
  (``_BatchNorm``, ``_InstanceNorm``, ``GroupNorm``, ``LayerNorm``), ``bias_decay_mult``
  on other biases (and on norm biases when ``norm_decay_mult`` is unset),
  ``dwconv_decay_mult`` on depth-wise convolutions (``in_channels == groups``),
  ``flat_decay_mult`` on other one-dimensional parameters. An unset (``None``)
  multiplier is no rule; ``0.0`` means no decay.

Parameters with ``requires_grad=False`` (frozen stages) are left out. A parameter shared
by two modules (``RTMDetSepBNHead(share_conv=True)``) is an error unless
``bypass_duplicate=True``, which keeps its first name (mmengine: torch refuses a
parameter in two groups). Parameters that end up with the same (lr, weight decay) share
one group; each group records ``lr_mult`` and ``decay_mult``, lists its parameter
names under ``"names"`` and their positions in mmengine's order (the model's recursion, where
mmengine makes one group per parameter) under ``"order"``, which gradient clipping follows
(:mod:`.clip`).
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


def _named_parameters(model: nn.Module, prefix: str = "") -> Any:
    """``(module, module name, parameter name, parameter)`` in mmengine's recursion order.

    Unlike ``named_modules``, a module reachable twice is visited twice (as mmengine's
    ``add_params`` does), so shared parameters show up as duplicates.
    """
    for param_name, param in model.named_parameters(recurse=False):
        yield model, prefix, param_name, param
    for child_name, child in model.named_children():
        yield from _named_parameters(child, f"{prefix}.{child_name}" if prefix else child_name)


def _multipliers(
    module: nn.Module, param_name: str, param: nn.Parameter, rules: Mapping[str, float | None]
) -> tuple[float, float]:
    """``(lr_mult, decay_mult)`` of the bias/norm/dwconv/flat rules (mmengine's order)."""
    is_norm = isinstance(module, NORM_TYPES)
    is_bias = param_name == "bias"
    lr_mult = decay_mult = 1.0
    if is_bias and not is_norm and rules["bias_lr_mult"] is not None:
        lr_mult = rules["bias_lr_mult"]
    if is_norm and rules["norm_decay_mult"] is not None:
        decay_mult = rules["norm_decay_mult"]
    elif is_bias and rules["bias_decay_mult"] is not None:
        decay_mult = rules["bias_decay_mult"]
    elif (
        isinstance(module, nn.Conv2d) and module.in_channels == module.groups and rules["dwconv_decay_mult"] is not None
    ):
        decay_mult = rules["dwconv_decay_mult"]
    elif param.ndim == 1 and rules["flat_decay_mult"] is not None:
        decay_mult = rules["flat_decay_mult"]
    return lr_mult, decay_mult


def param_groups(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    norm_decay_mult: float | None = None,
    bias_decay_mult: float | None = None,
    bias_lr_mult: float | None = None,
    dwconv_decay_mult: float | None = None,
    flat_decay_mult: float | None = None,
    bypass_duplicate: bool = False,
    custom_keys: Mapping[str, Mapping[str, float]] | None = None,
    lr_mults: Mapping[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Parameter groups for an optimizer; see the module docstring for the rules.

    Returns:
        Groups with ``params``, ``names``, ``order``, ``lr``, ``weight_decay``, ``lr_mult``, ``decay_mult``.

    Raises:
        ValueError: A parameter is shared and ``bypass_duplicate`` is false, or no
            parameter is trainable.
        KeyError: A custom key has an option other than ``lr_mult`` / ``decay_mult``.
    """
    custom_keys = dict(custom_keys or {})
    ordered_keys = sorted(sorted(custom_keys), key=len, reverse=True)
    for key, opts in custom_keys.items():
        unknown = set(opts) - {"lr_mult", "decay_mult"}
        if unknown:
            raise KeyError(f"custom_keys[{key!r}] has unknown options {sorted(unknown)} (use lr_mult, decay_mult)")
    rules = {"norm_decay_mult": norm_decay_mult, "bias_decay_mult": bias_decay_mult, "bias_lr_mult": bias_lr_mult,
             "dwconv_decay_mult": dwconv_decay_mult, "flat_decay_mult": flat_decay_mult}  # fmt: skip
    groups: dict[tuple[float, float], dict[str, Any]] = {}
    seen: dict[int, str] = {}
    for module, module_name, param_name, param in _named_parameters(model):
        name = f"{module_name}.{param_name}" if module_name else param_name
        if id(param) in seen:
            if not bypass_duplicate:
                raise ValueError(
                    f"parameter {name!r} is the same tensor as {seen[id(param)]!r} (a shared module); "
                    "set paramwise_cfg.bypass_duplicate=True to keep it once, as mmengine does"
                )
            continue
        seen[id(param)] = name
        if not param.requires_grad:
            continue
        lr_mult = _longest_prefix(name, lr_mults or {})
        custom = next((key for key in ordered_keys if key in f"{module_name}.{param_name}"), None)
        if custom is not None:  # a custom key overrides every other rule (mmengine)
            lr_mult *= custom_keys[custom].get("lr_mult", 1.0)
            decay_mult = custom_keys[custom].get("decay_mult", 1.0)
        else:
            rule_lr, decay_mult = _multipliers(module, param_name, param, rules)
            lr_mult *= rule_lr
        group = groups.setdefault(
            (lr_mult, decay_mult),
            {"params": [], "names": [], "order": [], "lr": lr * lr_mult, "weight_decay": weight_decay * decay_mult,
             "lr_mult": lr_mult, "decay_mult": decay_mult},
        )  # fmt: skip
        group["order"].append(sum(len(g["params"]) for g in groups.values()))
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
    norm_decay_mult: float | None = None,
    bias_decay_mult: float | None = None,
    bias_lr_mult: float | None = None,
    dwconv_decay_mult: float | None = None,
    flat_decay_mult: float | None = None,
    bypass_duplicate: bool = False,
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
        bias_decay_mult: Weight-decay multiplier of biases (see the module docstring).
        bias_lr_mult: Learning-rate multiplier of non-norm biases.
        dwconv_decay_mult: Weight-decay multiplier of depth-wise convolutions.
        flat_decay_mult: Weight-decay multiplier of other 1-d parameters.
        bypass_duplicate: Keep a shared parameter once instead of raising.
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
        bias_lr_mult=bias_lr_mult,
        dwconv_decay_mult=dwconv_decay_mult,
        flat_decay_mult=flat_decay_mult,
        bypass_duplicate=bypass_duplicate,
        custom_keys=custom_keys,
        lr_mults=lr_mults,
    )
    extra = dict(options or {})
    if key == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay, **extra)
    return OPTIMIZERS[key](groups, lr=lr, betas=tuple(betas), weight_decay=weight_decay, **extra)
