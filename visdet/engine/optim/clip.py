"""Gradient clipping before an optimizer step, as mmengine's ``OptimWrapper`` does it.

mmengine's ``clip_grad=dict(max_norm=..., norm_type=...)`` clips, before each step, the
gradients of every parameter in the optimizer's groups that requires a gradient and has
one, together, with ``torch.nn.utils.clip_grad_norm_`` (one total norm over all of them,
every gradient scaled by ``max_norm / (total + 1e-6)`` when the total exceeds
``max_norm``). The runner calls :func:`clip_gradients`; so does the parity suite.

The total norm is a float32 sum over the parameters, so its last bits depend on their
order. mmengine's constructor makes one group per parameter, in the model's order; visdet's
builder merges parameters of equal lr and weight decay into one group and records each
one's place in mmengine's order (the groups' ``"order"``), which the norm follows here, so
the clipped gradients are mmengine's to the bit. Groups without ``"order"`` (an optimizer
built elsewhere) are taken as they come.
"""

from __future__ import annotations

import torch


def clip_gradients(optimizer: torch.optim.Optimizer, max_norm: float, norm_type: float = 2.0) -> torch.Tensor | None:
    """Clip the gradients of ``optimizer``'s parameters to a total ``norm_type``-norm of ``max_norm``, in place.

    Returns:
        The total norm before clipping (a 0-d tensor), or ``None`` when no parameter has
        a gradient (mmengine then clips nothing).
    """
    ordered = []
    for group in optimizer.param_groups:
        order = group.get("order")
        if order is None or len(order) != len(group["params"]):
            order = [len(ordered) + i for i in range(len(group["params"]))]
        ordered.extend(zip(order, range(len(ordered), len(ordered) + len(order)), group["params"]))
    params = [p for _, _, p in sorted(ordered, key=lambda e: e[:2]) if p.requires_grad and p.grad is not None]
    if not params:
        return None
    return torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
