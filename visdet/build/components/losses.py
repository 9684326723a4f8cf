"""Loss schemas: cross entropy, L1, smooth L1, focal, IoU, GIoU, Quality Focal and Dice losses."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from visdet.build.component import Component
from visdet.build.registry import registry
from visdet.models.losses import (
    CrossEntropyLoss,
    DiceLoss,
    FocalLoss,
    GIoULoss,
    IoULoss,
    L1Loss,
    QualityFocalLoss,
    SmoothL1Loss,
)

Reduction = Literal["none", "mean", "sum"]


@registry("loss").register
class CrossEntropyLossConfig(Component):
    """``CrossEntropyLoss`` (softmax, or sigmoid with ``use_sigmoid``)."""

    type: Literal["CrossEntropyLoss"]
    use_sigmoid: bool = False
    use_mask: bool = False
    reduction: Reduction = "mean"
    class_weight: list[float] | None = None
    ignore_index: int | None = None
    loss_weight: float = 1.0
    avg_non_ignore: bool = False
    example: ClassVar[dict[str, Any]] = {"type": "CrossEntropyLoss"}

    def build(self) -> CrossEntropyLoss:
        """The loss module."""
        return CrossEntropyLoss(**self.arguments())


@registry("loss").register
class L1LossConfig(Component):
    """``L1Loss``."""

    type: Literal["L1Loss"]
    reduction: Reduction = "mean"
    loss_weight: float = 1.0
    example: ClassVar[dict[str, Any]] = {"type": "L1Loss"}

    def build(self) -> L1Loss:
        """The loss module."""
        return L1Loss(**self.arguments())


@registry("loss").register
class SmoothL1LossConfig(Component):
    """``SmoothL1Loss`` (quadratic below ``beta``)."""

    type: Literal["SmoothL1Loss"]
    beta: float = Field(1.0, gt=0)
    reduction: Reduction = "mean"
    loss_weight: float = 1.0
    example: ClassVar[dict[str, Any]] = {"type": "SmoothL1Loss"}

    def build(self) -> SmoothL1Loss:
        """The loss module."""
        return SmoothL1Loss(**self.arguments())


@registry("loss").register
class FocalLossConfig(Component):
    """``FocalLoss`` (sigmoid; mmdet's CPU formula, mmcv's kernel formula on CUDA)."""

    type: Literal["FocalLoss"]
    use_sigmoid: Literal[True] = Field(True, description="mmdet supports only the sigmoid focal loss")
    gamma: float = 2.0
    alpha: float = 0.25
    reduction: Reduction = "mean"
    loss_weight: float = 1.0
    activated: bool = Field(False, description="the predictions are probabilities, not logits")
    example: ClassVar[dict[str, Any]] = {"type": "FocalLoss"}

    def build(self) -> FocalLoss:
        """The loss module."""
        return FocalLoss(**self.arguments())


@registry("loss").register
class IoULossConfig(Component):
    """``IoULoss``: ``-log(IoU)``, ``1 - IoU`` or ``1 - IoU**2`` of aligned boxes (FCOS's box loss)."""

    type: Literal["IoULoss"]
    linear: bool = Field(False, description='deprecated in mmdet: mode="linear"')
    eps: float = Field(1e-6, gt=0)
    reduction: Reduction = "mean"
    loss_weight: float = 1.0
    mode: Literal["linear", "square", "log"] = "log"
    example: ClassVar[dict[str, Any]] = {"type": "IoULoss"}

    def build(self) -> IoULoss:
        """The loss module."""
        return IoULoss(**self.arguments())


@registry("loss").register
class GIoULossConfig(Component):
    """``GIoULoss``: ``1 - GIoU`` of aligned boxes (RTMDet's box loss)."""

    type: Literal["GIoULoss"]
    eps: float = Field(1e-6, gt=0)
    reduction: Reduction = "mean"
    loss_weight: float = 1.0
    example: ClassVar[dict[str, Any]] = {"type": "GIoULoss"}

    def build(self) -> GIoULoss:
        """The loss module."""
        return GIoULoss(**self.arguments())


@registry("loss").register
class QualityFocalLossConfig(Component):
    """``QualityFocalLoss``: sigmoid focal loss towards soft (IoU) targets (GFL, RTMDet)."""

    type: Literal["QualityFocalLoss"]
    use_sigmoid: Literal[True] = Field(True, description="mmdet supports only the sigmoid QFL")
    beta: float = 2.0
    reduction: Reduction = "mean"
    loss_weight: float = 1.0
    activated: bool = Field(False, description="the predictions are probabilities, not logits")
    example: ClassVar[dict[str, Any]] = {"type": "QualityFocalLoss"}

    def build(self) -> QualityFocalLoss:
        """The loss module."""
        return QualityFocalLoss(**self.arguments())


@registry("loss").register
class DiceLossConfig(Component):
    """``DiceLoss``: one minus the soft Dice coefficient per mask (RTMDet-Ins's mask loss)."""

    type: Literal["DiceLoss"]
    use_sigmoid: bool = True
    activate: bool = Field(True, description="apply the sigmoid to the predictions (False: probabilities)")
    reduction: Reduction = "mean"
    naive_dice: bool = Field(False, description="first powers in the denominator instead of squares")
    loss_weight: float = 1.0
    eps: float = 1e-3
    example: ClassVar[dict[str, Any]] = {"type": "DiceLoss"}

    def build(self) -> DiceLoss:
        """The loss module."""
        return DiceLoss(**self.arguments())
