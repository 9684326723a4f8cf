"""Load YAML configs with inheritance into plain dicts.

A config file is a YAML mapping. ``_base_`` (a string or a list of strings) names the
configs it inherits from, in order; later bases override earlier ones, and the file's
own keys override them all (see :mod:`visdet.config.merge`, including ``_delete_``).
A base entry is resolved as:

* a path ending in ``.yaml``/``.yml`` or ``.py``: relative to the including file
  (``.py`` files are mmdet 3.x configs, read by :mod:`visdet.config.mmdet_convert`);
* otherwise a packaged preset name (``faster_rcnn_r50_fpn``, ``schedules/1x``).

Errors raise :class:`ConfigError` naming the file: YAML syntax errors with line and
column, a ``_base_`` cycle with the whole chain, a missing base with the file that
asked for it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from visdet.config.errors import ConfigError
from visdet.config.merge import merge
from visdet.config.mmdet_convert import read_mmdet_config_tree
from visdet.config.node import ConfigNode
from visdet.config.presets import YAML_SUFFIXES, find_preset

BASE_KEY = "_base_"
PRESET_PREFIX = "preset:"


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """Parse one YAML document that must be a mapping (an empty file is ``{}``).

    Raises:
        ConfigError: ``source:line:column: YAML syntax error: ...`` for bad syntax, or
            when the document is not a mapping.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        raise ConfigError(f"{where}: YAML syntax error: {err.problem or err.context}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: YAML error: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: a config file must hold a mapping at the top, got {type(data).__name__}")
    return dict(data)


def _base_entries(data: Mapping[str, Any], source: str) -> list[str]:
    bases = data.get(BASE_KEY, [])
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"{source}: {BASE_KEY} must be a string or a list of strings, got {bases!r}")
    return bases


def _resolve_base(entry: str, including: str | None) -> str:
    """The source id of base ``entry``: an absolute path or ``preset:<name>``."""
    if entry.startswith(PRESET_PREFIX):
        return PRESET_PREFIX + find_preset(entry[len(PRESET_PREFIX) :])[0]
    if entry.endswith((*YAML_SUFFIXES, ".py")):
        folder = Path(including).parent if including is not None and not including.startswith(PRESET_PREFIX) else None
        path = Path(entry).expanduser()
        if not path.is_absolute() and folder is not None:
            path = folder / path
        if not path.is_file():
            asked = f" (listed in {BASE_KEY} of {including})" if including else ""
            raise ConfigError(f"config file not found: {os.fspath(path)}{asked}")
        return os.fspath(path.resolve())
    try:
        return PRESET_PREFIX + find_preset(entry)[0]
    except ConfigError as err:
        asked = f" (listed in {BASE_KEY} of {including})" if including else ""
        raise ConfigError(f"{err}{asked}") from None


def _read_source(source: str) -> dict[str, Any]:
    if source.startswith(PRESET_PREFIX):
        _, file = find_preset(source[len(PRESET_PREFIX) :])
        return parse_yaml(file.read_text(encoding="utf-8"), source)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config file {source}: {err.strerror or err}") from None
    return parse_yaml(text, source)


def _load(source: str, chain: tuple[str, ...]) -> ConfigNode:
    if source in chain:
        cycle = " -> ".join((*chain[chain.index(source) :], source))
        raise ConfigError(f"{BASE_KEY} cycle: {cycle}")
    if source.endswith(".py"):  # an mmdet config, read with its own _base_ chain
        return read_mmdet_config_tree(source)
    data = _read_source(source)
    node = ConfigNode(source=source)
    merged: dict[str, Any] = {}
    for entry in _base_entries(data, source):
        base = _load(_resolve_base(entry, source), (*chain, source))
        node.bases.append(base)
        merged = merge(merged, base.config)
    node.config = merge(merged, {k: v for k, v in data.items() if k != BASE_KEY})
    return node


def load_config_tree(config: str | os.PathLike[str]) -> ConfigNode:
    """Load ``config`` (a YAML or mmdet ``.py`` path, or a preset name) with its bases.

    Returns:
        The root :class:`ConfigNode`; ``.config`` is the resolved plain dict.

    Raises:
        ConfigError: For unreadable files, syntax errors, cycles and missing bases.
    """
    text = os.fspath(config)
    path = Path(text).expanduser()
    if path.is_file():
        source = os.fspath(path.resolve())
    elif text.endswith((*YAML_SUFFIXES, ".py")):
        raise ConfigError(f"config file not found: {text}")
    else:
        source = _resolve_base(text, None)
    return _load(source, ())


def load_config(config: str | os.PathLike[str]) -> dict[str, Any]:
    """The resolved config dict of ``config`` (see :func:`load_config_tree`)."""
    return load_config_tree(config).config


def resolve_config(config: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """A whole config dict from any accepted source.

    Args:
        config: A preset name, a YAML or mmdet ``.py`` path, a whole config dict, or a
            model dict (``{"type": "FasterRCNN", ...}``), which becomes ``{"model": ...}``.

    Returns:
        A new plain dict (the input is not modified).
    """
    if isinstance(config, Mapping):
        data = merge({}, config)
        return {"model": data} if "type" in data and "model" not in data else data
    if isinstance(config, (str, os.PathLike)):
        return load_config(config)
    raise TypeError(f"a config must be a preset name, a file path or a config dict, got {type(config).__name__}")
