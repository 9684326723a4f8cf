"""The model zoo: mmdet 3.3's released checkpoints for visdet's model presets.

The table is data (``visdet/presets/zoo/model_zoo.yaml``), copied from mmdet 3.3's
``configs/*/metafile.yml``: per preset, mmdet's model name and config, the published
metrics (``box AP``, ``mask AP``, ``AR@1000``) and the checkpoint's URL. Two environment
variables redirect it: ``VISDET_ZOO_BASE`` replaces the URL base (a mirror, or a local test
server) and ``VISDET_MODEL_ZOO`` names another table file of the same shape.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from visdet.config.errors import ConfigError

ZOO_FILE = "zoo/model_zoo.yaml"


@dataclass(frozen=True)
class ZooEntry:
    """One released checkpoint.

    Attributes:
        preset: visdet's model preset (``"faster_rcnn_r50_fpn"``).
        mmdet_name: The model's name in mmdet's metafile.
        mmdet_config: mmdet's config of that model.
        url: Where the checkpoint is published.
        metrics: The published COCO metrics (``{"box AP": 37.4}``).
    """

    preset: str
    mmdet_name: str
    mmdet_config: str
    url: str
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def box_ap(self) -> float | None:
        """The published box AP, if any."""
        return self.metrics.get("box AP")

    @property
    def mask_ap(self) -> float | None:
        """The published mask AP, if any."""
        return self.metrics.get("mask AP")


def _read_table() -> tuple[dict[str, Any], str]:
    import yaml

    override = os.environ.get("VISDET_MODEL_ZOO")
    if override:
        with open(override, encoding="utf-8") as handle:
            return yaml.safe_load(handle), override
    text = (resources.files("visdet.presets") / ZOO_FILE).read_text(encoding="utf-8")
    return yaml.safe_load(text), f"visdet/presets/{ZOO_FILE}"


def model_zoo() -> dict[str, ZooEntry]:
    """Every entry of the table, by preset name, in the table's order.

    Raises:
        ConfigError: When the table is malformed (names the file and the entry).
    """
    table, source = _read_table()
    if not isinstance(table, dict) or not isinstance(table.get("models"), dict):
        raise ConfigError(f"{source}: expected a mapping with 'base' and 'models'")
    base = os.environ.get("VISDET_ZOO_BASE") or str(table.get("base") or "")
    if base and not base.endswith("/"):
        base += "/"
    entries = {}
    for preset, row in table["models"].items():
        if not isinstance(row, dict) or not isinstance(row.get("weights"), str):
            raise ConfigError(f"{source}: models.{preset}: expected a mapping with a 'weights' path or URL")
        weights = row["weights"]
        url = weights if "://" in weights else base + weights
        metrics = {str(k): float(v) for k, v in (row.get("metrics") or {}).items()}
        entries[str(preset)] = ZooEntry(
            preset=str(preset),
            mmdet_name=str(row.get("mmdet_name", "")),
            mmdet_config=str(row.get("mmdet_config", "")),
            url=url,
            metrics=metrics,
        )
    return entries


def zoo_entry(preset: str) -> ZooEntry:
    """The released checkpoint of model preset ``preset`` (``"faster_rcnn_r50_fpn"`` or ``"models/..."``).

    Raises:
        ConfigError: When the zoo has no checkpoint for it (the message lists those it has).
    """
    name = preset.split("/", 1)[1] if preset.startswith("models/") else preset
    entries = model_zoo()
    if name not in entries:
        raise ConfigError(
            f"no released mmdet checkpoint is known for {preset!r}; the model zoo has: {', '.join(entries)} "
            "(pass checkpoint=<path or URL> instead)"
        )
    return entries[name]
