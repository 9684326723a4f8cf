"""Training schemas: optimizer, optimizer wrapper, learning-rate schedule and loops."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from visdet.config.schemas.base import Component, Section, register


@register
class SGDSchema(Component):
    """``SGD`` (``torch.optim.SGD`` keyword names)."""

    type: Literal["SGD"]
    lr: float = Field(gt=0)
    momentum: float = Field(0.0, ge=0)
    dampening: float = 0.0
    weight_decay: float = Field(0.0, ge=0)
    nesterov: bool = False


@register
class AdamWSchema(Component):
    """``AdamW`` / ``Adam`` (``torch.optim`` keyword names)."""

    type: Literal["AdamW", "Adam"]
    lr: float = Field(gt=0)
    betas: list[float] = Field([0.9, 0.999], min_length=2, max_length=2)
    eps: float = 1e-8
    weight_decay: float = Field(0.0, ge=0)
    amsgrad: bool = False


OptimizerSchema = Annotated[SGDSchema | AdamWSchema, Field(discriminator="type")]


class ClipGradSettings(Section):
    """``clip_grad``: clip the gradient norm before each step."""

    max_norm: float = Field(gt=0)
    norm_type: float = 2


@register
class OptimWrapperSchema(Component):
    """``optim_wrapper``: the optimizer plus gradient clipping and accumulation."""

    type: Literal["OptimWrapper", "AmpOptimWrapper"]
    optimizer: OptimizerSchema
    clip_grad: ClipGradSettings | None = None
    accumulative_counts: int = Field(1, ge=1)
    paramwise_cfg: dict[str, Any] | None = None


class _Scheduler(Component):
    """Fields every learning-rate scheduler has (mmengine's names)."""

    begin: int = Field(0, ge=0)
    end: int = Field(10**9, gt=0)
    by_epoch: bool = True
    convert_to_iter_based: bool = False
    last_step: int = -1
    verbose: bool = False


@register
class LinearLRSchema(_Scheduler):
    """``LinearLR``: linear warm-up from ``start_factor`` to ``end_factor`` times the lr."""

    type: Literal["LinearLR"]
    start_factor: float = Field(1.0 / 3, gt=0)
    end_factor: float = Field(1.0, gt=0)


@register
class MultiStepLRSchema(_Scheduler):
    """``MultiStepLR``: lr times ``gamma`` at each milestone."""

    type: Literal["MultiStepLR"]
    milestones: list[int]
    gamma: float = Field(0.1, gt=0)


@register
class CosineAnnealingLRSchema(_Scheduler):
    """``CosineAnnealingLR``: cosine decay to ``eta_min`` over ``T_max``."""

    type: Literal["CosineAnnealingLR"]
    T_max: int | None = None
    eta_min: float | None = None
    eta_min_ratio: float | None = None


@register
class OneCycleLRSchema(_Scheduler):
    """``OneCycleLR``: rise to ``eta_max`` then anneal (Smith's one-cycle policy)."""

    type: Literal["OneCycleLR"]
    eta_max: float | list[float] = Field(gt=0)
    total_steps: int | None = None
    pct_start: float = Field(0.3, gt=0, lt=1)
    anneal_strategy: Literal["cos", "linear"] = "cos"
    div_factor: float = Field(25.0, gt=0)
    final_div_factor: float = Field(1e4, gt=0)
    three_phase: bool = False


SchedulerSchema = Annotated[
    LinearLRSchema | MultiStepLRSchema | CosineAnnealingLRSchema | OneCycleLRSchema,
    Field(discriminator="type"),
]


@register
class EpochBasedTrainLoopSchema(Component):
    """``EpochBasedTrainLoop``: ``max_epochs`` epochs, validating every ``val_interval``."""

    type: Literal["EpochBasedTrainLoop"]
    max_epochs: int = Field(ge=1)
    val_begin: int = 1
    val_interval: int = Field(1, ge=1)


@register
class IterBasedTrainLoopSchema(Component):
    """``IterBasedTrainLoop``: ``max_iters`` iterations, validating every ``val_interval``."""

    type: Literal["IterBasedTrainLoop"]
    max_iters: int = Field(ge=1)
    val_begin: int = 1
    val_interval: int = Field(1000, ge=1)


TrainLoopSchema = Annotated[EpochBasedTrainLoopSchema | IterBasedTrainLoopSchema, Field(discriminator="type")]


@register
class EvalLoopSchema(Component):
    """``ValLoop`` / ``TestLoop``."""

    type: Literal["ValLoop", "TestLoop"]
    fp16: bool = False


class AutoScaleLRSettings(Section):
    """``auto_scale_lr``: scale the lr by (total batch size / ``base_batch_size``)."""

    enable: bool = False
    base_batch_size: int = Field(16, ge=1)
