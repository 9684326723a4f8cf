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
asked for it. Untrusted files are bounded: YAML's safe subset only (no Python tags), at
most :data:`MAX_YAML_VALUES` values per file once anchors/aliases/merge keys are
expanded (alias bombs are refused before anything is built), at most
:data:`MAX_BASE_TREE` files in a ``_base_`` tree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from visdet.config.errors import ConfigError
from visdet.config.merge import merge
from visdet.config.mmdet_convert import read_mmdet_config_tree, short_type_names
from visdet.config.node import ConfigNode
from visdet.config.presets import YAML_SUFFIXES, find_preset

BASE_KEY = "_base_"
PRESET_PREFIX = "preset:"


# A YAML file may repeat a node through anchors and aliases (``&a`` / ``*a``) and merge
# keys (``<<: *a``) without any limit on the size it expands to: nine lines of aliases
# expand to a billion values (the "billion laughs" attack), and every later deep copy or
# merge of the config would walk them all. A config holds a few thousand values.
MAX_YAML_VALUES = 100_000
# At most this many files in the whole ``_base_`` tree (a base listed twice counts twice).
MAX_BASE_TREE = 1_000


def _expanded_size(node: yaml.Node, source: str, memo: dict[int, int], open_nodes: set[int]) -> int:
    """How many scalars and collections ``node`` stands for once every alias and merge key is expanded."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in open_nodes:
        mark = node.start_mark
        raise ConfigError(f"{source}:{mark.line + 1}:{mark.column + 1}: a YAML alias refers to the node that holds it")
    open_nodes.add(key)
    total = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            total += _expanded_size(child, source, memo, open_nodes)
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            total += _expanded_size(key_node, source, memo, open_nodes)
            total += _expanded_size(value_node, source, memo, open_nodes)
    open_nodes.discard(key)
    memo[key] = total
    if total > MAX_YAML_VALUES:
        mark = node.start_mark
        raise ConfigError(
            f"{source}:{mark.line + 1}:{mark.column + 1}: this YAML node expands to more than {MAX_YAML_VALUES} "
            "values through anchors, aliases or merge keys (an alias bomb?); refused"
        )
    return total


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """Parse one YAML document that must be a mapping (an empty file is ``{}``).

    Only YAML's safe subset is read (no Python tags). The document's size once its
    anchors, aliases and merge keys are expanded is checked before any Python object is
    built (at most :data:`MAX_YAML_VALUES` values; an alias that contains itself is
    refused).

    Raises:
        ConfigError: ``source:line:column: YAML syntax error: ...`` for bad syntax, an
            alias bomb or a self-containing alias, or when the document is not a mapping.
    """
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # the reader refuses control characters here already
        node = loader.get_single_node()
        if node is None:
            return {}
        _expanded_size(node, source, {}, set())
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        kind = "YAML value not allowed" if isinstance(err, yaml.constructor.ConstructorError) else "YAML syntax error"
        raise ConfigError(f"{where}: {kind}: {err.problem or err.context}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: YAML error: {err}") from None
    except RecursionError:
        raise ConfigError(f"{source}: YAML nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()
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


class _TreeBudget:
    """Counts the files of one ``_base_`` tree and keeps each file's node (read once)."""

    def __init__(self) -> None:
        self.count = 0
        self.nodes: dict[str, ConfigNode] = {}
        self.sizes: dict[str, int] = {}


def _load(source: str, chain: tuple[str, ...], budget: _TreeBudget) -> ConfigNode:
    if source in chain:
        cycle = " -> ".join((*chain[chain.index(source) :], source))
        raise ConfigError(f"{BASE_KEY} cycle: {cycle}")
    if source in budget.nodes:  # already read in this tree (a diamond): reuse, count its files again
        budget.count += budget.sizes[source]
        if budget.count > MAX_BASE_TREE:
            raise ConfigError(f"{chain[0] if chain else source}: the {BASE_KEY} tree has more than "
                              f"{MAX_BASE_TREE} files (a base listed many times?)")  # fmt: skip
        return budget.nodes[source]
    start = budget.count
    budget.count += 1
    if budget.count > MAX_BASE_TREE:
        raise ConfigError(f"{chain[0] if chain else source}: the {BASE_KEY} tree has more than {MAX_BASE_TREE} "
                          "files (a base listed many times?)")  # fmt: skip
    if source.endswith(".py"):  # an mmdet config, read with its own _base_ chain
        node = read_mmdet_config_tree(source)
        node.config = short_type_names(node.config)  # pure-Python style: import paths as names
    else:
        data = _read_source(source)
        node = ConfigNode(source=source)
        merged: dict[str, Any] = {}
        for entry in _base_entries(data, source):
            try:
                base = _load(_resolve_base(entry, source), (*chain, source), budget)
            except ConfigError as err:
                if source in str(err):
                    raise
                raise ConfigError(f"{err} (in the {BASE_KEY} of {source})") from None
            node.bases.append(base)
            merged = merge(merged, base.config)
        node.config = merge(merged, {k: v for k, v in data.items() if k != BASE_KEY})
    budget.nodes[source] = node
    budget.sizes[source] = budget.count - start
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
    return _load(source, (), _TreeBudget())


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
