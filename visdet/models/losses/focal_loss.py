"""Sigmoid focal loss (RetinaNet), with mmdet 3.3's two code paths.

Shape shorthand: N samples (anchors), C classes. ``target`` is either class indices
``LongTensor[N]`` in ``[0, C]`` (``C`` = background: every class is a negative) or a
one-hot ``Tensor[N, C]``. ``weight`` is per sample ``[N]``, per element ``[N, C]``, or
per element flattened ``[N * C]``.

For a logit x with p = sigmoid(x) and a 0/1 target t, the elementwise loss is
``BCE(x, t) * (alpha * t + (1 - alpha) * (1 - t)) * q ** gamma`` with
``q = (1 - p) * t + p * (1 - t)``.

mmdet computes it two ways, and :class:`FocalLoss` picks the same way as mmdet:

* :func:`sigmoid_focal_loss` is mmdet's ``py_sigmoid_focal_loss`` (plain tensor
  operations, autograd): used on CPU, and everywhere for one-hot targets.
* :func:`sigmoid_focal_loss_kernel` follows mmcv's ``sigmoid_focal_loss`` kernel, which
  mmdet runs for index targets on CUDA: the loss is ``-alpha (1-p)^gamma log(p)`` /
  ``-(1-alpha) p^gamma log(1-p)`` with the logarithm's argument clamped at FLT_MIN (a
  logit beyond about +-87 saturates at ``-log(FLT_MIN)``, where the BCE form keeps
  growing), the forward sigmoid uses a float32 ``exp`` in any dtype, and the gradient is
  the kernel's closed form rather than autograd's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from visdet.models.losses.reduction import check_reduction, resolve_reduction, weight_reduce_loss

# mmcv's kernel clamps log()'s argument at the smallest normal float32 (FLT_MIN)
FLT_MIN = torch.finfo(torch.float32).tiny


def _shape_weight(weight: torch.Tensor | None, loss: torch.Tensor) -> torch.Tensor | None:
    """Mmdet's reshaping of a focal-loss weight to the ``[N, C]`` loss."""
    if weight is None:
        return None
    if weight.shape != loss.shape:
        if weight.size(0) == loss.size(0):
            weight = weight.view(-1, 1)  # one weight per sample (per anchor)
        else:
            if weight.numel() != loss.numel():
                raise ValueError(
                    f"focal loss weight of shape {tuple(weight.shape)} fits neither the samples nor the "
                    f"elements of a loss of shape {tuple(loss.shape)}"
                )
            weight = weight.view(loss.size(0), -1)  # per element, flattened
    if weight.ndim != loss.ndim:
        raise ValueError(f"focal loss weight has {weight.ndim} dims, the loss {loss.ndim}")
    return weight


