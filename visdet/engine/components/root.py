"""``VisdetConfig``: the schema of a whole config file (mmdet's top-level names).

Every section visdet reads is typed, through the same registries as the model
(``optim_wrapper``, ``param_scheduler``, ``train_cfg``, ``default_hooks``,
``custom_hooks``, ``val_evaluator``, the ``visdet`` section...). Runtime settings that
only mmengine's runner reads (visualizer, logging, environment) are accepted as plain
mappings so converted mmdet configs validate, and are documented as not used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, field_validator

from visdet.build.api import route_model
from visdet.build.component import Component, ComponentOf, Section
from visdet.build.components.datasets import DataLoaderConfig
from visdet.build.components.transforms import TransformConfig
from visdet.build.validate import validate
from visdet.config.merge import merge
from visdet.engine.components.finetune import FinetuneSettings
from visdet.engine.components.hooks import DEFAULT_HOOKS
from visdet.engine.components.runtime import AutoScaleLRSettings, RandomnessSettings, VisdetSettings

RUNTIME_NOTE = "accepted for mmdet compatibility; not used by visdet"
Hooks = dict[str, Annotated[Component, ComponentOf("hook")] | None]


def _runtime(kind: Any = dict[str, Any]) -> Any:
    return Annotated[kind | None, Field(None, description=RUNTIME_NOTE)]


class VisdetConfig(Section):
    """A complete visdet config: model, data, optimizer, schedule, hooks (all optional)."""

    model: Annotated[Component, ComponentOf("detector")] | None = None
    dataset_type: str | None = Field(None, description="helper variable of mmdet's dataset configs")
    data_root: str | None = Field(None, description="helper variable of mmdet's dataset configs")
    backend_args: None = None
    train_pipeline: list[TransformConfig] | None = None
    test_pipeline: list[TransformConfig] | None = None
    train_dataloader: DataLoaderConfig | None = None
    val_dataloader: DataLoaderConfig | None = None
    test_dataloader: DataLoaderConfig | None = None
    val_evaluator: Annotated[Component, ComponentOf("metric")] | None = None
    test_evaluator: Annotated[Component, ComponentOf("metric")] | None = None
    optim_wrapper: Annotated[Component, ComponentOf("optim_wrapper")] | None = None
    param_scheduler: list[Annotated[Component, ComponentOf("scheduler")]] | None = None
    auto_scale_lr: AutoScaleLRSettings | None = None
    train_cfg: Annotated[Component, ComponentOf("train_loop")] | None = None
    val_cfg: Annotated[Component, ComponentOf("eval_loop")] | None = None
    test_cfg: Annotated[Component, ComponentOf("eval_loop")] | None = None
    default_hooks: Hooks = Field(
        default=DEFAULT_HOOKS, validate_default=True,
        description="mmdet's default_runtime hooks, merged with the config's entries (null removes one)",
    )  # fmt: skip
    custom_hooks: list[Annotated[Component, ComponentOf("hook")]] = []
    visdet: VisdetSettings = VisdetSettings()
    randomness: RandomnessSettings = RandomnessSettings()
    finetune: FinetuneSettings | None = Field(None, description="fine-tune load_from's model: full, head_only, lora")
    load_from: str | None = Field(None, description="checkpoint to load before training or testing")
    resume: bool | str = Field(False, description="true: continue from work_dir/latest.pth; a path: from it")
    work_dir: str | None = None
    default_scope: _runtime(str) = None
    env_cfg: _runtime() = None
    vis_backends: _runtime(list[dict[str, Any]]) = None
    visualizer: _runtime() = None
    log_processor: _runtime() = None
    log_level: _runtime(str) = None
    launcher: _runtime(str) = None

    @field_validator("default_hooks", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any) -> Any:
        # as if every config inherited mmdet's default_runtime.py: entries merge into it
        return merge(DEFAULT_HOOKS, value) if isinstance(value, Mapping) else value


def validate_config(data: Mapping[str, Any], *, source: str = "") -> VisdetConfig:
    """Validate a whole resolved config (its model's settings routed first).

    Raises:
        ConfigError: Naming each bad path (where it was written) and the file.
    """
    origins: dict[str, str] = {}
    if isinstance(data, Mapping) and isinstance(data.get("model"), Mapping):
        routed = route_model(data["model"], where="model")
        data, origins = {**data, "model": routed.config}, routed.origins
    return validate(data, VisdetConfig, source=source, origins=origins)


def config_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a whole visdet config file."""
    schema = VisdetConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "visdet config"
    return schema
