"""Validate config dicts against the schemas, with messages that name the config path.

pydantic reports locations with extra steps (the ``type`` tag of a discriminated union,
the branch names of plain unions); :func:`format_errors` walks the input data along the
location to keep only the keys a person wrote: ``model.backbone.depth``,
``train_dataloader.dataset.pipeline[2].scale``. Unknown keys get a did-you-mean hint
from the fields of the schema at that place.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from visdet.config.errors import ConfigError
from visdet.config.schemas.base import SCHEMAS
from visdet.config.schemas.root import VisdetConfig

MAX_LISTED = 12


def _path(data: Any, loc: Sequence[Any]) -> tuple[str, Any]:
    """The written path of ``loc`` in ``data`` and the value of its parent container."""
    parts: list[str] = []
    parent, current = None, data
    for index, step in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(step, int) and isinstance(current, list) and 0 <= step < len(current):
            parts.append(f"[{step}]")
            parent, current = current, current[step]
        elif isinstance(current, Mapping) and step in current:
            parts.append(f".{step}" if parts else str(step))
            parent, current = current, current[step]
        elif isinstance(current, Mapping) and current.get("type") == step:
            continue  # the discriminator tag pydantic adds
        elif last and isinstance(step, str) and (isinstance(current, Mapping) or current is None):
            parts.append(f".{step}" if parts else str(step))
            parent = current
        # else: a union branch name; it names no key
    return "".join(parts) or "<config>", parent


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _narrow(annotation: Any, step: Any) -> Any:
    """Strip ``Annotated`` and pick the union member that ``step`` continues into."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            if isinstance(step, str) and step in SCHEMAS and SCHEMAS[step] in options:
                return SCHEMAS[step]
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


def _schema_at(root: type[BaseModel], loc: Sequence[Any]) -> type[BaseModel] | None:
    """The schema class that validates the mapping at ``loc`` (``None`` if not found)."""
    current: Any = root
    for step in loc:
        current = _narrow(current, step)
        if _is_model(current):
            if isinstance(step, str) and step in current.model_fields:
                current = current.model_fields[step].annotation
            elif isinstance(step, str) and step in SCHEMAS:
                current = SCHEMAS[step]
        elif typing.get_origin(current) is list and isinstance(step, int):
            current = typing.get_args(current)[0]
        elif current is None:
            return None
    current = _narrow(current, None)
    return current if _is_model(current) else None


def _listing(values: Sequence[str]) -> str:
    shown = ", ".join(values[:MAX_LISTED])
    return shown + (", ..." if len(values) > MAX_LISTED else "")


def did_you_mean(name: str, choices: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` when a choice is close to ``name``, else ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


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
        allowed = f" (allowed keys: {_listing(fields)})" if fields else ""
        return f"unknown key{hint}{allowed}"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        tags = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",")]
        return f"unknown type {ctx.get('tag')!r}{did_you_mean(str(ctx.get('tag')), tags)} (allowed: {_listing(tags)})"
    if kind == "union_tag_not_found":
        return "missing 'type' key"
    return f"{error['msg']} (got {value!r})"


def format_errors(err: ValidationError, data: Any, root: type[BaseModel], prefix: str = "") -> list[str]:
    """One ``path: message`` line per distinct problem in ``err``."""
    lines: dict[str, list[str]] = {}
    for error in err.errors():
        loc = list(error["loc"])
        if error["type"] == "union_tag_invalid":
            loc.append("type")
        path, _ = _path(data, loc)
        if prefix:
            path = f"{prefix}.{path}" if path != "<config>" else prefix
        message = _message(error, root)
        bucket = lines.setdefault(path, [])
        if message not in bucket:
            bucket.append(message)
    return [f"{path}: {' | '.join(messages)}" for path, messages in lines.items()]


def validate(data: Any, schema: type[BaseModel] = VisdetConfig, *, prefix: str = "", source: str = "") -> BaseModel:
    """Validate ``data`` against ``schema``.

    Args:
        data: The resolved config (plain dicts and lists).
        schema: The schema class (default: a whole config).
        prefix: Path of ``data`` inside the whole config (``"model"``), for messages.
        source: The file the config came from, named in the message.

    Returns:
        The validated schema object.

    Raises:
        ConfigError: Naming each bad path, the value and what is allowed.
    """
    try:
        return schema.model_validate(data)
    except ValidationError as err:
        lines = format_errors(err, data, schema, prefix)
        where = f" in {source}" if source else ""
        if len(lines) == 1:
            raise ConfigError(f"invalid config{where}: {lines[0]}") from None
        body = "\n  ".join(lines)
        raise ConfigError(f"invalid config{where} ({len(lines)} errors):\n  {body}") from None


def validate_config(data: Any, *, source: str = "") -> VisdetConfig:
    """Validate a whole resolved config (see :func:`validate`)."""
    return validate(data, VisdetConfig, source=source)  # type: ignore[return-value]
