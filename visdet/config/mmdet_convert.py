"""Read mmdet 3.x Python configs without mmdet or mmengine, and write visdet YAML.

An mmdet config is a Python file of variable assignments. It is read the way mmengine
reads one:

1. ``_base_`` (a path or a list of paths, relative to the file) is taken from the source
   with ``ast.literal_eval``; each base is read recursively, and the bases are merged in
   order into one dict.
2. ``{{_base_.a.b}}``, ``{{ fileDirname }}``-style and ``{{$ENV_VAR:default}}``
   placeholders are substituted in the source text; the ``_base_`` assignment is
   removed; the rest runs with ``exec``
   in a namespace whose ``_base_`` is the merged base config (read with attributes:
   ``_base_.model.backbone``) and whose builtins are a small whitelist without
   ``__import__``. That is not a sandbox: only convert configs you trust.
3. The file's variables (plain data only) merge into the bases with mmengine's rules:
   dicts merge recursively, ``_delete_=True`` replaces, everything else overrides.

Tuples become lists. Not handled: the pure-Python config style (``with read_base():``)
and configs that import modules or call custom code.
"""

from __future__ import annotations

import ast
import builtins
import copy
import os
import re
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from visdet.config.errors import ConfigError
from visdet.config.merge import merge
from visdet.config.node import ConfigNode

BASE_KEY = "_base_"
_BASE_REF = re.compile(r"\{\{\s*_base_\.([\w\.]+)\s*\}\}")
# ``{{$NAME:default}}`` (optionally quoted inside the braces): an environment variable
_ENV_REF = re.compile(r"\{\{['\"]?\s*\$(\w+)\s*:\s*(\S*?)\s*['\"]?\}\}")
_FILE_VARS = ("fileDirname", "fileBasenameNoExtension", "fileBasename", "fileExtname")
SAFE_BUILTINS = (
    "abs", "all", "any", "bool", "dict", "enumerate", "filter", "float", "int", "isinstance", "len",
    "list", "map", "max", "min", "range", "reversed", "round", "set", "sorted", "str", "sum", "tuple",
    "zip", "True", "False", "None", "ValueError", "TypeError", "KeyError",
)  # fmt: skip
PLAIN_TYPES = (dict, list, tuple, str, int, float, bool, type(None))


class _AttrDict(dict):
    """A dict that also reads keys as attributes (``_base_.model.backbone``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"_base_ has no key {name!r} here") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(f"_base_ has no key {name!r} here") from None


def _attr_view(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _AttrDict({key: _attr_view(item) for key, item in value.items()})
    if isinstance(value, list):
        return [_attr_view(item) for item in value]
    return value


def _plain(value: Any, where: str) -> Any:
    """Plain YAML-able data: dicts, lists (from tuples too), scalars."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, PLAIN_TYPES):
        return value
    raise ConfigError(f"{where}: a {type(value).__name__} cannot be converted (only plain data can)")


def _assigns_base(node: ast.stmt) -> bool:
    return isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == BASE_KEY for t in node.targets)


def _base_paths(tree: ast.Module, path: Path) -> list[Path]:
    for node in tree.body:
        if _assigns_base(node):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                raise ConfigError(f"{path}:{node.lineno}: {BASE_KEY} must be a literal path or list") from None
            entries = [value] if isinstance(value, str) else list(value)
            return [path.parent / entry for entry in entries]
    return []


def _substitute(text: str, path: Path) -> str:
    names = {
        "fileDirname": str(path.parent),
        "fileBasename": path.name,
        "fileBasenameNoExtension": path.stem,
        "fileExtname": path.suffix,
    }
    for name in _FILE_VARS:
        text = re.sub(r"\{\{\s*" + name + r"\s*\}\}", names[name], text)
    text = _ENV_REF.sub(lambda match: os.environ.get(match.group(1), match.group(2)), text)
    return _BASE_REF.sub(lambda match: f"{BASE_KEY}.{match.group(1)}", text)


def _parse(text: str, path: Path) -> ast.Module:
    try:
        return ast.parse(text, filename=str(path))
    except SyntaxError as err:
        raise ConfigError(f"{path}:{err.lineno}:{err.offset}: Python syntax error: {err.msg}") from None


def _execute(tree: ast.Module, path: Path, base: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the config; return its variables and the base config as the file left it.

    mmengine lets a config edit its bases in place (``_base_.optim_wrapper.type = ...``,
    ``del _base_.model``); those edits are kept.
    """
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            raise ConfigError(
                f"{path}:{node.lineno}: the config imports modules; visdet reads only plain-data mmdet "
                "configs (the pure-Python style with read_base() is not supported)"
            )
    tree.body = [node for node in tree.body if not _assigns_base(node)]
    safe = {name: getattr(builtins, name) for name in SAFE_BUILTINS}
    namespace: dict[str, Any] = {"__builtins__": safe, BASE_KEY: _attr_view(copy.deepcopy(base))}
    try:
        exec(compile(tree, str(path), "exec"), namespace)  # noqa: S102 - documented: configs are trusted code
    except Exception as err:  # noqa: BLE001 - any error in the user's file becomes one clear message
        frames = [f for f in traceback.extract_tb(sys.exc_info()[2]) if f.filename == str(path)]
        line = f":{frames[-1].lineno}" if frames else ""
        raise ConfigError(f"{path}{line}: error while executing the config: {type(err).__name__}: {err}") from None
    own = {
        key: value
        for key, value in namespace.items()
        if not key.startswith("__") and key != BASE_KEY and isinstance(value, PLAIN_TYPES)
    }
    return own, namespace[BASE_KEY]


def _read(path: Path, chain: tuple[Path, ...]) -> ConfigNode:
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain[chain.index(path) :], path))
        raise ConfigError(f"{BASE_KEY} cycle: {cycle}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        asked = f" (listed in {BASE_KEY} of {chain[-1]})" if chain else ""
        raise ConfigError(f"config file not found or unreadable: {path}{asked}: {err.strerror or err}") from None
    node = ConfigNode(source=str(path))
    base: dict[str, Any] = {}
    for base_path in _base_paths(_parse(text, path), path):
        if not base_path.is_file():
            raise ConfigError(f"config file not found: {base_path} (listed in {BASE_KEY} of {path})")
        if base_path.suffix != ".py":
            raise ConfigError(f"{path}: base {base_path} is not a Python config")
        child = _read(base_path.resolve(), (*chain, path))
        node.bases.append(child)
        base = merge(base, child.config)
    own, edited_base = _execute(_parse(_substitute(text, path), path), path, base)
    node.config = merge(_plain(edited_base, path.name), _plain(own, path.name))
    return node


def read_mmdet_config_tree(path: str | os.PathLike[str]) -> ConfigNode:
    """The mmdet 3.x Python config at ``path``, resolved, with its ``_base_`` tree.

    Raises:
        ConfigError: For missing files, syntax errors, ``_base_`` cycles, imports and
            errors raised while executing the file.
    """
    return _read(Path(path).expanduser().resolve(), ())


def read_mmdet_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The resolved config (plain data) of the mmdet 3.x Python config at ``path``."""
    return read_mmdet_config_tree(path).config


def to_yaml(config: Mapping[str, Any], *, header: str = "") -> str:
    """``config`` as YAML (insertion order kept), with ``header`` as ``#`` comments on top."""
    body = yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=None, width=100)
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comments + body
