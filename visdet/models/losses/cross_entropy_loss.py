"""Cross-entropy losses: softmax, sigmoid (binary) and per-class mask, with mmdet's options.

Shape shorthand: N samples, C classes (softmax scores have C + 1 columns in R-CNN heads,
the last one background). Labels are class indices; ``ignore_index`` marks samples that
contribute nothing. Reduction follows :mod:`visdet.models.losses.reduction`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from visdet.models.losses.reduction import resolve_reduction, weight_reduce_loss
from visdet.models.losses.weighted_loss import WeightedLoss

# PyTorch's default ignore index, used when ignore_index is None (mmdet does the same).
DEFAULT_IGNORE_INDEX = -100


def cross_entropy(
    pred: torch.Tensor,
    label: torch.Tensor,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | torch.Tensor | None = None,
    class_weight: torch.Tensor | None = None,
    ignore_index: int | None = DEFAULT_IGNORE_INDEX,
    avg_non_ignore: bool = False,
) -> torch.Tensor:
    """Softmax cross-entropy.

    Args:
        pred: ``Tensor[N, C]`` logits.
        label: ``LongTensor[N]`` class indices.
        weight: ``Tensor[N]`` per-sample weights.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        avg_factor: Divide the sum by this instead of taking the mean.
        class_weight: ``Tensor[C]`` per-class weights (scale each sample's loss).
        ignore_index: Label whose samples get zero loss.
        avg_non_ignore: With ``"mean"`` and no ``avg_factor``, average over the samples
            whose label is not ``ignore_index`` instead of over all N.

    Returns:
        The loss, ``Tensor[N]`` for ``"none"`` else 0-d.
    """
    ignore_index = DEFAULT_IGNORE_INDEX if ignore_index is None else ignore_index
    loss = F.cross_entropy(
        pred, label, weight=class_weight, reduction="none", ignore_index=ignore_index
    )
    if avg_factor is None and avg_non_ignore and reduction == "mean":
        avg_factor = label.numel() - (label == ignore_index).sum().item()
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(loss, weight=weight, reduction=reduction, avg_factor=avg_factor)


def _expand_onehot_labels(
    labels: torch.Tensor,
    label_weights: torch.Tensor | None,
    label_channels: int,
    ignore_index: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One-hot ``[N, C]`` targets from class indices; indices ``>= C`` (background) stay all-zero.

    Returns:
        ``(bin_labels [N, C], bin_label_weights [N, C], valid_mask [N, C])``.
    """
    bin_labels = labels.new_full((labels.size(0), label_channels), 0)
    valid_mask = (labels >= 0) & (labels != ignore_index)
    inds = torch.nonzero(valid_mask & (labels < label_channels), as_tuple=False)
    if inds.numel() > 0:
        bin_labels[inds, labels[inds]] = 1
    valid_mask = valid_mask.view(-1, 1).expand(labels.size(0), label_channels).float()
    if label_weights is None:
        bin_label_weights = valid_mask
    else:
        bin_label_weights = label_weights.view(-1, 1).repeat(1, label_channels)
        bin_label_weights *= valid_mask
    return bin_labels, bin_label_weights, valid_mask


def binary_cross_entropy(
    pred: torch.Tensor,
    label: torch.Tensor,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | torch.Tensor | None = None,
    class_weight: torch.Tensor | None = None,
    ignore_index: int | None = DEFAULT_IGNORE_INDEX,
    avg_non_ignore: bool = False,
) -> torch.Tensor:
    """Sigmoid (binary) cross-entropy on logits.

    Args:
        pred: ``Tensor[N, C]`` logits with ``label`` of class indices ``LongTensor[N]``
            (expanded to one-hot; index C or more means background), or ``pred`` and
            ``label`` of one shape (``label`` then holds 0/1 targets).
        label: Class indices or binary targets, see ``pred``.
        weight: Per-sample ``Tensor[N]`` (one-hot case) or elementwise weights.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        avg_factor: Divide the sum by this instead of taking the mean.
        class_weight: ``Tensor[C]`` passed as ``pos_weight`` (weights the positive term).
        ignore_index: Label whose samples get zero weight.
        avg_non_ignore: With ``"mean"`` and no ``avg_factor``, average over the number of
            non-ignored elements.

    Returns:
        The loss, elementwise for ``"none"`` else 0-d.
    """
    ignore_index = DEFAULT_IGNORE_INDEX if ignore_index is None else ignore_index
    if pred.dim() != label.dim():
        label, weight, valid_mask = _expand_onehot_labels(
            label, weight, pred.size(-1), ignore_index
        )
    else:
        valid_mask = ((label >= 0) & (label != ignore_index)).float()
        weight = valid_mask if weight is None else weight * valid_mask
    if avg_factor is None and avg_non_ignore and reduction == "mean":
        avg_factor = valid_mask.sum().item()
    weight = weight.float()
    loss = F.binary_cross_entropy_with_logits(
        pred, label.float(), pos_weight=class_weight, reduction="none"
    )
    return weight_reduce_loss(loss, weight, reduction=reduction, avg_factor=avg_factor)


def mask_cross_entropy(
    pred: torch.Tensor,
    target: torch.Tensor,
    label: torch.Tensor,
    reduction: str = "mean",
    avg_factor: float | torch.Tensor | None = None,
    class_weight: torch.Tensor | None = None,
    ignore_index: int | None = None,
    **_unused: object,
) -> torch.Tensor:
    """Binary cross-entropy of each RoI's mask logits for its own class (Mask R-CNN).

    Args:
        pred: ``Tensor[N, C, H, W]`` mask logits (C may be 1 for class-agnostic masks).
        target: ``Tensor[N, H, W]`` binary mask targets.
        label: ``LongTensor[N]`` class of each RoI, selects the channel of ``pred``.
        reduction: Only ``"mean"`` is supported.
        avg_factor: Must be None.
        class_weight: Elementwise ``weight`` of the BCE.
        ignore_index: Must be None.

    Returns:
        ``Tensor[1]``: the mean BCE over all mask pixels.
    """
    if ignore_index is not None:
        raise ValueError(f"mask_cross_entropy does not support ignore_index, got {ignore_index!r}")
    if reduction != "mean" or avg_factor is not None:
        raise ValueError(
            'mask_cross_entropy needs reduction="mean" and no avg_factor, '
            f"got {reduction!r}, {avg_factor!r}"
        )
    inds = torch.arange(0, pred.size(0), dtype=torch.long, device=pred.device)
    pred_slice = pred[inds, label].squeeze(1)
    return F.binary_cross_entropy_with_logits(
        pred_slice, target, weight=class_weight, reduction="mean"
    )[None]


class CrossEntropyLoss(WeightedLoss):
    """Cross-entropy loss module (softmax, sigmoid or mask form).

    Its ``forward`` replaces ``WeightedLoss``'s: the weight handling depends on the form
    (one-hot expansion for sigmoid, per-class weights, ``avg_non_ignore``).

    Args:
        use_sigmoid: Use per-class sigmoid BCE instead of softmax cross-entropy.
        use_mask: Use :func:`mask_cross_entropy` (``forward(pred, mask_targets, labels)``).
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        class_weight: Per-class weights.
        ignore_index: Label to ignore (None: PyTorch's -100).
        loss_weight: Multiplier of the loss.
        avg_non_ignore: Average only over non-ignored labels (with ``"mean"``).
    """

    def __init__(
        self,
        *,
        use_sigmoid: bool = False,
        use_mask: bool = False,
        reduction: str = "mean",
        class_weight: Sequence[float] | None = None,
        ignore_index: int | None = None,
        loss_weight: float = 1.0,
        avg_non_ignore: bool = False,
    ) -> None:
        if use_sigmoid and use_mask:
            raise ValueError("use_sigmoid and use_mask cannot both be True")
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        self.use_sigmoid = use_sigmoid
        self.use_mask = use_mask
        self.class_weight = None if class_weight is None else list(class_weight)
        self.ignore_index = ignore_index
        self.avg_non_ignore = avg_non_ignore
        if ignore_index is not None and not avg_non_ignore and reduction == "mean":
            warnings.warn(
                "CrossEntropyLoss: with ignore_index set and avg_non_ignore=False the mean is "
                "taken over all samples, ignored ones included (mmdet's default); set "
                "avg_non_ignore=True "
                "to average over non-ignored samples as torch.nn.functional.cross_entropy does.",
                stacklevel=2,
            )
        if use_sigmoid:
            self.cls_criterion = binary_cross_entropy
        elif use_mask:
            self.cls_criterion = mask_cross_entropy
        else:
            self.cls_criterion = cross_entropy

    def extra_repr(self) -> str:
        """The options shown in ``repr(module)``."""
        return (
            f"use_sigmoid={self.use_sigmoid}, use_mask={self.use_mask}, "
            f"avg_non_ignore={self.avg_non_ignore}"
        )

    def forward(
        self,
        cls_score: torch.Tensor,
        label: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | torch.Tensor | None = None,
        reduction_override: str | None = None,
        ignore_index: int | None = None,
    ) -> torch.Tensor:
        """The weighted loss.

        Args:
            cls_score: ``Tensor[N, C]`` logits (``[N, C, H, W]`` mask logits with ``use_mask``).
            label: ``LongTensor[N]`` class indices (mask targets ``[N, H, W]`` with ``use_mask``).
            weight: Per-sample weights (the RoI labels ``LongTensor[N]`` with ``use_mask``).
            avg_factor: Divide the sum by this instead of averaging.
            reduction_override: Use this reduction instead of the configured one.
            ignore_index: Overrides the configured ``ignore_index``.

        Returns:
            ``loss_weight`` times the loss.
        """
        reduction = resolve_reduction(self.reduction, reduction_override)
        if ignore_index is None:
            ignore_index = self.ignore_index
        class_weight = None
        if self.class_weight is not None:
            class_weight = cls_score.new_tensor(self.class_weight, device=cls_score.device)
        return self.loss_weight * self.cls_criterion(
            cls_score,
            label,
            weight,
            class_weight=class_weight,
            reduction=reduction,
            avg_factor=avg_factor,
            ignore_index=ignore_index,
            avg_non_ignore=self.avg_non_ignore,
        )
