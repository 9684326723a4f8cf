"""Runtime sections: ``visdet`` (visdet's own options), ``randomness``, ``auto_scale_lr``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from visdet.build.component import Section
from visdet.engine.components.hooks import EarlyStoppingHookConfig
from visdet.engine.hooks import Hook, MLflowHook, TensorBoardHook

# ``visdet.loggers`` names -> hooks (they need the extras of those names)
EXTERNAL_LOGGERS = {"tensorboard": TensorBoardHook, "mlflow": MLflowHook}


class VisdetSettings(Section):
    """The ``visdet`` section: options of visdet's runner that mmengine configs do not have."""

    device: str = Field("cpu", description="torch device: cpu, cuda, cuda:1, ...")
    precision: Literal["fp32", "fp16", "bf16"] | None = Field(
        None, description="autocast precision; default: from optim_wrapper (AmpOptimWrapper: fp16 or its dtype)"
    )
    layer_decay: float | None = Field(None, gt=0, le=1, description="discriminative lrs: factor between layer groups")
    grad_checkpointing: bool = Field(False, description="recompute backbone activations in backward (with_cp)")
    progressive_resize: list[tuple[int, int | list[int]]] | None = Field(
        None, description="[[start_iter, [w, h]], ...]: train at growing image sizes"
    )
    early_stopping: EarlyStoppingHookConfig | None = None
    progress: bool = Field(True, description="show a progress bar")
    find_unused_parameters: bool = Field(False, description="DistributedDataParallel's option")
    loggers: list[Literal["tensorboard", "mlflow"]] = Field([], description="also log to these (their extras needed)")

    def logger_hooks(self, interval: int) -> list[Hook]:
        """The external logger hooks, logging every ``interval`` iterations."""
        return [EXTERNAL_LOGGERS[name](interval=interval) for name in self.loggers]


class RandomnessSettings(Section):
    """``randomness``: the seed of every RNG and whether kernels are deterministic."""

    seed: int | None = None
    deterministic: bool = False
    diff_rank_seed: Literal[False] = Field(False, description="a different seed per rank is not implemented")


class AutoScaleLRSettings(Section):
    """``auto_scale_lr``: scale the lr by (total batch size / ``base_batch_size``), as mmengine does."""

    enable: bool = False
    base_batch_size: int = Field(16, ge=1)
