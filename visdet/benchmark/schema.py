"""The JSON format of a benchmark run, versioned, with a lossless round trip.

A run is one invocation of ``visdet bench``: the machine it ran on, the settings, and
one :class:`ComponentResult` per (component, implementation, input size). Every figure
is a :class:`Metric` that carries its unit, so a reader never has to guess whether a
time is in seconds or milliseconds.

Layout (``schema_version`` 1)::

    {"schema": "visdet.benchmark", "schema_version": 1, "created": ISO-8601 UTC,
     "machine": {...}, "settings": {...},
     "results": [{"component": "ops/nms", "family": "ops", "impl": "visdet",
                  "size": 1000, "size_name": "boxes", "status": "ok", "message": null,
                  "metrics": {"forward_time": {"value": 0.01, "unit": "s",
                                               "iqr": 0.001, "repeats": 20,
                                               "method": "..."}, ...}}]}
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_NAME = "visdet.benchmark"
SCHEMA_VERSION = 1

# Statuses a result can have: measured, component not importable yet / reference
# absent, or the measurement raised.
STATUSES = ("ok", "unavailable", "error")


class SchemaError(ValueError):
    """A JSON document is not a visdet benchmark run this version can read."""


@dataclass(frozen=True)
class Metric:
    """One measured figure.

    Attributes:
        value: The figure (median for times).
        unit: ``"s"``, ``"B"``, ``"FLOP"`` or ``"count"``.
        iqr: Interquartile range of the repeats, same unit (times only).
        repeats: How many timed blocks the median was taken over.
        method: How the figure was obtained (e.g. which memory measure).
    """

    value: float
    unit: str
    iqr: float | None = None
    repeats: int | None = None
    method: str | None = None


@dataclass(frozen=True)
class ComponentResult:
    """Everything measured for one component, implementation and input size."""

    component: str
    family: str
    impl: str
    size: int
    size_name: str
    status: str = "ok"
    message: str | None = None
    metrics: dict[str, Metric] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, int]:
        """``(component, impl, size)``, unique within a run."""
        return (self.component, self.impl, self.size)


@dataclass(frozen=True)
class BenchmarkRun:
    """A whole run: machine, settings and results."""

    machine: dict[str, Any]
    settings: dict[str, Any]
    results: list[ComponentResult]
    created: str
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dictionary (see the module docstring for the layout)."""
        return {
            "schema": SCHEMA_NAME,
            "schema_version": self.schema_version,
            "created": self.created,
            "machine": dict(self.machine),
            "settings": dict(self.settings),
            "results": [_result_to_dict(r) for r in self.results],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchmarkRun:
        """Read a run back, checking the schema name and version.

        Raises:
            SchemaError: Not a visdet benchmark document, a newer version, or a
                malformed entry.
        """
        if not isinstance(data, dict) or data.get("schema") != SCHEMA_NAME:
            raise SchemaError(f"not a {SCHEMA_NAME} document (schema={_peek(data)!r})")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise SchemaError(f"schema_version {version!r} is not supported (this visdet reads {SCHEMA_VERSION})")
        try:
            results = [_result_from_dict(r) for r in data["results"]]
            return cls(
                machine=dict(data["machine"]),
                settings=dict(data["settings"]),
                results=results,
                created=str(data["created"]),
                schema_version=version,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaError(f"malformed benchmark run: {exc!r}") from exc

    def save(self, path: str | Path) -> Path:
        """Write the run as indented JSON and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> BenchmarkRun:
        """Read a run written by :meth:`save`.

        Raises:
            SchemaError: The file is not valid JSON or not a run of this version.
        """
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise SchemaError(f"{path}: not valid JSON ({exc})") from exc
        return cls.from_dict(data)


def _peek(data: object) -> object:
    return data.get("schema") if isinstance(data, dict) else type(data).__name__


def _result_to_dict(result: ComponentResult) -> dict[str, Any]:
    out = asdict(result)
    out["metrics"] = {name: asdict(m) for name, m in result.metrics.items()}
    return out


def _result_from_dict(data: dict[str, Any]) -> ComponentResult:
    status = data.get("status", "ok")
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    metrics = {name: Metric(**m) for name, m in data.get("metrics", {}).items()}
    return ComponentResult(
        component=str(data["component"]),
        family=str(data["family"]),
        impl=str(data["impl"]),
        size=int(data["size"]),
        size_name=str(data["size_name"]),
        status=status,
        message=data.get("message"),
        metrics=metrics,
    )
