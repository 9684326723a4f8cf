"""Set a detector up for fine-tuning: ``full``, ``head_only`` or ``lora``.

* ``full``: every parameter the model trains anyway (a backbone's ``frozen_stages``
  stay frozen, as in mmdet).
* ``head_only``: only the ``trainable`` layers (by default the heads' final class-
  dependent layers: :data:`CLASS_LAYERS`).
* ``lora``: every weight frozen; LoRA adapters on the ``target_modules`` layers that full
  fine-tuning would train, and the ``trainable`` layers trained in full (they are
  re-initialised when the class count changes, so an adapter on them makes no sense).

:func:`load_pretrained` loads a checkpoint trained on other classes: the ``trainable``
layers whose shapes differ keep their fresh initialisation (mmengine's ``load_from``
skips size mismatches the same way, with a warning).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from torch import nn

from visdet.checkpoint import read_state_dict, tensor_mismatches
from visdet.engine.finetune.lora import apply_lora, matches

Method = Literal["full", "head_only", "lora"]

# the layers whose shapes follow num_classes: Faster/Mask/Cascade R-CNN's bbox head (fc_cls,
# fc_reg: 4 * num_classes unless class-agnostic), RetinaNet's retina_cls, FCOS's conv_cls,
# the mask head's conv_logits
CLASS_LAYERS = ("*.fc_cls", "*.fc_reg", "*.retina_cls", "*.conv_cls", "*.conv_logits")


@dataclass
class FinetuneSummary:
    """What :func:`prepare_finetune` did: adapted layers and the parameter counts."""

    method: str
    adapted: list[str] = field(default_factory=list)
    trainable_params: int = 0
    total_params: int = 0


def prepare_finetune(
    model: nn.Module,
    *,
    method: Method,
    rank: int = 8,
    alpha: float = 16.0,
    dropout: float = 0.0,
    target_modules: Sequence[str] = ("*",),
    trainable: Sequence[str] = CLASS_LAYERS,
) -> FinetuneSummary:
    """Freeze, adapt and unfreeze ``model``'s parameters for ``method`` (in place; see the module docstring).

    Raises:
        ValueError: Unknown ``method``; or ``head_only`` / ``lora`` where no parameter
            would train (nothing matched ``trainable`` or ``target_modules``).
    """
    if method not in ("full", "head_only", "lora"):
        raise ValueError(f"finetune method must be 'full', 'head_only' or 'lora', got {method!r}")
    summary = FinetuneSummary(method=method)
    if method != "full":
        was_trainable = {name for name, p in model.named_parameters() if p.requires_grad}
        if method == "lora":  # adapters where full fine-tuning trains (decided before freezing)
            summary.adapted = apply_lora(model, rank=rank, alpha=alpha, dropout=dropout,
                                         target_modules=target_modules, exclude=trainable)  # fmt: skip
        for name, param in model.named_parameters():
            module_name = name.rpartition(".")[0]
            if name.endswith((".lora_A", ".lora_B")):
                continue
            param.requires_grad_(name in was_trainable and matches(module_name, trainable))
    summary.trainable_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    summary.total_params = sum(p.numel() for p in model.parameters())
    if summary.trainable_params == 0:
        raise ValueError(f"finetune method {method!r}: no parameter is trainable (trainable={list(trainable)})")
    return summary


def load_pretrained(
    model: nn.Module, path: str | os.PathLike[str], *, reinit: Sequence[str] = CLASS_LAYERS
) -> list[str]:
    """Load ``path`` into ``model``, leaving ``reinit`` layers whose shapes differ as they are.

    Returns:
        The keys skipped (shape mismatches under ``reinit``); a warning names them.

    Raises:
        ValueError: Keys missing or unexpected, or a shape mismatch outside ``reinit``.
    """
    state = read_state_dict(path)
    own = model.state_dict()
    mismatched = [line.split(":", 1)[0] for line in tensor_mismatches(own, state)]
    skipped = [key for key in mismatched if matches(key.rpartition(".")[0], reinit)]
    others = [key for key in mismatched if key not in skipped]
    missing = [key for key in own if key not in state]
    unexpected = [key for key in state if key not in own]
    if others or missing or unexpected:
        raise ValueError(f"{os.fspath(path)!r} does not fit {type(model).__name__}: shape mismatches {others[:10]}, "
                         f"missing {missing[:10]}, unexpected {unexpected[:10]}")  # fmt: skip
    if skipped:
        warnings.warn(f"{os.fspath(path)}: kept the fresh initialisation of {skipped} (shapes differ: other classes)",
                      stacklevel=2)  # fmt: skip
    model.load_state_dict({k: v for k, v in state.items() if k not in skipped}, strict=False)
    return skipped
