"""The values an mmdet Python config can hold while visdet reads it, and what they can do.

The reader (:mod:`visdet.config.py_reader`) never runs the config's code. Every value it
handles is one of: ``None``, ``bool``, ``int``, ``float``, ``complex``, ``str``, ``bytes``,
``list``, ``tuple``, ``set``, ``dict``, ``range``, :class:`CfgDict` (mmengine's
``ConfigDict``), :class:`ImportedName` (mmengine's lazily imported class name), or one of
the pure functions and methods listed here (:data:`SAFE_FUNCTIONS`, :func:`method`).
Nothing else can come into being, so no attribute of an arbitrary Python object is ever
reachable.

The functions and methods bound their results with :mod:`visdet.config.py_limits`;
``'{0.__class__}'.format(x)`` and ``'{0[k]}'`` are refused (fields name arguments only).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable
from typing import Any

from visdet.config.py_limits import (
    MAX_ITEMS,
    Refused,
    bounded_length,
    check_format_widths,
    check_size,
    check_weight,
    range_length,
)

DELETE_KEY = "_delete_"


class CfgDict(dict):
    """mmengine's ``ConfigDict``, as far as configs can observe it.

    Keys read and write as attributes (``_base_.model.backbone.depth = 101``); plain dicts
    and the dicts inside lists and tuples stored into it become ``CfgDict`` too;
    ``update`` merges nested dicts instead of replacing them; ``merge`` applies
    ``_delete_``; ``pop`` returns ``None`` for a missing key.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        source = dict(*args, **kwargs)
        check_weight(source)
        for key, value in source.items():
            dict.__setitem__(self, key, _hook(value))

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, hook(value))

    def cfg_update(self, *args: Any, **kwargs: Any) -> None:
        """``ConfigDict.update``: a dict value given for a dict key updates it in place, recursively."""
        if len(args) > 1:
            raise TypeError("update takes at most one positional argument")
        other = dict(args[0]) if args else {}
        other.update(kwargs)
        for key, value in other.items():
            current = self.get(key)
            if isinstance(current, dict) and isinstance(value, dict):
                update_dict(current, value)
            else:
                self[key] = value

    def cfg_merge(self, other: dict) -> None:
        """``ConfigDict.merge``: ``other`` merged in, recursively, ``_delete_=True`` replacing."""
        missing = object()

        def merge_into(a: Any, b: Any) -> Any:
            if not isinstance(a, dict):
                return b if a is missing else a
            if not isinstance(b, dict):
                a.pop(DELETE_KEY, None)
                return a
            if a.pop(DELETE_KEY, False):
                b.clear()
            keys = list(b) + [key for key in a if key not in b]
            return {key: merge_into(a.get(key, missing), b.get(key, missing)) for key in keys if key != DELETE_KEY}

        merged = merge_into(copy_value(other), copy_value(dict(self)))
        self.clear()
        for key, value in merged.items():
            self[key] = value


def hook(value: Any) -> Any:
    """``value`` as mmengine stores it in a ``ConfigDict`` (plain dicts become ``CfgDict``)."""
    check_weight(value)
    return _hook(value)


def _hook(value: Any) -> Any:
    if type(value) is dict:
        out = CfgDict()
        for key, item in value.items():
            dict.__setitem__(out, key, _hook(item))
        return out
    if type(value) in (list, tuple):
        return type(value)(_hook(item) for item in value)
    return value


def update_dict(target: dict, *args: Any, **kwargs: Any) -> None:
    """``target.update(...)``: mmengine's nested update for a ``CfgDict``, Python's otherwise."""
    if isinstance(target, CfgDict):
        target.cfg_update(*args, **kwargs)
    else:
        target.update(*args, **kwargs)


def copy_value(value: Any) -> Any:
    """A deep copy of a config value (only the container types of this module occur)."""
    check_weight(value)
    return _copy(value)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        copied = {_copy(key): _copy(item) for key, item in value.items()}
        return CfgDict(copied) if isinstance(value, CfgDict) else copied
    if type(value) in (list, tuple, set):
        return type(value)(_copy(item) for item in value)
    return value


