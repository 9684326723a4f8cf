"""``sigmoid_geometric_mean`` and ``inverse_sigmoid``: how RTMDet merges objectness into the class scores.

With an objectness branch, RTMDet's class logit becomes
``inverse_sigmoid(sqrt(sigmoid(cls) * sigmoid(obj)))``: the geometric mean of the two
probabilities, mapped back to a logit. mmdet writes the mean as an autograd function with
its analytic gradient (``d/dx = z * (1 - sigmoid(x)) / 2``), which stays finite where
autograd through ``sqrt`` of a tiny product would not; visdet uses the same function, so
gradients agree bit for bit.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: mmdet's clamp of the probability inside ``inverse_sigmoid``.
INVERSE_SIGMOID_EPS = 1e-5


class _SigmoidGeometricMean(torch.autograd.Function):
    """``sqrt(sigmoid(x) * sigmoid(y))`` with mmdet's analytic backward."""

    @staticmethod
    def forward(ctx, x: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        x_sigmoid = x.sigmoid()
        y_sigmoid = y.sigmoid()
        z = (x_sigmoid * y_sigmoid).sqrt()
        ctx.save_for_backward(x_sigmoid, y_sigmoid, z)
        return z

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        x_sigmoid, y_sigmoid, z = ctx.saved_tensors
        return grad_output * z * (1 - x_sigmoid) / 2, grad_output * z * (1 - y_sigmoid) / 2


def sigmoid_geometric_mean(x: Tensor, y: Tensor) -> Tensor:
    """``sqrt(sigmoid(x) * sigmoid(y))`` elementwise (``x``, ``y`` broadcastable logits)."""
    return _SigmoidGeometricMean.apply(x, y)


def inverse_sigmoid(x: Tensor, eps: float = INVERSE_SIGMOID_EPS) -> Tensor:
    """``log(p / (1 - p))`` of probabilities ``x`` clamped to ``[0, 1]``, both terms at least ``eps``."""
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))
