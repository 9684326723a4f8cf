"""Discriminative (layer-wise decayed) learning rates for detectors.

The model is cut into ordered layer groups, from the input to the output: the backbone
stem (everything of the backbone not in a stage), each backbone stage (``layer1``,
``layer2``, ...), the neck, and the heads (``rpn_head``, ``roi_head``, every other
top-level child) as the last group. Group ``i`` of ``L`` trains at
``decay ** (L - 1 - i)`` times the base learning rate, so the heads get the base rate
and earlier layers, holding more general features, get less.
"""

from __future__ import annotations

import re

from torch import nn

STAGE_NAME = re.compile(r"^(layer|stage|stages\.)\d+$")


def detector_layer_groups(model: nn.Module) -> list[list[str]]:
    """Ordered groups of module-name prefixes: stem, backbone stages, neck, heads.

    Args:
        model: A detector with ``backbone`` (and optionally ``neck``) children.

    Returns:
        Lists of prefixes, input side first; groups without parameters are dropped.
    """
    children = dict(model.named_children())
    if "backbone" not in children:
        raise ValueError(f"discriminative LRs need a model with a 'backbone' child, got children {sorted(children)}")
    backbone = children["backbone"]
    stem, stages = [], []
    for name, child in backbone.named_children():
        if not any(p.requires_grad for p in child.parameters()):
            continue
        (stages if STAGE_NAME.match(name) else stem).append(f"backbone.{name}")
    groups = [stem] + [[s] for s in stages]
    if "neck" in children:
        groups.append(["neck"])
    heads = [n for n, c in children.items() if n not in ("backbone", "neck") and any(True for _ in c.parameters())]
    groups.append(heads)
    return [g for g in groups if g]


def layerwise_lr_mults(model: nn.Module, *, decay: float) -> dict[str, float]:
    """``{prefix: decay ** (L - 1 - i)}`` for :func:`detector_layer_groups` (pass to ``build_optimizer``).

    Args:
        model: The detector.
        decay: Factor between consecutive groups, in ``(0, 1]``.
    """
    if not 0 < decay <= 1:
        raise ValueError(f"layer-wise decay must be in (0, 1], got {decay}")
    groups = detector_layer_groups(model)
    last = len(groups) - 1
    return {prefix: decay ** (last - i) for i, group in enumerate(groups) for prefix in group}
