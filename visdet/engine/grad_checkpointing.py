"""Switch gradient checkpointing of backbone blocks on or off.

Blocks that support it carry a ``with_cp`` flag (ResNet's ``BasicBlock``/``Bottleneck``):
their activations are recomputed in the backward pass instead of stored, trading compute
for memory. The result is numerically the same.
"""

from __future__ import annotations

from torch import nn


def set_grad_checkpointing(model: nn.Module, enabled: bool = True) -> int:
    """Set ``with_cp = enabled`` on every submodule that has the flag; returns how many."""
    count = 0
    for module in model.modules():
        if hasattr(module, "with_cp"):
            module.with_cp = enabled
            count += 1
    return count
