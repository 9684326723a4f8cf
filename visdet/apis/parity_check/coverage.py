"""Which components of an mmdet model config visdet supports.

Every dict with a ``type`` inside ``model`` is a component (``model.backbone: ResNet``,
``model.train_cfg.rcnn.sampler: RandomSampler``); it is supported when some visdet
registry knows its type. Layer specs that are options of a component rather than
components of their own (``norm_cfg``, ``act_cfg``, ``nms``, ``init_cfg``...) are checked
by validating the whole model config instead: every path the validation rejects becomes a
row of its own, with visdet's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# options of a component that carry a ``type`` without being registry components
LAYER_SPECS = frozenset(
    {"norm_cfg", "act_cfg", "conv_cfg", "nms", "init_cfg", "upsample_cfg", "dcn", "plugins"}
)


@dataclass(frozen=True)
class CoverageRow:
    """One component of the config: its path, its type, and whether visdet builds it."""

    path: str
    type: str
    supported: bool
    note: str = ""

    def line(self) -> str:
        """``model.backbone: ResNet ✔`` or ``...: FCNMaskHead ✗ not supported yet``."""
        mark = "✔" if self.supported else "✗"
        return f"{self.path}: {self.type} {mark}" + (f" {self.note}" if self.note else "")


def _walk(value: Any, path: str, rows: list[CoverageRow]) -> None:
    if isinstance(value, Mapping):
        kind = value.get("type")
        if isinstance(kind, str) and path.rsplit(".", 1)[-1] not in LAYER_SPECS:
            from visdet.build.registry import find_schema

            known = find_schema(kind) is not None
            rows.append(CoverageRow(path, kind, known, "" if known else "not supported yet"))
        for key, item in value.items():
            if key != "type":
                _walk(item, f"{path}.{key}", rows)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _walk(item, f"{path}[{i}]", rows)


def coverage(model_config: Mapping[str, Any]) -> list[CoverageRow]:
    """Rows for every component of ``model_config`` (mmdet's ``model`` dict), then validation errors.

    When every component type is known, the config is also validated against visdet's
    schemas; each rejected path (an option visdet does not take, say) is added as an
    unsupported row with the validation message.
    """
    rows: list[CoverageRow] = []
    _walk(model_config, "model", rows)
    if all(row.supported for row in rows):
        from visdet.build import validate_model
        from visdet.config.errors import ConfigError

        try:
            validate_model(model_config)
        except ConfigError as err:
            for line in str(err).splitlines():
                line = line.strip().removeprefix("invalid config:").strip().removeprefix("- ")
                if ": " in line and line.startswith("model"):
                    path, message = line.split(": ", 1)
                    rows.append(CoverageRow(path.strip(), "option", False, message.strip()))
            if all(row.supported for row in rows):  # a message in another shape: keep it whole
                rows.append(CoverageRow("model", str(model_config.get("type")), False, str(err)))
    return rows


def markdown_table(rows: list[CoverageRow]) -> str:
    """The coverage rows as a markdown table."""
    lines = ["| config path | type | visdet |", "|---|---|---|"]
    for row in rows:
        status = "✔" if row.supported else f"✗ {row.note}".strip()
        lines.append(f"| `{row.path}` | {row.type} | {status} |")
    return "\n".join(lines)
