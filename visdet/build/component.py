"""The schema classes of the config boundary: ``Section``, ``Component``, ``ComponentOf``.

* :class:`Section`: a config mapping without ``type`` (``train_cfg.rpn``); unknown keys
  are errors.
* :class:`Component`: ``type`` (a ``Literal`` of mmdet's class name(s)) plus that type's
  keyword arguments with their defaults, an ``example`` (the smallest config, which the
  registry sweep builds) and ``build(**context)``, the factory.
* ``Annotated[Component, ComponentOf("loss")]``: a field that takes any registered type
  of a kind; pydantic validates it as a union discriminated by ``type``, built from the
  registry when a schema is first used (schemas are built lazily, ``defer_build``).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import core_schema

from visdet.build.registry import REBUILDERS, registry

# Config keys that steer only mmdet's weight initialisation; accepted for compatibility
# and ignored: visdet loads weights with load_checkpoint.
INIT_ONLY_KEYS = frozenset({"init_cfg", "pretrained"})
InitConfig = dict[str, Any] | list[dict[str, Any]] | None
INIT_NOTE = "mmdet's weight initialisation; ignored (visdet loads weights with load_checkpoint)"


def init_field() -> Any:
    """The ``init_cfg`` field every module schema has (accepted, ignored)."""
    return Field(None, description=INIT_NOTE)


def component_default(config: dict[str, Any]) -> Any:
    """A component field whose default is ``config`` (validated like a written one)."""
    return Field(default=config, validate_default=True)


class Section(BaseModel):
    """A config mapping without a ``type`` (e.g. ``train_cfg.rpn``); unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    def plain(self) -> dict[str, Any]:
        """The section as a plain dict, leaving out keys that are ``None``."""
        return self.model_dump(exclude_none=True)


class Component(Section):
    """A component config: ``type`` plus the keyword arguments of that component.

    Subclasses declare ``type: Literal["Name", ...]``, the fields with their defaults, a
    class-level ``example`` (the smallest config of the type) and ``build``.
    """

    type: str
    example: ClassVar[dict[str, Any]]

    @abstractmethod
    def build(self, **context: Any) -> Any:
        """Build the component (``context``: what the kind's factory needs, e.g. a model)."""

    def arguments(self, *exclude: str) -> dict[str, Any]:
        """The fields as constructor keywords: without ``type``, init-only keys and ``exclude``.

        Nested ``Section`` values become plain dicts (``None`` entries left out); nested
        components are left as they are (their owner builds them).
        """
        out = {}
        for name in type(self).model_fields:
            if name == "type" or name in INIT_ONLY_KEYS or name in exclude:
                continue
            value = getattr(self, name)
            if isinstance(value, Section) and not isinstance(value, Component):
                value = value.plain()
            out[name] = value
        return out


def build_optional(config: Component | None, **context: Any) -> Any:
    """``config.build(**context)``, or ``None`` for no config."""
    return None if config is None else config.build(**context)


@dataclass(frozen=True)
class ComponentOf:
    """Field metadata: any registered type of ``kind`` (a union discriminated by ``type``)."""

    kind: str

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        reg = registry(self.kind)
        if not len(reg):
            raise RuntimeError(f"no {self.kind} type is registered (is visdet.build.catalog loaded?)")
        reg.used = True
        generated: dict[type, core_schema.CoreSchema] = {}
        choices = {}
        for name, schema in reg.items():
            if schema not in generated:
                generated[schema] = handler.generate_schema(schema)
            choices[name] = generated[schema]
        return core_schema.tagged_union_schema(choices, discriminator="type")

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> Any:
        """The union as JSON Schema: ``type`` picks the schema with ``if``/``then``.

        Not ``oneOf``: validators then report the deepest error (``model.backbone.depth``)
        rather than "no branch matched".
        """
        generated = handler(schema)
        mapping = generated.get("discriminator", {}).get("mapping") or {}
        branches = [
            {"if": {"properties": {"type": {"const": name}}, "required": ["type"]}, "then": {"$ref": ref}}
            for name, ref in mapping.items()
        ]
        return {
            "type": "object",
            "description": f"a {self.kind}: {', '.join(mapping)}",
            "required": ["type"],
            "properties": {"type": {"enum": list(mapping)}},
            "allOf": branches,
        }


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out


def rebuild_schemas() -> None:
    """Rebuild every schema already built (after a type is registered late, e.g. by a user)."""
    built = [cls for cls in _subclasses(Section) if cls.__pydantic_complete__]
    for _ in range(2):  # twice: a parent may have embedded a child's stale schema the first time
        for cls in built:
            cls.model_rebuild(force=True)


REBUILDERS.append(rebuild_schemas)
