"""``VisdetConfig``: the schema of a whole config file (mmdet's top-level names).

Sections visdet uses are typed; runtime settings that only mmengine's runner reads
(hooks, visualizer, logging, environment) are accepted as plain mappings so converted
mmdet configs validate, and are documented as not used by visdet.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from visdet.config.schemas.base import Section
from visdet.config.schemas.data import CocoMetricSchema, DataLoaderSettings, TransformSchema
from visdet.config.schemas.detector import FasterRCNNSchema
from visdet.config.schemas.training import (
    AutoScaleLRSettings,
    EvalLoopSchema,
    OptimWrapperSchema,
    SchedulerSchema,
    TrainLoopSchema,
)

RUNTIME_NOTE = "accepted for mmdet compatibility; not used by visdet"


def _runtime(kind: Any = dict[str, Any]) -> Any:
    return Annotated[kind | None, Field(None, description=RUNTIME_NOTE)]


class VisdetConfig(Section):
    """A complete visdet config: model, data, optimizer, schedule (all optional)."""

    model: FasterRCNNSchema | None = None
    dataset_type: str | None = Field(None, description="helper variable of mmdet's dataset configs")
    data_root: str | None = Field(None, description="helper variable of mmdet's dataset configs")
    backend_args: None = None
    train_pipeline: list[TransformSchema] | None = None
    test_pipeline: list[TransformSchema] | None = None
    train_dataloader: DataLoaderSettings | None = None
    val_dataloader: DataLoaderSettings | None = None
    test_dataloader: DataLoaderSettings | None = None
    val_evaluator: CocoMetricSchema | None = None
    test_evaluator: CocoMetricSchema | None = None
    optim_wrapper: OptimWrapperSchema | None = None
    param_scheduler: list[SchedulerSchema] | None = None
    auto_scale_lr: AutoScaleLRSettings | None = None
    train_cfg: TrainLoopSchema | None = None
    val_cfg: EvalLoopSchema | None = None
    test_cfg: EvalLoopSchema | None = None
    default_scope: _runtime(str) = None
    default_hooks: _runtime() = None
    custom_hooks: _runtime(list[dict[str, Any]]) = None
    env_cfg: _runtime() = None
    vis_backends: _runtime(list[dict[str, Any]]) = None
    visualizer: _runtime() = None
    log_processor: _runtime() = None
    log_level: _runtime(str) = None
    load_from: str | None = Field(None, description="checkpoint to load before training or testing")
    resume: bool = False
    work_dir: str | None = None
    launcher: _runtime(str) = None
    randomness: _runtime() = None
