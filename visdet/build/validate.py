"""Validate config dicts against the schemas, with messages that name the config path.

pydantic reports locations with extra steps (the ``type`` tag of a discriminated union,
the branch names of plain unions); :func:`format_errors` walks the input data along the
location to keep only the keys a person wrote: ``model.backbone.depth``,
``train_dataloader.dataset.pipeline[2].scale``. Unknown keys get a did-you-mean hint
from the fields of the schema at that place. Settings that
:mod:`visdet.build.routing` moved (``model.test_cfg.rcnn`` to
``model.roi_head.test_cfg``) are reported where they were written.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from visdet.build.component import ComponentOf
from visdet.build.registry import did_you_mean, listing, registry
from visdet.config.errors import ConfigError


def _path(data: Any, loc: Sequence[Any]) -> str:
    """The written path of ``loc`` in ``data`` (pydantic's union and tag steps left out)."""
    parts: list[str] = []
    current = data
    for index, step in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(step, int) and isinstance(current, list) and 0 <= step < len(current):
            parts.append(f"[{step}]")
            current = current[step]
        elif isinstance(current, Mapping) and step in current:
            parts.append(f".{step}" if parts else str(step))
            current = current[step]
        elif isinstance(current, Mapping) and current.get("type") == step:
            continue  # the discriminator tag pydantic adds
        elif last and isinstance(step, str) and (isinstance(current, Mapping) or current is None):
            parts.append(f".{step}" if parts else str(step))
        # else: a union branch name; it names no key
    return "".join(parts) or "<config>"


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _narrow(annotation: Any, step: Any) -> Any:
    """Strip ``Annotated``/unions down to what ``step`` continues into."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            base, *metadata = typing.get_args(annotation)
            kinds = [m for m in metadata if isinstance(m, ComponentOf)]
            if kinds:
                reg = registry(kinds[0].kind)
                return reg.get(step) if isinstance(step, str) and step in reg else ("registry", reg)
            annotation = base
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            containers = [a for a in options if _is_model(a) or typing.get_origin(a) in (list, typing.Annotated)]
            if isinstance(step, int):
                containers = [a for a in containers if typing.get_origin(a) is list] or containers
            else:
                containers = [a for a in containers if typing.get_origin(a) is not list] or containers
            if not containers:
                return None
            annotation = containers[0]
        else:
            return annotation


def _field_annotation(schema: type[BaseModel], name: str) -> Any:
    """A field's annotation with its ``ComponentOf`` metadata (pydantic keeps that apart)."""
    field = schema.model_fields[name]
    kinds = [m for m in field.metadata if isinstance(m, ComponentOf)]
    return typing.Annotated[field.annotation, kinds[0]] if kinds else field.annotation


def _schema_at(root: type[BaseModel], loc: Sequence[Any]) -> type[BaseModel] | None:
    """The schema class that validates the mapping at ``loc`` (``None`` if not found)."""
    current: Any = root
    for step in loc:
        current = _narrow(current, step)
        if isinstance(current, tuple):  # a registry whose type is not this step: a tag step follows
            continue
        if _is_model(current):
            if isinstance(step, str) and step in current.model_fields:
                current = _field_annotation(current, step)
        elif typing.get_origin(current) is list and isinstance(step, int):
            current = typing.get_args(current)[0]
        elif current is None:
            return None
    current = _narrow(current, None)
    return current if _is_model(current) else None


def _message(error: Mapping[str, Any], root: type[BaseModel]) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace(" or ", ", ")
        return f"{value!r} is not one of {expected}"
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        schema = _schema_at(root, error["loc"][:-1])
        fields = sorted(schema.model_fields) if schema is not None else []
        hint = did_you_mean(key, fields)
        allowed = f" (allowed keys: {listing(fields)})" if fields else ""
        return f"unknown key{hint}{allowed}"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        tags = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",")]
        return f"unknown type {ctx.get('tag')!r}{did_you_mean(str(ctx.get('tag')), tags)} (allowed: {listing(tags)})"
    if kind == "union_tag_not_found":
        return "missing 'type' key"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return f"{error['msg']} (got {value!r})"


def _written(path: str, origins: Mapping[str, str]) -> str:
    """``path`` with routed prefixes replaced by where the user wrote them (in ``origins``' order)."""
    for routed, origin in origins.items():
        if path == routed or path.startswith((routed + ".", routed + "[")):
            path = origin + path[len(routed) :]
    return path


def format_errors(
    err: ValidationError,
    data: Any,
    root: type[BaseModel],
    prefix: str = "",
    origins: Mapping[str, str] | None = None,
) -> list[str]:
    """One ``path: message`` line per distinct problem in ``err``."""
    lines: dict[str, list[str]] = {}
    for error in err.errors():
        loc = list(error["loc"])
        if error["type"] == "union_tag_invalid":
            loc.append("type")
        path = _path(data, loc)
        if prefix:
            path = f"{prefix}.{path}" if path != "<config>" else prefix
        path = _written(path, origins or {})
        message = _message(error, root)
        bucket = lines.setdefault(path, [])
        if message not in bucket:
            bucket.append(message)
    return [f"{path}: {' | '.join(messages)}" for path, messages in lines.items()]


def raise_config_error(lines: Sequence[str], source: str = "") -> typing.NoReturn:
    """Raise one ``ConfigError`` listing ``lines`` (one line: one problem)."""
    where = f" in {source}" if source else ""
    if len(lines) == 1:
        raise ConfigError(f"invalid config{where}: {lines[0]}") from None
    body = "\n  ".join(lines)
    raise ConfigError(f"invalid config{where} ({len(lines)} errors):\n  {body}") from None


def validate(
    data: Any,
    schema: type[BaseModel],
    *,
    prefix: str = "",
    source: str = "",
    origins: Mapping[str, str] | None = None,
) -> Any:
    """Validate ``data`` against ``schema``.

    Args:
        data: The resolved config (plain dicts and lists).
        schema: The schema class.
        prefix: Path of ``data`` inside the whole config (``"model"``), for messages.
        source: The file the config came from, named in the message.
        origins: Routed path -> written path (see :mod:`visdet.build.routing`).

    Returns:
        The validated schema object.

    Raises:
        ConfigError: Naming each bad path, the value and what is allowed.
    """
    try:
        return schema.model_validate(data)
    except ValidationError as err:
        raise_config_error(format_errors(err, data, schema, prefix, origins), source)
