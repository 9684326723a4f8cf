"""Read mmdet 3.x Python configs without running them, and write visdet YAML.

An mmdet config is a Python file of variable assignments. visdet parses it with
:mod:`ast` and evaluates the syntax tree with :class:`~visdet.config.py_reader.ConfigInterpreter`,
which knows only the constructs configs use and refuses every other one with a
``ConfigError`` naming the file, line and construct. Nothing in the file is executed,
imported or opened, whatever it contains. The result is what mmengine's
``Config.fromfile(path).to_dict()`` gives (``scripts/config_sweep.py`` compares them over
all of mmdet 3.3's configs). Two styles are read, as mmengine reads them:

* ``_base_`` style. ``_base_`` (a path or a list of paths, relative to the file) is taken
  with ``ast.literal_eval``; each base is read recursively and the bases are merged in
  order (a key defined by two bases is an error, as in mmengine). ``{{_base_.a.b}}``,
  ``{{ fileDirname }}``-style and ``{{$ENV_VAR:default}}`` placeholders are substituted in
  the text; the file is evaluated with ``_base_`` bound to the merged bases (a config dict:
  ``_base_.model.backbone``, edits and ``del`` kept); its variables merge into the bases
  with mmengine's rules: dicts merge recursively, ``_delete_=True`` replaces, everything
  else overrides.
* Pure-Python style (mmengine's ``lazy_import``). ``with read_base():`` holds
  ``from .<relative.module> import *`` (or names) of other config files, which are read
  the same way and whose variables become the file's names; ``from pkg.mod import Class``
  binds the dotted name ``'pkg.mod.Class'`` (what mmengine's ``to_dict`` writes) without
  importing anything; imported names are left out of the result. Importing a module of
  the standard library, or an absolute config module, is refused.

Tuples become lists. The two styles cannot be mixed in one inheritance chain (mmengine
refuses that too); ``mmdet::``-style package bases are refused.
"""

from __future__ import annotations

import ast
import os
import re
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from visdet.config.errors import ConfigError
from visdet.config.merge import DELETE_KEY, merge, strip_delete
from visdet.config.node import ConfigNode
from visdet.config.py_limits import Refused
from visdet.config.py_reader import ConfigInterpreter
from visdet.config.py_values import CfgDict, ImportedName, copy_value, hook, plain

BASE_KEY = "_base_"
DEPRECATION_KEY = "_deprecation_"
MAX_FILE_BYTES = 2 * 1024 * 1024  # mmdet's largest config is ~40 KB
_BASE_REF = re.compile(r"\{\{\s*_base_\.([\w\.]+)\s*\}\}")
# ``{{$NAME:default}}`` (optionally quoted inside the braces): an environment variable
_ENV_REF = re.compile(r"\{\{['\"]?\s*\$(\w+)\s*:\s*(\S*?)\s*['\"]?\}\}")
_FILE_VARS = ("fileDirname", "fileBasenameNoExtension", "fileBasename", "fileExtname")


@dataclass
class _Read:
    """One file, read: its tree node; for the pure-Python style, its names and imported names."""

    node: ConfigNode
    lazy: bool
    names: dict[str, Any] = field(default_factory=dict)
    imported: set[str] = field(default_factory=set)


