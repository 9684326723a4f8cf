"""Top-k classification accuracy in percent (mmdet's ``accuracy`` / ``Accuracy``).

Shape shorthand: N samples, C classes. A sample counts as correct for ``k`` when its
target is among the ``k`` highest scores (and, with ``thresh``, that score is above it).
"""

from __future__ import annotations

import torch
from torch import nn


def accuracy(
    pred: torch.Tensor,
    target: torch.Tensor,
    topk: int | tuple[int, ...] = 1,
    thresh: float | None = None,
) -> torch.Tensor | list[torch.Tensor]:
    """Top-k accuracy.

    Args:
        pred: ``Tensor[N, C]`` scores.
        target: ``LongTensor[N]`` true classes.
        topk: One k, or a tuple of ks.
        thresh: When given, a hit also needs its score ``> thresh``.

    Returns:
        A ``Tensor[1]`` accuracy in percent for an int ``topk`` (0-d zero when N = 0),
        or a list of them for a tuple.
    """
    if isinstance(topk, bool) or not isinstance(topk, (int, tuple)):
        raise TypeError(f"topk must be an int or a tuple of ints, got {topk!r}")
    return_single = isinstance(topk, int)
    ks = (topk,) if isinstance(topk, int) else topk
    maxk = max(ks)
    if pred.size(0) == 0:
        accs = [pred.new_tensor(0.0) for _ in ks]
        return accs[0] if return_single else accs
    if pred.dim() != 2 or target.dim() != 1 or pred.size(0) != target.size(0):
        raise ValueError(
            f"pred must be [N, C] and target [N], got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if maxk > pred.size(1):
        raise ValueError(f"topk {maxk} exceeds the number of classes {pred.size(1)}")
    pred_value, pred_label = pred.topk(maxk, dim=1)
    pred_label = pred_label.t()  # [maxk, N]
    correct = pred_label.eq(target.view(1, -1).expand_as(pred_label))
    if thresh is not None:
        correct = correct & (pred_value > thresh).t()
    accs = []
    for k in ks:
        correct_k = correct[:k].reshape(-1).float().sum(0, keepdim=True)
        accs.append(correct_k.mul_(100.0 / pred.size(0)))
    return accs[0] if return_single else accs


class Accuracy(nn.Module):
    """Module form of :func:`accuracy`.

    Args:
        topk: One k or a tuple of ks.
        thresh: Optional score threshold for a hit.
    """

    def __init__(self, *, topk: int | tuple[int, ...] = (1,), thresh: float | None = None) -> None:
        super().__init__()
        self.topk = topk
        self.thresh = thresh

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor | list[torch.Tensor]:
        """Accuracy of ``pred`` ``[N, C]`` against ``target`` ``[N]``."""
        return accuracy(pred, target, self.topk, self.thresh)
