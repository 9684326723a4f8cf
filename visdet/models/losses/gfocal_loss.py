"""Quality Focal Loss (GFL, RTMDet): a sigmoid focal loss whose positive target is a soft quality score.

Shape shorthand: N samples (priors), C classes. ``pred`` is ``Tensor[N, C]`` (logits, or
probabilities when ``activated``). The target is either

* a pair ``(labels, scores)``: ``LongTensor[N]`` class indices in ``[0, C]`` (C:
  background) and ``Tensor[N]`` quality scores (the IoU of the prior's box with its gt);
  every class of every sample is a negative with target 0, except the labelled class of a
  positive, whose target is its score; or
* a dense ``Tensor[N, C]`` of soft targets: every non-zero entry is a positive with that
  target.

For probability p and target t the elementwise loss is ``BCE(p, t) * |t - p| ** beta``
(for negatives ``BCE(p, 0) * p ** beta``); it is summed over the classes to ``[N]``, then
weighted per sample and reduced as :mod:`visdet.models.losses.reduction`. The arithmetic
is mmdet 3.3's ``quality_focal_loss`` / ``quality_focal_loss_with_prob`` /
``quality_focal_loss_tensor_target`` (the positives overwritten in place after the
negative term, so gradients flow the same way).
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from visdet.models.losses.reduction import check_reduction, resolve_reduction, weight_reduce_loss


def _terms(pred: Tensor, activated: bool) -> tuple[Tensor, Callable[..., Tensor]]:
    """The probabilities and the BCE of ``pred`` (logits unless ``activated``)."""
    if activated:
        return pred, F.binary_cross_entropy
    return pred.sigmoid(), F.binary_cross_entropy_with_logits


def quality_focal_elementwise(
    pred: Tensor, target: tuple[Tensor, Tensor] | Tensor, beta: float = 2.0, activated: bool = False
) -> Tensor:
    """The unreduced QFL ``[N]`` (see the module docstring).

    Args:
        pred: ``Tensor[N, C]`` logits (probabilities when ``activated``).
        target: ``(labels [N], scores [N])`` or soft targets ``[N, C]``.
        beta: Exponent of the modulating factor ``|t - p|``.
        activated: ``pred`` holds probabilities.
    """
    if isinstance(target, Tensor):
        return _tensor_target(pred, target, beta, activated)
    if len(target) != 2:
        raise ValueError("the QFL target must be (labels [N], scores [N]) or a tensor [N, C]")
    label, score = target
    if pred.dim() != 2 or label.shape != pred.shape[:1] or score.shape != pred.shape[:1]:
        raise ValueError(f"QFL expects pred [N, C], labels [N] and scores [N], got {tuple(pred.shape)}, "
                         f"{tuple(label.shape)} and {tuple(score.shape)}")  # fmt: skip
    prob, bce = _terms(pred, activated)
    loss = bce(pred, prob.new_zeros(pred.shape), reduction="none") * prob.pow(beta)
    num_classes = pred.size(1)  # background label
    pos = ((label >= 0) & (label < num_classes)).nonzero().squeeze(1)
    pos_label = label[pos].long()
    modulating = score[pos] - prob[pos, pos_label]
    loss[pos, pos_label] = bce(pred[pos, pos_label], score[pos], reduction="none") * modulating.abs().pow(beta)
    return loss.sum(dim=1, keepdim=False)


def _tensor_target(pred: Tensor, target: Tensor, beta: float, activated: bool) -> Tensor:
    if pred.size() != target.size():
        raise ValueError(f"QFL tensor target {tuple(target.shape)} must have pred's shape {tuple(pred.shape)}")
    prob, bce = _terms(pred, activated)
    target = target.type_as(pred)
    loss = bce(pred, prob.new_zeros(pred.shape), reduction="none") * prob.pow(beta)
    pos = target != 0
    modulating = target[pos] - prob[pos]
    loss[pos] = bce(pred[pos], target[pos], reduction="none") * modulating.abs().pow(beta)
    return loss.sum(dim=1, keepdim=False)


def quality_focal_loss(
    pred: Tensor,
    target: tuple[Tensor, Tensor] | Tensor,
    weight: Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | Tensor | None = None,
    beta: float = 2.0,
    activated: bool = False,
) -> Tensor:
    """QFL weighted per sample (``weight [N]``) and reduced; see :func:`quality_focal_elementwise`."""
    return weight_reduce_loss(quality_focal_elementwise(pred, target, beta, activated), weight, reduction, avg_factor)


class QualityFocalLoss(nn.Module):
    """Quality Focal Loss module (mmdet's ``QualityFocalLoss``).

    Args:
        use_sigmoid: Must be True (mmdet supports only the sigmoid form).
        beta: Exponent of the modulating factor.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        loss_weight: Multiplier of the loss.
        activated: ``pred`` holds probabilities instead of logits.
    """

    def __init__(
        self,
        *,
        use_sigmoid: bool = True,
        beta: float = 2.0,
        reduction: str = "mean",
        loss_weight: float = 1.0,
        activated: bool = False,
    ) -> None:
        super().__init__()
        if use_sigmoid is not True:
            raise ValueError("QualityFocalLoss supports only use_sigmoid=True (as mmdet)")
        check_reduction(reduction)
        self.use_sigmoid = use_sigmoid
        self.beta = beta
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.activated = activated

    def forward(
        self,
        pred: Tensor,
        target: tuple[Tensor, Tensor] | Tensor,
        weight: Tensor | None = None,
        avg_factor: float | Tensor | None = None,
        reduction_override: str | None = None,
    ) -> Tensor:
        """The weighted, reduced loss times ``loss_weight``.

        Args:
            pred: ``Tensor[N, C]`` logits (probabilities when ``activated``).
            target: ``(labels [N], scores [N])`` or soft targets ``[N, C]``.
            weight: ``[N]`` weights, or ``None``.
            avg_factor: Divide the sum by this instead of averaging.
            reduction_override: Use this reduction instead of the configured one.
        """
        reduction = resolve_reduction(self.reduction, reduction_override)
        loss = quality_focal_loss(pred, target, weight, reduction, avg_factor, self.beta, self.activated)
        return self.loss_weight * loss