class _Reader:
    """Reads one config and its bases; each file is read once (bases shared by several files)."""

    def __init__(self) -> None:
        self.done: dict[tuple[Path, bool | None], _Read] = {}

    def read(self, path: Path, chain: tuple[Path, ...], lazy: bool | None = None) -> _Read:
        """``path`` read in the style of its importer (``lazy``), or its own (``None``)."""
        if path in chain:
            cycle = " -> ".join(str(p) for p in (*chain[chain.index(path) :], path))
            raise ConfigError(f"{BASE_KEY} cycle: {cycle}")
        if (path, lazy) not in self.done:
            self.done[(path, lazy)] = self._read(path, chain, lazy)
        return self.done[(path, lazy)]

    def _read(self, path: Path, chain: tuple[Path, ...], lazy: bool | None) -> _Read:
        text = _read_text(path, chain)
        try:
            tree = _parse(text, path)
        except ConfigError:  # `{{$ENV:default}}` and friends are substituted before parsing
            tree = None
        if tree is None or not _is_pure_python_style(tree):
            # mmengine substitutes the `{{ }}` placeholders of `_base_`-style configs only
            tree = _parse(_substitute(text, path), path)
        style_is_lazy = _is_pure_python_style(tree)
        if lazy is False and style_is_lazy:
            raise ConfigError(
                f"{path}: a pure-Python (read_base/import) config listed in {BASE_KEY} of {chain[-1]}; "
                "one inheritance chain cannot mix the two styles (mmengine refuses it too)"
            )
        try:
            if lazy or (lazy is None and style_is_lazy):
                return self._read_pure_python(path, chain, tree)
            return self._read_base_style(path, chain, tree)
        except RecursionError:
            raise ConfigError(f"{path}: the config nests too deeply to be read (refused)") from None
        except MemoryError:
            raise ConfigError(f"{path}: the config is too large to be read (refused)") from None

    # -- the `_base_` style --------------------------------------------------------------
    def _read_base_style(self, path: Path, chain: tuple[Path, ...], tree: ast.Module) -> _Read:
        node = ConfigNode(source=str(path))
        base: dict[str, Any] = {}
        defined_by: dict[str, Path] = {}
        for base_path in _base_paths(tree, path):
            child = self.read(base_path, (*chain, path), lazy=False)
            node.bases.append(child.node)
            for key in child.node.config:
                if key in defined_by:
                    raise ConfigError(
                        f"{path}: the key '{key}' is defined by two bases, {defined_by[key]} and {base_path} "
                        "(mmengine refuses duplicate keys among bases)"
                    )
                defined_by[key] = base_path
            base = merge(base, child.node.config)
        body = [statement for statement in tree.body if not _assigns_base(statement)]
        edited_base = CfgDict(copy_value(base))
        namespace: dict[str, Any] = {BASE_KEY: edited_base}
        imported: set[str] = set()
        ConfigInterpreter(path, namespace, imports=_ImportBinder(path, imported)).run(body)
        own = {key: value for key, value in namespace.items() if key != BASE_KEY and key not in imported}
        if DEPRECATION_KEY in own:  # mmengine's deprecation notice: a warning, not config
            notice = own.pop(DEPRECATION_KEY)
            expected = notice.get("expected") if isinstance(notice, dict) else None
            warnings.warn(
                f"The config file {path} will be deprecated in the future."
                + (f" Please use {expected} instead." if isinstance(expected, str) else ""),
                DeprecationWarning,
                stacklevel=2,
            )
        inherited, overrides = _plain(edited_base, path), _plain(own, path)
        _check_dicts_inherit_dicts(overrides, inherited, path, "")
        node.config = merge(inherited, overrides)
        return _Read(node=node, lazy=False)

    # -- the pure-Python (read_base) style -----------------------------------------------
    def _read_pure_python(self, path: Path, chain: tuple[Path, ...], tree: ast.Module) -> _Read:
        node = ConfigNode(source=str(path))
        namespace: dict[str, Any] = {}
        imported: set[str] = set()
        binder = _ImportBinder(path, imported)
        body: list[ast.stmt] = []
        for statement in tree.body:  # mmengine binds the read_base imports before running the file
            if _assigns_base(statement):
                raise ConfigError(
                    f"{path}:{statement.lineno}: {BASE_KEY} in a pure-Python (read_base) config; use one style "
                    "(mmengine refuses the mix too)"
                )
            if isinstance(statement, ast.With):
                for base_import in _read_base_imports(statement, path):
                    self._bind_base(base_import, path, chain, node, namespace, imported)
            elif isinstance(statement, ast.Import) and all(alias.asname is None for alias in statement.names):
                binder(statement, namespace)  # mmengine hoists `import a.b` to the top
            else:
                body.append(statement)
        ConfigInterpreter(path, namespace, imports=binder).run(body)
        kept = {key: value for key, value in namespace.items() if key not in imported}
        node.config = strip_delete(_plain(kept, path))
        names = {key: hook(value) for key, value in namespace.items()}
        return _Read(node=node, lazy=True, names=names, imported=imported)

    def _bind_base(
        self,
        statement: ast.ImportFrom,
        path: Path,
        chain: tuple[Path, ...],
        node: ConfigNode,
        namespace: dict[str, Any],
        imported: set[str],
    ) -> None:
        module = "." * statement.level + (statement.module or "")
        if statement.level == 0:
            raise ConfigError(
                f"{path}:{statement.lineno}: `from {module} import ...` in read_base(): visdet reads only relative "
                "config imports (`from .._base_.x import *`); it does not look into installed packages"
            )
        base_path = path.parent.joinpath(*([".."] * (statement.level - 1)), *module.lstrip(".").split(".")).with_suffix(
            ".py"
        )
        if not base_path.is_file():
            raise ConfigError(f"{path}:{statement.lineno}: config file not found: {base_path} (imported as {module})")
        child = self.read(base_path.resolve(), (*chain, path), lazy=True)
        node.bases.append(child.node)
        imported |= child.imported
        names = copy_value(child.names)
        for alias in statement.names:
            if alias.name == "*":
                namespace.update(names)
            elif alias.name not in names:
                raise ConfigError(f"{path}:{statement.lineno}: {base_path} defines no '{alias.name}'")
            else:
                namespace[alias.asname or alias.name] = names[alias.name]


