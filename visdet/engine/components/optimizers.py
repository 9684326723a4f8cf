"""Optimizer schemas: ``SGD``, ``Adam``, ``AdamW`` and the ``optim_wrapper`` around them.

Defaults are torch's (as mmengine builds ``torch.optim.<type>(**cfg)``); the parameter
groups follow ``optim_wrapper.paramwise_cfg`` and visdet's layer-wise decay
(see :mod:`visdet.engine.optim.builder`).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator
from torch import nn

from visdet.build.component import Component, ComponentOf, Section
from visdet.build.registry import registry
from visdet.engine.optim import build_optimizer, layerwise_lr_mults


class ParamwiseSettings(Section):
    """``paramwise_cfg``: per-parameter lr and weight-decay multipliers (mmengine's rules).

    An unset multiplier is no rule (mmengine's ``None``); see :mod:`visdet.engine.optim.builder`.
    """

    norm_decay_mult: float | None = Field(None, ge=0)
    bias_decay_mult: float | None = Field(None, ge=0)
    bias_lr_mult: float | None = Field(None, ge=0)
    dwconv_decay_mult: float | None = Field(None, ge=0)
    flat_decay_mult: float | None = Field(None, ge=0)
    bypass_duplicate: bool = False
    custom_keys: dict[str, dict[Literal["lr_mult", "decay_mult"], float]] | None = None


class _OptimizerFields(Component):
    """What every optimizer takes."""

    lr: float = Field(gt=0)
    weight_decay: float = Field(0.0, ge=0)

    def make(
        self, model: nn.Module, *, paramwise: ParamwiseSettings, layer_decay: float | None, **options: Any
    ) -> Any:
        """The torch optimizer over ``model``'s parameter groups."""
        lr_mults = layerwise_lr_mults(model, decay=layer_decay) if layer_decay else None
        return build_optimizer(model, name=self.type, lr=self.lr, weight_decay=self.weight_decay, lr_mults=lr_mults,
                               **paramwise.plain(), **options)  # fmt: skip


@registry("optimizer").register
class SGDConfig(_OptimizerFields):
    """``SGD`` (``torch.optim.SGD`` keyword names and defaults)."""

    type: Literal["SGD"]
    momentum: float = Field(0.0, ge=0)
    dampening: float = 0.0
    nesterov: bool = False
    example: ClassVar[dict[str, Any]] = {"type": "SGD", "lr": 0.01, "momentum": 0.9}

    def build(self, *, model: nn.Module, paramwise: ParamwiseSettings, layer_decay: float | None = None) -> Any:
        """``torch.optim.SGD``."""
        return self.make(model, paramwise=paramwise, layer_decay=layer_decay, momentum=self.momentum,
                         options={"dampening": self.dampening, "nesterov": self.nesterov})  # fmt: skip


class _AdamFields(_OptimizerFields):
    """What Adam and AdamW take."""

    betas: list[float] = Field([0.9, 0.999], min_length=2, max_length=2)
    eps: float = Field(1e-8, gt=0)
    amsgrad: bool = False

    def build(self, *, model: nn.Module, paramwise: ParamwiseSettings, layer_decay: float | None = None) -> Any:
        """``torch.optim.Adam`` or ``AdamW``."""
        return self.make(model, paramwise=paramwise, layer_decay=layer_decay, betas=tuple(self.betas),
                         options={"eps": self.eps, "amsgrad": self.amsgrad})  # fmt: skip


@registry("optimizer").register
class AdamConfig(_AdamFields):
    """``Adam`` (``torch.optim.Adam`` keyword names and defaults)."""

    type: Literal["Adam"]
    example: ClassVar[dict[str, Any]] = {"type": "Adam", "lr": 0.001}


@registry("optimizer").register
class AdamWConfig(_AdamFields):
    """``AdamW`` (``torch.optim.AdamW`` keyword names and defaults: weight decay 0.01)."""

    type: Literal["AdamW"]
    weight_decay: float = Field(0.01, ge=0)
    example: ClassVar[dict[str, Any]] = {"type": "AdamW", "lr": 0.001}


class ClipGradSettings(Section):
    """``clip_grad``: clip the gradient norm before each step."""

    max_norm: float = Field(gt=0)
    norm_type: Literal[2] = Field(2, description="only the 2-norm is implemented")


@registry("optim_wrapper").register
class OptimWrapperConfig(Component):
    """``optim_wrapper``: the optimizer plus gradient clipping, accumulation and precision.

    ``AmpOptimWrapper`` trains with autocast: fp16 with a gradient scaler, or bf16 with
    ``dtype: bfloat16`` (the ``visdet.precision`` option overrides both).
    """

    type: Literal["OptimWrapper", "AmpOptimWrapper"]
    optimizer: Annotated[Component, ComponentOf("optimizer")]
    clip_grad: ClipGradSettings | None = None
    accumulative_counts: int = Field(1, ge=1)
    paramwise_cfg: ParamwiseSettings = ParamwiseSettings()
    dtype: Literal["float16", "bfloat16", "fp16", "bf16"] | None = Field(None, description="AmpOptimWrapper only")
    loss_scale: Literal["dynamic"] = Field("dynamic", description="AmpOptimWrapper: the scaler is dynamic")
    example: ClassVar[dict[str, Any]] = {"type": "OptimWrapper", "optimizer": SGDConfig.example}

    @model_validator(mode="after")
    def _dtype_needs_amp(self) -> OptimWrapperConfig:
        if self.dtype is not None and self.type != "AmpOptimWrapper":
            raise ValueError("dtype: only AmpOptimWrapper takes a dtype")
        return self

    def build(self, *, model: nn.Module, layer_decay: float | None = None) -> Any:
        """The torch optimizer (clipping, accumulation and precision are the runner's)."""
        return self.optimizer.build(model=model, paramwise=self.paramwise_cfg, layer_decay=layer_decay)

    def precision(self) -> str:
        """``"fp32"``, ``"fp16"`` or ``"bf16"``."""
        if self.type != "AmpOptimWrapper":
            return "fp32"
        return "bf16" if self.dtype in ("bfloat16", "bf16") else "fp16"