def one_hot_targets(target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``LongTensor[N]`` indices in ``[0, C]`` -> one-hot ``LongTensor[N, C]`` (index C: all zero)."""
    return F.one_hot(target, num_classes=num_classes + 1)[:, :num_classes]


def sigmoid_focal_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    gamma: float = 2.0,
    alpha: float = 0.25,
    reduction: str = "mean",
    avg_factor: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """Focal loss on logits with a one-hot target (mmdet's ``py_sigmoid_focal_loss``).

    Args:
        pred: ``Tensor[N, C]`` logits.
        target: One-hot ``[N, C]`` (any dtype; cast to ``pred``'s).
        weight: ``[N]``, ``[N, C]`` or ``[N * C]`` weights, or ``None``.
        gamma: Focusing exponent.
        alpha: Weight of the positives (negatives get ``1 - alpha``).
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        avg_factor: Divide the sum by this instead of averaging.

    Returns:
        The loss, ``[N, C]`` for ``"none"`` else 0-d.
    """
    pred_sigmoid = pred.sigmoid()
    target = target.type_as(pred)
    # q is (1 - p_t) of the paper, so the modulating factor is q ** gamma
    q = (1 - pred_sigmoid) * target + pred_sigmoid * (1 - target)
    focal_weight = (alpha * target + (1 - alpha) * (1 - target)) * q.pow(gamma)
    loss = F.binary_cross_entropy_with_logits(pred, target, reduction="none") * focal_weight
    return weight_reduce_loss(loss, _shape_weight(weight, loss), reduction, avg_factor)


def focal_loss_with_prob(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    gamma: float = 2.0,
    alpha: float = 0.25,
    reduction: str = "mean",
    avg_factor: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """Focal loss on probabilities (mmdet's ``py_focal_loss_with_prob``, ``activated=True``).

    Args:
        pred: ``Tensor[N, C]`` probabilities.
        target: Indices ``[N]`` in ``[0, C]`` or one-hot ``[N, C]``.
        weight: As :func:`sigmoid_focal_loss`.
        gamma: As :func:`sigmoid_focal_loss`.
        alpha: As :func:`sigmoid_focal_loss`.
        reduction: As :func:`sigmoid_focal_loss`.
        avg_factor: As :func:`sigmoid_focal_loss`.
    """
    if pred.dim() != target.dim():
        target = one_hot_targets(target, pred.size(1))
    target = target.type_as(pred)
    q = (1 - pred) * target + pred * (1 - target)
    focal_weight = (alpha * target + (1 - alpha) * (1 - target)) * q.pow(gamma)
    loss = F.binary_cross_entropy(pred, target, reduction="none") * focal_weight
    return weight_reduce_loss(loss, _shape_weight(weight, loss), reduction, avg_factor)


def _kernel_flags(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    classes = torch.arange(pred.size(1), device=pred.device)
    flag_p = (target.view(-1, 1) == classes).to(pred.dtype)
    return flag_p, 1 - flag_p


class _SigmoidFocalKernel(torch.autograd.Function):
    """mmcv's ``sigmoid_focal_loss`` forward/backward formulas, elementwise (``reduction='none'``)."""

    @staticmethod
    def forward(ctx, pred: torch.Tensor, target: torch.Tensor, gamma: float, alpha: float) -> torch.Tensor:  # type: ignore[override]
        flag_p, flag_n = _kernel_flags(pred, target)
        # the kernel's forward calls expf: a float32 exp whatever the dtype
        p = 1.0 / (1.0 + torch.exp(-pred.float()).to(pred.dtype))
        term_p = (1.0 - p).pow(gamma) * torch.log(p.clamp(min=FLT_MIN))
        term_n = p.pow(gamma) * torch.log((1.0 - p).clamp(min=FLT_MIN))
        ctx.save_for_backward(pred, target)
        ctx.gamma, ctx.alpha = gamma, alpha
        return -flag_p * alpha * term_p + -flag_n * (1.0 - alpha) * term_n

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:  # type: ignore[override]
        pred, target = ctx.saved_tensors
        gamma, alpha = ctx.gamma, ctx.alpha
        flag_p, flag_n = _kernel_flags(pred, target)
        p = 1.0 / (1.0 + torch.exp(-pred))
        term_p = (1.0 - p).pow(gamma) * (1.0 - p - gamma * p * torch.log(p.clamp(min=FLT_MIN)))
        term_n = p.pow(gamma) * (gamma * (1.0 - p) * torch.log((1.0 - p).clamp(min=FLT_MIN)) - p)
        grad = -flag_p * alpha * term_p + -flag_n * (1.0 - alpha) * term_n
        return grad * grad_output, None, None, None


def sigmoid_focal_loss_kernel(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    gamma: float = 2.0,
    alpha: float = 0.25,
    reduction: str = "mean",
    avg_factor: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """Focal loss with mmcv's kernel formulas (what mmdet runs on CUDA; see the module docstring).

    mmdet calls the kernel without its per-class weight and with ``reduction='none'``,
    then weights and reduces as :func:`sigmoid_focal_loss` does; so does this.

    Args:
        pred: ``Tensor[N, C]`` logits.
        target: ``LongTensor[N]`` class indices in ``[0, C]`` (C: background).
        weight: As :func:`sigmoid_focal_loss`.
        gamma: As :func:`sigmoid_focal_loss`.
        alpha: As :func:`sigmoid_focal_loss`.
        reduction: As :func:`sigmoid_focal_loss`.
        avg_factor: As :func:`sigmoid_focal_loss`.
    """
    if pred.dim() != 2 or target.dim() != 1 or target.dtype != torch.long or pred.size(0) != target.size(0):
        raise ValueError(
            f"the focal loss kernel takes pred [N, C] and long target [N], got {tuple(pred.shape)} and "
            f"{tuple(target.shape)} {target.dtype}"
        )
    loss = _SigmoidFocalKernel.apply(pred.contiguous(), target.contiguous(), float(gamma), float(alpha))
    return weight_reduce_loss(loss, _shape_weight(weight, loss), reduction, avg_factor)


class FocalLoss(torch.nn.Module):
    """Sigmoid focal loss module (mmdet's ``FocalLoss``).

    Args:
        use_sigmoid: Must be True (mmdet supports only the sigmoid form).
        gamma: Focusing exponent.
        alpha: Weight of the positives.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        loss_weight: Multiplier of the loss.
        activated: ``pred`` holds probabilities instead of logits.
    """

    def __init__(
        self,
        *,
        use_sigmoid: bool = True,
        gamma: float = 2.0,
        alpha: float = 0.25,
        reduction: str = "mean",
        loss_weight: float = 1.0,
        activated: bool = False,
    ) -> None:
        super().__init__()
        if use_sigmoid is not True:
            raise ValueError("FocalLoss supports only use_sigmoid=True (as mmdet)")
        check_reduction(reduction)
        self.use_sigmoid = use_sigmoid
        self.gamma = gamma
        self.alpha = alpha
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.activated = activated

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | torch.Tensor | None = None,
        reduction_override: str | None = None,
    ) -> torch.Tensor:
        """The weighted, reduced loss times ``loss_weight``.

        Args:
            pred: ``Tensor[N, C]`` logits (probabilities when ``activated``).
            target: Indices ``[N]`` in ``[0, C]`` or one-hot ``[N, C]``.
            weight: ``[N]``, ``[N, C]`` or ``[N * C]`` weights, or ``None``.
            avg_factor: Divide the sum by this instead of averaging.
            reduction_override: Use this reduction instead of the configured one.
        """
        reduction = resolve_reduction(self.reduction, reduction_override)
        if self.activated:
            fn = focal_loss_with_prob
        elif pred.dim() == target.dim():  # one-hot target
            fn = sigmoid_focal_loss
        elif pred.is_cuda:  # mmdet runs mmcv's kernel here
            fn = sigmoid_focal_loss_kernel
        else:
            target = one_hot_targets(target, pred.size(1))
            fn = sigmoid_focal_loss
        loss = fn(pred, target, weight, gamma=self.gamma, alpha=self.alpha, reduction=reduction,
                  avg_factor=avg_factor)  # fmt: skip
        return self.loss_weight * loss