class _ImportBinder:
    """Binds the names of an ``import`` statement met in a config, without importing.

    ``from pkg.mod import Class [as Name]`` and ``import pkg.mod [as name]`` bind
    :class:`ImportedName`s (their dotted names, as mmengine's lazy import writes them);
    the bound names are recorded in ``imported`` (left out of the result). Modules of the
    standard library, ``*`` imports and relative imports outside ``read_base()`` are refused.
    """

    def __init__(self, path: Path, imported: set[str]) -> None:
        self.path = path
        self.imported = imported

    def refuse(self, statement: ast.stmt, message: str) -> ConfigError:
        return ConfigError(f"{self.path}:{statement.lineno}: {message}")

    def check_module(self, statement: ast.stmt, module: str) -> None:
        if _is_stdlib(module):
            raise self.refuse(
                statement,
                f"importing the module '{module}' is not allowed in a config (visdet reads configs without "
                "running them; a config may import other configs inside `with read_base():` and class names)",
            )

    def __call__(self, statement: ast.stmt, namespace: dict[str, Any]) -> None:
        if isinstance(statement, ast.ImportFrom):
            module = statement.module or ""
            if statement.level:
                raise self.refuse(
                    statement,
                    f"the relative import of '{'.' * statement.level}{module}' belongs inside `with read_base():`",
                )
            self.check_module(statement, module)
            for alias in statement.names:
                if alias.name == "*":
                    raise self.refuse(statement, f"`from {module} import *` outside `with read_base():`")
                self.bind(statement, alias.asname or alias.name, ImportedName(f"{module}.{alias.name}"), namespace)
        elif isinstance(statement, ast.Import):
            if len(statement.names) != 1:
                raise self.refuse(statement, "import one module per line (mmengine refuses `import a, b`)")
            alias = statement.names[0]
            self.check_module(statement, alias.name)
            if alias.asname is None:
                top = alias.name.split(".")[0]
                self.bind(statement, top, ImportedName(top, is_module=True), namespace)
            else:
                self.bind(statement, alias.asname, ImportedName(alias.name, is_module=True), namespace)

    def bind(self, statement: ast.stmt, name: str, value: ImportedName, namespace: dict[str, Any]) -> None:
        if name.startswith("__"):
            raise self.refuse(statement, f"the name '{name}' is not allowed in a config")
        namespace[name] = value
        self.imported.add(name)


