"""Dice loss (RTMDet-Ins, Mask2Former): one minus the soft Dice coefficient of each predicted mask.

Shape shorthand: N masks of any shape ``[N, *]``. ``pred`` holds logits (probabilities
when ``activate=False``), ``target`` 0/1 (any dtype, promoted to float). Per mask, with
``a = sum(p * t)``:

* V-Net form (default): ``d = 2a / ((sum(p * p) + eps) + (sum(t * t) + eps))``;
* naive form (``naive_dice``): ``d = (2a + eps) / (sum(p) + sum(t) + eps)``;

the loss ``1 - d`` is ``[N]``, weighted per mask (``weight [N]``) and reduced as
:mod:`visdet.models.losses.reduction`. The arithmetic is mmdet 3.3's ``dice_loss``
(the eps placement differs between the two forms, as there).
"""

from __future__ import annotations

from torch import Tensor, nn

from visdet.models.losses.reduction import check_reduction, resolve_reduction, weight_reduce_loss


def dice_loss(
    pred: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    eps: float = 1e-3,
    reduction: str = "mean",
    naive_dice: bool = False,
    avg_factor: float | Tensor | None = None,
) -> Tensor:
    """The weighted, reduced Dice loss of probabilities ``pred [N, *]`` against ``target [N, *]``.

    Args:
        pred: ``[N, *]`` probabilities.
        target: ``[N, *]`` 0/1 targets (same number of elements per mask as ``pred``).
        weight: ``[N]`` per-mask weights, or ``None``.
        eps: Keeps the ratio finite on empty masks (see the module docstring for where).
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        naive_dice: First powers in the denominator instead of squares.
        avg_factor: Divide the sum by this instead of averaging.

    Returns:
        ``[N]`` (``"none"``) or a 0-d tensor.
    """
    flat_pred = pred.flatten(1)
    flat_target = target.flatten(1).float()
    if flat_pred.shape != flat_target.shape:
        raise ValueError(f"dice_loss: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ per mask")
    inter = (flat_pred * flat_target).sum(1)
    if naive_dice:
        coeff = (2 * inter + eps) / (flat_pred.sum(1) + flat_target.sum(1) + eps)
    else:
        pred_sq = (flat_pred * flat_pred).sum(1) + eps
        target_sq = (flat_target * flat_target).sum(1) + eps
        coeff = (2 * inter) / (pred_sq + target_sq)
    loss = 1 - coeff
    if weight is not None and (weight.ndim != loss.ndim or len(weight) != len(pred)):
        raise ValueError(f"dice_loss: weight must be [N] = [{len(pred)}], got {tuple(weight.shape)}")
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


class DiceLoss(nn.Module):
    """Dice loss module (mmdet's ``DiceLoss``).

    Args:
        use_sigmoid: Activate with a sigmoid (the only activation mmdet has; ``False`` with
            ``activate`` is an error).
        activate: Apply the activation to ``pred``; ``False``: ``pred`` holds probabilities.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        naive_dice: First powers in the denominator (see the module docstring).
        loss_weight: Multiplier of the loss.
        eps: See :func:`dice_loss`.
    """

    def __init__(
        self,
        *,
        use_sigmoid: bool = True,
        activate: bool = True,
        reduction: str = "mean",
        naive_dice: bool = False,
        loss_weight: float = 1.0,
        eps: float = 1e-3,
    ) -> None:
        super().__init__()
        check_reduction(reduction)
        if activate and not use_sigmoid:
            raise ValueError("DiceLoss: activate=True needs use_sigmoid=True (mmdet has no softmax Dice)")
        self.use_sigmoid = use_sigmoid
        self.reduction = reduction
        self.naive_dice = naive_dice
        self.loss_weight = loss_weight
        self.eps = eps
        self.activate = activate

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        weight: Tensor | None = None,
        reduction_override: str | None = None,
        avg_factor: float | Tensor | None = None,
    ) -> Tensor:
        """The weighted, reduced loss times ``loss_weight``.

        Args:
            pred: ``[N, *]`` logits (probabilities unless ``activate``).
            target: ``[N, *]`` 0/1 targets.
            weight: ``[N]`` weights, or ``None``.
            reduction_override: Use this reduction instead of the configured one.
            avg_factor: Divide the sum by this instead of averaging.
        """
        reduction = resolve_reduction(self.reduction, reduction_override)
        if self.activate:
            pred = pred.sigmoid()
        loss = dice_loss(pred, target, weight, self.eps, reduction, self.naive_dice, avg_factor)
        return self.loss_weight * loss
