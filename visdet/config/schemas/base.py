"""Shared pieces of the config schemas: the component base class and its registry.

Every component schema subclasses :class:`Component` (``extra="forbid"``: unknown keys
are errors) and declares ``type`` as a ``Literal`` of its mmdet class name, which makes
``type`` the discriminator of the unions it appears in. :func:`register` records each
schema by type name so error messages can list a component's fields.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict

# Config keys that steer only mmdet's weight initialisation; kept for compatibility,
# visdet loads weights with load_checkpoint instead.
InitConfig = dict[str, Any] | list[dict[str, Any]] | None

SCHEMAS: dict[str, type[BaseModel]] = {}

ModelT = TypeVar("ModelT", bound=type[BaseModel])


class Section(BaseModel):
    """A config mapping without a ``type`` (e.g. ``train_cfg.rpn``); unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class Component(Section):
    """A component config: ``type`` plus the keyword arguments of that component."""

    type: str


def register(schema: ModelT) -> ModelT:
    """Record ``schema`` under the name(s) of its ``type`` literal."""
    field = schema.model_fields["type"]
    names = get_args(field.annotation)
    if not names:
        raise TypeError(f"{schema.__name__}.type must be a Literal of type names")
    for name in names:
        SCHEMAS[name] = schema
    return schema


NormType = Literal["BN", "SyncBN", "GN", "LN", "IN"]


class NormConfig(Section):
    """``norm_cfg``: which normalisation layer, and whether its affine weights train."""

    type: NormType = "BN"
    requires_grad: bool = True
    eps: float | None = None
    momentum: float | None = None
    num_groups: int | None = None


class ActConfig(Section):
    """``act_cfg``: which activation layer."""

    type: Literal["ReLU", "LeakyReLU", "GELU", "SiLU", "Sigmoid", "Tanh", "ReLU6", "HSwish", "Swish"] = "ReLU"
    inplace: bool | None = None
    negative_slope: float | None = None


class NMSConfig(Section):
    """``nms``: the NMS kind and its IoU threshold."""

    type: Literal["nms", "soft_nms"] = "nms"
    iou_threshold: float
    min_score: float | None = None
    sigma: float | None = None
    method: Literal["linear", "gaussian", "naive"] | None = None
    split_thr: int | None = None