def _check_dicts_inherit_dicts(own: dict[str, Any], base: dict[str, Any], path: Path, where: str) -> None:
    """A dict of the file over a non-dict of its bases needs ``_delete_=True`` (mmengine refuses it too)."""
    for key, value in own.items():
        if not isinstance(value, dict) or key not in base or value.get(DELETE_KEY):
            continue
        if not isinstance(base[key], dict):
            raise ConfigError(
                f"{path}: {where}{key} is a dict here but a {type(base[key]).__name__} in the bases; "
                f"add {DELETE_KEY}=True to replace it (mmengine refuses it too)"
            )
        _check_dicts_inherit_dicts(value, base[key], path, f"{where}{key}.")


def _read_text(path: Path, chain: tuple[Path, ...]) -> str:
    asked = f" (listed in {BASE_KEY} of {chain[-1]})" if chain else ""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise ConfigError(f"config file not found or unreadable: {path}{asked}: {err.strerror or err}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; not a config (refused)")
    try:
        return data.decode("utf-8-sig")  # a BOM is allowed, as Python allows it in source files
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start})") from None


def _plain(value: Any, path: Path) -> Any:
    try:
        return plain(value, path.name)
    except Refused as refused:
        raise ConfigError(f"{path}: {refused}") from None


def _assigns_base(node: ast.stmt) -> bool:
    return isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == BASE_KEY for t in node.targets)


def _is_stdlib(module: str) -> bool:
    top = module.split(".")[0]
    return top in sys.stdlib_module_names or top in sys.builtin_module_names


def _lazy_import(module: str) -> bool:
    """An import mmengine makes lazy: not of the standard library, not of ``mmengine.config``."""
    return not (module.startswith("mmengine.config") or module == "mmengine" or _is_stdlib(module))


def _is_pure_python_style(tree: ast.Module) -> bool:
    """Mmengine's rule: ``with`` (read_base), a relative import, or a lazily imported module.

    (Imports of the standard library do not decide the style; they are refused in both.)
    """
    for node in tree.body:
        if isinstance(node, ast.With):
            return True
        if isinstance(node, ast.ImportFrom) and (node.level or _lazy_import(node.module or "")):
            return True
        if isinstance(node, ast.Import) and any(_lazy_import(alias.name) for alias in node.names):
            return True
    return False


def _read_base_imports(statement: ast.With, path: Path) -> list[ast.ImportFrom]:
    item = statement.items[0]
    call = item.context_expr
    is_read_base = (
        len(statement.items) == 1
        and item.optional_vars is None
        and isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == "read_base"
        and not call.args
        and not call.keywords
    )
    if not is_read_base:
        raise ConfigError(f"{path}:{statement.lineno}: only `with read_base():` is allowed in a config")
    for inner in statement.body:
        if not isinstance(inner, ast.ImportFrom) or not inner.module:
            raise ConfigError(
                f"{path}:{inner.lineno}: only `from .module import ...` of config files is allowed "
                "in `with read_base():`"
            )
    return statement.body  # type: ignore[return-value]


def _base_paths(tree: ast.Module, path: Path) -> list[Path]:
    for node in tree.body:
        if _assigns_base(node):
            try:
                value = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                raise ConfigError(f"{path}:{node.lineno}: {BASE_KEY} must be a literal path or list of paths") from None
            entries = [value] if isinstance(value, str) else value
            if not isinstance(entries, (list, tuple)) or not all(isinstance(entry, str) for entry in entries):
                raise ConfigError(f"{path}:{node.lineno}: {BASE_KEY} must be a path or a list of paths")
            out = []
            for entry in entries:
                if "::" in entry:
                    raise ConfigError(
                        f"{path}:{node.lineno}: the package base '{entry}' is not supported; copy that "
                        "config next to yours and name it by its path"
                    )
                base_path = path.parent / entry
                if not base_path.is_file():
                    raise ConfigError(f"config file not found: {base_path} (listed in {BASE_KEY} of {path})")
                if base_path.suffix != ".py":
                    raise ConfigError(f"{path}: base {base_path} is not a Python config")
                out.append(base_path.resolve())
            return out
    return []


