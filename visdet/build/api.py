"""Config -> objects: validate a config against a kind's schemas, then build it.

* :func:`validate_component` / :func:`build_component`: any registered kind
  (``build_component("loss", {"type": "L1Loss"})``).
* :func:`route_model` / :func:`validate_model` / :func:`build_model`: a detector config
  in mmdet's shape (its ``train_cfg``/``test_cfg`` routed onto the heads first).
* :func:`build_pipeline`: a list of transform configs.

Every error is a :class:`~visdet.config.errors.ConfigError` naming the config path.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Annotated, Any

from pydantic import create_model

from visdet.build.component import Component, ComponentOf, Section
from visdet.build.registry import registry
from visdet.build.routing import Routed, route_settings
from visdet.build.validate import validate
from visdet.config.errors import ConfigError

VALUE = "value"


@cache
def _holder(kind: str) -> type[Section]:
    """A one-field schema holding any ``kind`` (so a component validates like a field)."""
    return create_model(f"Any_{kind}", __base__=Section, value=(Annotated[Component, ComponentOf(kind)], ...))


def validate_component(kind: str, config: Mapping[str, Any] | Component, *, where: str = "", source: str = "") -> Any:
    """``config`` validated as a ``kind`` (the schema object of its type).

    Args:
        kind: The component kind (``"backbone"``, ``"loss"``...).
        config: ``{"type": ..., **options}`` or a schema object (returned as is).
        where: The config's path, for messages (default: the kind).
        source: The file the config came from, for messages.

    Raises:
        ConfigError: Naming each bad path.
    """
    if isinstance(config, Component):
        return config
    holder = _holder(kind)
    where = where or kind
    data = {VALUE: config}
    return validate(data, holder, source=source, origins={VALUE: where}).value


def build_component(kind: str, config: Mapping[str, Any] | Component, *, where: str = "", **context: Any) -> Any:
    """Validate ``config`` as a ``kind`` and build it (``context``: what the kind's factory takes)."""
    return validate_component(kind, config, where=where).build(**context)


def route_model(config: Mapping[str, Any], *, where: str = "model") -> Routed:
    """A detector config with mmdet's ``train_cfg``/``test_cfg`` moved onto its heads.

    Configs whose ``type`` is missing or unknown are returned unrouted (validation then
    reports the type).
    """
    if not isinstance(config, Mapping):
        raise ConfigError(f"invalid config: {where}: expected a mapping, got {type(config).__name__}")
    name = config.get("type")
    detectors = registry("detector")
    if not isinstance(name, str) or name not in detectors:
        return Routed(config=dict(config))
    return route_settings(config, detectors.get(name).routes, where=where)


def validate_model(config: Mapping[str, Any] | Component, *, where: str = "model", source: str = "") -> Any:
    """A detector config routed and validated (the detector's schema object).

    Raises:
        ConfigError: Naming each bad path where the user wrote it.
    """
    if isinstance(config, Component):
        return config
    routed = route_model(config, where=where)
    data = {VALUE: routed.config}
    return validate(data, _holder("detector"), source=source, origins={VALUE: where, **routed.origins}).value


def build_model(config: Mapping[str, Any] | Component, *, where: str = "model", source: str = "") -> Any:
    """Route, validate and build a detector config (mmdet's shape; see :func:`validate_model`)."""
    return validate_model(config, where=where, source=source).build()


def build_pipeline(
    steps: Sequence[Mapping[str, Any] | Component | Callable[..., Any]], *, where: str = "pipeline"
) -> list[Callable[..., Any]]:
    """The transforms of a pipeline config (callables pass through; dicts are validated).

    Raises:
        ConfigError: A step is invalid (naming ``where[i]`` and the key).
        TypeError: A step is neither a dict nor a callable.
    """
    out = []
    for i, step in enumerate(steps):
        if isinstance(step, (Mapping, Component)):
            out.append(build_component("transform", step, where=f"{where}[{i}]"))
        elif callable(step):
            out.append(step)
        else:
            raise TypeError(f"{where}[{i}]: expected a transform config dict or a callable, got {type(step).__name__}")
    return out


def num_classes_override(model_config: Mapping[str, Any], num_classes: int) -> dict[str, Any]:
    """A nested override setting every ``num_classes`` entry of a detector config (for ``merge``).

    The entries are the detector schema's ``num_classes_paths``
    (``roi_head.bbox_head.num_classes`` for Faster R-CNN); a class-agnostic detector
    (``RPN``) has none, and gets ``{}``. Where the config holds a list on the way (the
    per-stage ``bbox_head`` list of a cascade), the override is that whole list with
    ``num_classes`` set in every entry, since ``merge`` replaces lists. A path whose head
    the config does not have (a cascade without mask heads) is skipped.

    Raises:
        ConfigError: The config's ``type`` is not a registered detector.
    """
    try:
        schema = registry("detector").get(str(model_config.get("type")))
    except KeyError as err:
        raise ConfigError(f"invalid config: model.type: {err.args[0]}") from None
    out: dict[str, Any] = {}
    for path in schema.num_classes_paths:
        *parents, leaf = path.split(".")
        node: dict[str, Any] = out
        written: Any = model_config
        for part in parents:
            written = written.get(part) if isinstance(written, Mapping) else None
            if written is None:
                break
            if isinstance(written, list):
                node[part] = [
                    {**copy.deepcopy(dict(entry)), leaf: num_classes} if isinstance(entry, Mapping) else entry
                    for entry in written
                ]
                break
            node = node.setdefault(part, {})
        else:
            node[leaf] = num_classes
    return out