class ImportedName:
    """A class or module named by an import in a pure-Python (``read_base``) config.

    mmengine does not import it either: it keeps a ``LazyObject`` and writes its dotted
    name where the config uses it (``type=RetinaNet`` becomes
    ``'mmdet.models.RetinaNet'``). Attribute access extends the dotted name; calling one is
    refused, as mmengine refuses it.
    """

    __slots__ = ("path", "shown")

    def __init__(self, path: str, *, is_module: bool = False) -> None:
        self.path = path
        # mmengine's ``to_dict`` writes a bare imported module as "module.module" (kept for parity)
        self.shown = f"{path}.{path}" if is_module else path

    def attribute(self, name: str) -> ImportedName:
        """``name.attr``: the dotted name one level deeper."""
        return ImportedName(f"{self.path}.{name}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImportedName) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def __repr__(self) -> str:
        return self.shown

    __str__ = __repr__


class _SafeFormatter(string.Formatter):
    """``str.format`` with fields naming arguments only: no ``{0.attr}``, no ``{0[key]}``."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        if "." in field_name or "[" in field_name:
            raise Refused(f"format field {{{field_name}}}: attribute and index lookups in format strings are refused")
        return super().get_field(field_name, args, kwargs)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        check_weight(value)  # `!r` of a value holding itself a million times is refused, not printed
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        return format_value(value, format_spec)


def format_value(value: Any, spec: str) -> str:
    """``format(value, spec)`` for a config value, with the spec's widths bounded."""
    check_format_widths(spec)
    check_weight(value)
    if isinstance(value, ImportedName):
        value = value.shown
    return check_size(format(value, spec))


def safe_format(template: str, *args: Any, **kwargs: Any) -> str:
    """``template.format(*args, **kwargs)`` without attribute or index lookups."""
    return check_size(_SafeFormatter().vformat(template, args, kwargs))


def _replace(text: str, old: str, new: str, count: int = -1) -> str:
    bounded_length(len(text) + max(len(new) - len(old), 0) * (len(text) + 1), "str.replace")
    return text.replace(old, new, count)


def _sized(function: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return check_size(function(*args, **kwargs))

    call.__name__ = function.__name__
    return call


def _as_list(function: Callable[..., Iterable[Any]]) -> Callable[..., list[Any]]:
    def call(*args: Any, **kwargs: Any) -> list[Any]:
        return check_size(list(function(*args, **kwargs)))

    call.__name__ = function.__name__
    return call


def _sum(values: Iterable[Any], start: Any = 0) -> Any:
    if not isinstance(start, (int, float, complex)):
        raise Refused("sum() with a non-number start (concatenating with sum is refused)")
    return check_size(sum(values, start))


class SafeFunction:
    """A pure function a config may call: the constructors and helpers of the subset."""

    __slots__ = ("name", "function")

    def __init__(self, name: str, function: Callable[..., Any]) -> None:
        self.name = name
        self.function = function

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function on config values (long ranges and heavy values refused first)."""
        for value in (*args, *kwargs.values()):
            if isinstance(value, range) and self.name not in ("len", "bool", "str") and range_length(value) > MAX_ITEMS:
                raise Refused(f"{self.name}() over a range of more than {MAX_ITEMS:,} numbers")
            check_weight(value)
        return self.function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<config function {self.name}>"


def _key_function(function: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, key: Any = None, **kwargs: Any) -> Any:
        if key is not None and not isinstance(key, SafeFunction):
            raise Refused(f"{function.__name__}(key=...) takes only a config function")
        return check_size(function(*args, key=key, **kwargs))

    call.__name__ = function.__name__
    return call


SAFE_FUNCTIONS: dict[str, SafeFunction] = {
    name: SafeFunction(name, function)
    for name, function in {
        "dict": _sized(dict),
        "list": _sized(list),
        "tuple": _sized(tuple),
        "set": _sized(set),
        "str": _sized(str),
        "int": _sized(int),
        "float": float,
        "bool": bool,
        "abs": _sized(abs),
        "round": _sized(round),
        "len": len,
        "range": range,
        "enumerate": _as_list(enumerate),
        "zip": _as_list(zip),
        "reversed": _as_list(reversed),
        "sorted": _key_function(sorted),
        "min": _key_function(min),
        "max": _key_function(max),
        "sum": _sum,
        "any": any,
        "all": all,
    }.items()
}


class BoundMethod:
    """A whitelisted method of a config value (``model.update``, ``'{}'.format``)."""

    __slots__ = ("name", "function")

    def __init__(self, name: str, function: Callable[..., Any]) -> None:
        self.name = name
        self.function = function

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the method (heavy arguments refused first; the result's size checked)."""
        for value in (*args, *kwargs.values()):
            check_weight(value)
        return check_size(self.function(*args, **kwargs))

    def __repr__(self) -> str:
        return f"<config method {self.name}>"


def _dict_methods(target: dict) -> dict[str, Callable[..., Any]]:
    methods: dict[str, Callable[..., Any]] = {
        "get": target.get,
        "keys": lambda: list(target.keys()),
        "values": lambda: list(target.values()),
        "items": lambda: list(target.items()),
        "setdefault": target.setdefault,
        "update": lambda *args, **kwargs: update_dict(target, *args, **kwargs),
    }
    if isinstance(target, CfgDict):
        methods.update(
            pop=lambda key, default=None: target.pop(key, default),
            copy=lambda: CfgDict(dict(target)),
            merge=target.cfg_merge,
        )
    else:
        methods.update(pop=target.pop, copy=target.copy)
    return methods


def _list_methods(target: list) -> dict[str, Callable[..., Any]]:
    return {
        "append": target.append, "extend": target.extend, "insert": target.insert, "pop": target.pop,
        "remove": target.remove, "index": target.index, "count": target.count, "copy": target.copy,
        "reverse": target.reverse,
    }  # fmt: skip


def _str_methods(target: str) -> dict[str, Callable[..., Any]]:
    return {
        "format": lambda *args, **kwargs: safe_format(target, *args, **kwargs),
        "join": target.join, "split": target.split, "rsplit": target.rsplit,
        "replace": lambda old, new, count=-1: _replace(target, old, new, count),
        "strip": target.strip, "lstrip": target.lstrip, "rstrip": target.rstrip,
        "lower": target.lower, "upper": target.upper,
        "startswith": target.startswith, "endswith": target.endswith,
    }  # fmt: skip


def method(target: Any, name: str) -> BoundMethod | None:
    """The whitelisted method ``name`` of ``target``, or ``None`` if there is none."""
    if isinstance(target, dict):
        table = _dict_methods(target)
    elif isinstance(target, list):
        table = _list_methods(target)
    elif isinstance(target, str):
        table = _str_methods(target)
    elif isinstance(target, tuple):
        table = {"index": target.index, "count": target.count}
    else:
        return None
    function = table.get(name)
    return None if function is None else BoundMethod(f"{type(target).__name__}.{name}", function)


def plain(value: Any, where: str) -> Any:
    """``value`` as plain data (dicts, lists, scalars): tuples become lists, imported names strings.

    Raises:
        Refused: For a value that is not data (a function, a set, a range, ...), or one
            holding more than :data:`MAX_WEIGHT` values.
    """
    check_weight(value)
    return _plain(value, where)


def _plain(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise Refused(f"{where}: a {type(key).__name__} key cannot be converted")
            out[key if isinstance(key, str) else str(key)] = _plain(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, ImportedName):
        return value.shown
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise Refused(f"{where}: a {type(value).__name__} cannot be converted (only plain data can)")
