"""Config presets packaged with visdet (``visdet/presets/<group>/<name>.yaml``).

A preset is named by its file stem (``faster_rcnn_r50_fpn``) or by group and stem
(``models/faster_rcnn_r50_fpn``). Groups: ``models``, ``datasets``, ``optimizers``,
``schedules``. Files are read through ``importlib.resources``, so presets work from a
wheel or a zip as well as from a source checkout.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from visdet.config.errors import ConfigError

PRESET_PACKAGE = "visdet.presets"
PRESET_GROUPS = ("models", "datasets", "optimizers", "schedules", "finetune")
YAML_SUFFIXES = (".yaml", ".yml")


def _preset_files() -> dict[str, Traversable]:
    """``"group/stem"`` -> file, for every packaged preset."""
    root = resources.files(PRESET_PACKAGE)
    files: dict[str, Traversable] = {}
    for group in PRESET_GROUPS:
        folder = root / group
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.is_file() and entry.name.endswith(YAML_SUFFIXES):
                files[f"{group}/{entry.name.rsplit('.', 1)[0]}"] = entry
    return dict(sorted(files.items()))


def list_presets() -> list[str]:
    """Every preset as ``"group/name"`` (e.g. ``"models/faster_rcnn_r50_fpn"``), sorted."""
    return list(_preset_files())


def is_preset(name: str) -> bool:
    """Whether ``name`` (short or ``group/name``) names a packaged preset."""
    try:
        find_preset(name)
    except ConfigError:
        return False
    return True


def find_preset(name: str) -> tuple[str, Traversable]:
    """The qualified name and file of preset ``name``.

    Raises:
        ConfigError: When no preset has that name (the message lists them all), or a
            short name is ambiguous between groups.
    """
    files = _preset_files()
    stem = name.rsplit(".", 1)[0] if name.endswith(YAML_SUFFIXES) else name
    if stem in files:
        return stem, files[stem]
    matches = [key for key in files if key.split("/", 1)[1] == stem]
    if len(matches) == 1:
        return matches[0], files[matches[0]]
    if len(matches) > 1:
        raise ConfigError(f"preset name {name!r} is ambiguous: {', '.join(matches)}")
    raise ConfigError(f"unknown preset {name!r}; available presets: {', '.join(files)}")


def model_preset(name: str) -> dict[str, Any]:
    """A fresh copy of the ``model`` section of model preset ``name`` (``"faster_rcnn_r50_fpn"``).

    Raises:
        ConfigError: Unknown preset, or one without a ``model`` mapping.
    """
    import yaml

    qualified, file = find_preset(name if "/" in name else f"models/{name}")
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise ConfigError(f"preset {qualified}: expected a top-level 'model' mapping")
    return data["model"]
