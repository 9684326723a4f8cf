"""Put LoRA adapters on a detector's layers, merge them back, and save or load them alone.

Module names are matched with ``fnmatch`` patterns on the dotted names of
``model.named_modules()`` (``backbone.layer4.*``, ``neck.*``, ``roi_head.bbox_head.shared_fcs.*``).
Adapted layers keep their keys (see :mod:`visdet.models.layers.lora`), so a LoRA model's
``state_dict`` is the base model's plus ``*.lora_A`` / ``*.lora_B`` entries, and
:func:`merge_lora` turns it back into a plain model whose ``state_dict`` has exactly
mmdet's keys.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from visdet.engine.checkpoint_io import atomic_torch_save
from visdet.models.layers.lora import LoRAConv2d, LoRALinear, lora_layer

ADAPTER_SUFFIXES = (".lora_A", ".lora_B")


def matches(name: str, patterns: Iterable[str]) -> bool:
    """Whether the dotted module name ``name`` matches any ``fnmatch`` pattern (or a parent does)."""
    parts = name.split(".")
    prefixes = [".".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatchcase(prefix, pattern) for pattern in patterns for prefix in prefixes)


def _set_child(model: nn.Module, name: str, child: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, child)


def apply_lora(
    model: nn.Module,
    *,
    rank: int,
    alpha: float,
    dropout: float = 0.0,
    target_modules: Sequence[str] = ("*",),
    exclude: Sequence[str] = (),
    skip_frozen: bool = True,
) -> list[str]:
    """Replace the matching ``nn.Linear`` / ``nn.Conv2d`` layers of ``model`` by LoRA layers (in place).

    Adapter initialisation draws from torch's RNG (``lora_A``; ``lora_B`` is zero), so a
    seeded run adapts identically.

    Args:
        model: The model to adapt.
        rank: Rank of every update.
        alpha: Each update is scaled by ``alpha / rank``.
        dropout: Dropout on the adapter branch in training.
        target_modules: ``fnmatch`` patterns of module names to adapt (a pattern naming a
            parent adapts every layer under it).
        exclude: Patterns never adapted (layers trained in full, say).
        skip_frozen: Leave layers whose weight already had ``requires_grad=False`` (a
            backbone's ``frozen_stages``) without adapters, as full fine-tuning leaves them.

    Returns:
        The names of the adapted layers.

    Raises:
        ValueError: No layer matched ``target_modules``.
    """
    names = []
    for name, module in list(model.named_modules()):
        if type(module) not in (nn.Linear, nn.Conv2d) or not matches(name, target_modules) or matches(name, exclude):
            continue
        if skip_frozen and not module.weight.requires_grad:
            continue
        _set_child(model, name, lora_layer(module, rank=rank, alpha=alpha, dropout=dropout))
        names.append(name)
    if not names:
        raise ValueError(
            f"no nn.Linear / nn.Conv2d layer of {type(model).__name__} matches target_modules={list(target_modules)} "
            f"(exclude={list(exclude)})"
        )
    return names


def lora_layers(model: nn.Module) -> dict[str, LoRALinear | LoRAConv2d]:
    """The LoRA layers of ``model`` by name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, (LoRALinear, LoRAConv2d))}


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every adapter into its base weight (in place); returns ``model``, now without LoRA layers.

    The merged model is a plain visdet model: its ``state_dict`` has the base model's
    keys only, and its parameters' ``requires_grad`` flags are left as they were.
    """
    for name, layer in lora_layers(model).items():
        merged = layer.merged()
        merged.weight.requires_grad_(layer.weight.requires_grad)
        if merged.bias is not None:
            merged.bias.requires_grad_(layer.bias.requires_grad)
        _set_child(model, name, merged)
    return model


def trainable_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The adapters and every other trainable parameter (what a LoRA run changed), detached."""
    keep = {name for name, p in model.named_parameters() if p.requires_grad}
    keep |= {key for key in model.state_dict() if key.endswith(ADAPTER_SUFFIXES)}
    return {key: value.detach().clone() for key, value in model.state_dict().items() if key in keep}


def load_trainable_state_dict(model: nn.Module, state: Mapping[str, Tensor]) -> None:
    """Load what :func:`trainable_state_dict` saved into a model adapted the same way.

    Raises:
        ValueError: A key of ``state`` is not in the model, or an adapter of the model is
            missing from ``state``; the message names them.
    """
    own = model.state_dict()
    unknown = [key for key in state if key not in own]
    missing = [key for key in own if key.endswith(ADAPTER_SUFFIXES) and key not in state]
    if unknown or missing:
        raise ValueError(
            f"adapter state does not fit the model: unknown keys {unknown[:10]}, missing adapters {missing[:10]} "
            "(was apply_lora called with the same settings?)"
        )
    model.load_state_dict(dict(state), strict=False)


def save_finetuned(model: nn.Module, path: str | Path, *, merged: bool = False) -> Path:
    """Save a fine-tuned model: its adapters and trainable layers alone (small), or merged.

    ``merged=True`` writes ``{"state_dict": ...}`` of a merged copy (mmdet's keys; loads
    into a plain model with :func:`visdet.load_checkpoint`); otherwise
    ``{"adapters": ...}`` from :func:`trainable_state_dict`, which
    :func:`load_trainable_state_dict` reads back into the adapted base model.
    """
    if merged:
        import copy

        state = {"state_dict": merge_lora(copy.deepcopy(model)).state_dict()}
    else:
        state = {"adapters": trainable_state_dict(model)}
    return atomic_torch_save(state, path)


def read_adapters(path: str | Path) -> dict[str, Tensor]:
    """The ``adapters`` entry of a file :func:`save_finetuned` wrote (read weights-only)."""
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, Mapping) or "adapters" not in data:
        raise ValueError(f"{str(path)!r} holds no 'adapters' entry (not written by save_finetuned(merged=False))")
    return dict(data["adapters"])