def _substitute(text: str, path: Path) -> str:
    names = {
        "fileDirname": str(path.parent),
        "fileBasename": path.name,
        "fileBasenameNoExtension": path.stem,
        "fileExtname": path.suffix,
    }
    for name in _FILE_VARS:
        text = re.sub(r"\{\{\s*" + name + r"\s*\}\}", names[name].replace("\\", "/"), text)

    def environment(match: re.Match[str]) -> str:
        value = os.environ.get(match.group(1), match.group(2))
        if not value:
            line = text.count("\n", 0, match.start()) + 1
            raise ConfigError(f"{path}:{line}: the environment variable {match.group(1)} is not set and has no default")
        return value

    text = _ENV_REF.sub(environment, text)
    return _BASE_REF.sub(lambda match: f"{BASE_KEY}.{match.group(1)}", text)


def _parse(text: str, path: Path) -> ast.Module:
    try:
        with warnings.catch_warnings():  # "invalid escape sequence" in a string of the config: not ours to report
            warnings.simplefilter("ignore")
            return ast.parse(text, filename=str(path))
    except SyntaxError as err:
        raise ConfigError(f"{path}:{err.lineno}:{err.offset}: Python syntax error: {err.msg}") from None
    except (RecursionError, MemoryError):
        raise ConfigError(f"{path}: the config nests too deeply to be parsed (refused)") from None
    except ValueError as err:  # e.g. a NUL byte in the source
        raise ConfigError(f"{path}: not Python source: {err}") from None


def read_mmdet_config_tree(path: str | os.PathLike[str]) -> ConfigNode:
    """The mmdet 3.x Python config at ``path``, resolved, with its ``_base_`` tree.

    Raises:
        ConfigError: For missing files, syntax errors, ``_base_`` cycles, any construct
            outside what configs use (naming the file, line and construct), and errors in
            evaluating the file (an undefined name, a missing key).
    """
    return _Reader().read(Path(path).expanduser().resolve(), ()).node


def read_mmdet_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The resolved config (plain data) of the mmdet 3.x Python config at ``path``."""
    return read_mmdet_config_tree(path).config


# mmengine's pure-Python configs name classes by import (``from mmdet.models import
# FasterRCNN``; ``type=FasterRCNN``); mmengine's ``to_dict`` writes them as their dotted
# path, and mmengine builds the class itself. Each registry of mmdet/mmcv/mmengine names a
# class by its ``__name__``, so the last part of the path is the registered name.
_LAZY_TYPE = re.compile(r"^(?:mmdet|mmcv|mmengine|torch)(?:\.[A-Za-z_]\w*)+$")


def short_type_names(config: Any) -> Any:
    """``config`` with every ``type`` written as an import path (``'mmdet.models.X'``) as ``'X'``.

    Other ``type`` values (registered names such as ``'FasterRCNN'``, and paths of other
    packages, which no visdet registry knows and which are then refused by name) stay as
    they are.
    """
    if isinstance(config, Mapping):
        out = {}
        for key, value in config.items():
            if key == "type" and isinstance(value, str) and _LAZY_TYPE.match(value):
                value = value.rsplit(".", 1)[1]
            out[key] = short_type_names(value)
        return out
    if isinstance(config, (list, tuple)):
        return type(config)(short_type_names(v) for v in config)
    return config


def to_yaml(config: Mapping[str, Any], *, header: str = "") -> str:
    """``config`` as YAML (insertion order kept), with ``header`` as ``#`` comments on top."""
    body = yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=None, width=100)
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comments + body
