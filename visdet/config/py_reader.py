"""Evaluate the syntax tree of an mmdet Python config without running it.

mmdet's configs are data written in Python syntax. :class:`ConfigInterpreter` walks the
statements of one file (parsed with :mod:`ast`) and computes the values they bind, knowing
only what the configs use:

* statements: assignment (also to ``a.b``, ``a[k]``, tuple targets, ``+=``), ``del``,
  expression statements (``model.update(...)``), ``pass``; imports only through the
  callback the file reader gives (``read_base`` configs);
* expressions: literals, names bound earlier (or by ``_base_``), the calls and methods of
  :mod:`visdet.config.py_values` (``dict(...)``, ``range``, ``model.update``,
  ``'{}'.format``...), arithmetic, comparison, ``and``/``or``/``not``, ``x if c else y``,
  indexing and slicing, f-strings and ``%`` formatting, list/set/dict comprehensions.

Anything else (``def``, ``class``, ``lambda``, loops, ``if``, ``try``, ``global``, ``:=``,
attribute access on anything but a config dict or an imported name, calls of anything but
the listed functions, names starting with ``__``) raises ``ConfigError`` naming the file,
the line and the construct, before any part of it is evaluated. Work is bounded: at most
:data:`MAX_STEPS` evaluation steps and :data:`MAX_SECONDS` seconds per file, expressions
nested at most :data:`~visdet.config.py_limits.MAX_DEPTH` levels, and the value bounds of
:mod:`visdet.config.py_limits`.
"""

from __future__ import annotations

import ast
import operator
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from visdet.config.errors import ConfigError
from visdet.config.py_limits import MAX_DEPTH, MAX_ITEMS, Refused, check_binary, check_size, check_weight, range_length
from visdet.config.py_values import (
    SAFE_FUNCTIONS,
    BoundMethod,
    CfgDict,
    ImportedName,
    SafeFunction,
    format_value,
    method,
)

MAX_STEPS = 2_000_000  # evaluation steps per file; mmdet's largest config takes ~20,000
MAX_SECONDS = 10.0  # a backstop: no real config takes a tenth of this

_BINARY: dict[type[ast.operator], tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", operator.add), ast.Sub: ("-", operator.sub), ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv), ast.FloorDiv: ("//", operator.floordiv), ast.Mod: ("%", operator.mod),
    ast.Pow: ("**", operator.pow), ast.LShift: ("<<", operator.lshift), ast.RShift: (">>", operator.rshift),
    ast.BitOr: ("|", operator.or_), ast.BitXor: ("^", operator.xor), ast.BitAnd: ("&", operator.and_),
}  # fmt: skip
_IN_PLACE: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.iadd, ast.Sub: operator.isub, ast.Mult: operator.imul, ast.Div: operator.itruediv,
    ast.FloorDiv: operator.ifloordiv, ast.Mod: operator.imod, ast.Pow: operator.ipow,
    ast.LShift: operator.ilshift, ast.RShift: operator.irshift, ast.BitOr: operator.ior,
    ast.BitXor: operator.ixor, ast.BitAnd: operator.iand,
}  # fmt: skip
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: operator.not_,
    ast.Invert: operator.invert,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}  # fmt: skip
# How refused constructs are named in errors (the rest by their ast class name).
_CONSTRUCT_NAMES = {
    "FunctionDef": "a function definition (def)", "AsyncFunctionDef": "a function definition (async def)",
    "ClassDef": "a class definition", "Lambda": "lambda", "For": "a for loop", "AsyncFor": "a for loop",
    "While": "a while loop", "If": "an if statement", "Try": "try", "TryStar": "try", "With": "with",
    "AsyncWith": "with", "Global": "global", "Nonlocal": "nonlocal", "Raise": "raise", "Assert": "assert",
    "Return": "return", "Break": "break", "Continue": "continue", "Match": "match", "NamedExpr": "':=' (walrus)",
    "Await": "await", "Yield": "yield", "YieldFrom": "yield from", "Starred": "'*' unpacking here",
}  # fmt: skip
_CONVERSIONS: dict[int, Callable[[Any], str]] = {ord("s"): str, ord("r"): repr, ord("a"): ascii}
_PYTHON_ERRORS = (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, OverflowError, AttributeError)

ImportHandler = Callable[[ast.stmt, dict[str, Any]], None]


def construct_name(node: ast.AST) -> str:
    """How an error names the construct ``node`` (``'a while loop'``, ``'lambda'``)."""
    kind = type(node).__name__
    return _CONSTRUCT_NAMES.get(kind, kind)


def is_dunder(name: str) -> bool:
    """Names starting with ``__`` are refused everywhere (``__class__``, ``__import__``)."""
    return name.startswith("__")


class ConfigInterpreter:
    """Binds the names of one config file's statements into ``namespace``.

    Args:
        path: The file, for error messages.
        namespace: The module-level names; read and written in place.
        imports: Called for each ``import`` statement met (the file reader binds
            ``read_base`` configs and imported class names); ``None`` refuses imports.
    """

    def __init__(self, path: Path, namespace: dict[str, Any], *, imports: ImportHandler | None = None) -> None:
        self.path = path
        self.namespace = namespace
        self.imports = imports
        self.scopes: list[dict[str, Any]] = []  # comprehension variables, innermost last
        self.steps = 0
        self.depth = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    # -- errors ------------------------------------------------------------------------
    def error(self, node: ast.AST, message: str) -> ConfigError:
        """``ConfigError('path:line: message')``."""
        line = getattr(node, "lineno", None)
        decorators = getattr(node, "decorator_list", None)
        if decorators:  # a decorated def or class: the line of its first decorator
            line = decorators[0].lineno
        return ConfigError(f"{self.path}{'' if line is None else f':{line}'}: {message}")

    def _refuse(self, node: ast.AST, what: str | None = None) -> ConfigError:
        what = what or construct_name(node)
        return self.error(node, f"{what} is not allowed in a config (visdet reads configs without running them)")

    # -- statements --------------------------------------------------------------------
    def run(self, statements: list[ast.stmt]) -> None:
        """Evaluate ``statements`` in order.

        Raises:
            ConfigError: ``path:line: ...`` for a construct outside the subset or an error
                in an operation (an undefined name, ``1 / 0``, a missing key).
        """
        for statement in statements:
            self._statement(statement)

    def _statement(self, node: ast.stmt) -> None:
        try:
            if isinstance(node, ast.Assign):
                value = self.eval(node.value)
                for target in node.targets:
                    self._assign(target, value)
            elif isinstance(node, ast.AugAssign):
                self._augmented(node)
            elif isinstance(node, ast.AnnAssign):
                if node.value is not None:
                    self._assign(node.target, self.eval(node.value))
            elif isinstance(node, ast.Expr):
                self.eval(node.value)
            elif isinstance(node, ast.Delete):
                for target in node.targets:
                    self._delete(target)
            elif isinstance(node, (ast.Import, ast.ImportFrom)) and self.imports is not None:
                self.imports(node, self.namespace)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                raise self._refuse(node, "import")
            elif not isinstance(node, ast.Pass):
                raise self._refuse(node)
        except ConfigError:
            raise
        except Refused as refused:
            raise self.error(node, str(refused)) from None
        except _PYTHON_ERRORS as err:  # an operation on config values failed (the line is the statement's)
            raise self.error(node, f"{type(err).__name__}: {err}") from None

    def _assign(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            self._bind(target, target.id, value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            self._unpack(target, value)
        elif isinstance(target, ast.Attribute):
            owner = self.eval(target.value)
            self._check_attribute_name(target)
            if not isinstance(owner, CfgDict):
                raise self.error(
                    target, f"cannot set attribute '{target.attr}' of a {_kind(owner)} (only of a config dict)"
                )
            owner[target.attr] = value
        elif isinstance(target, ast.Subscript):
            owner, key = self.eval(target.value), self._subscript_key(target)
            if not isinstance(owner, (dict, list)):
                raise self.error(target, f"cannot set an item of a {_kind(owner)}")
            check_weight(key)
            owner[key] = value
            check_size(owner)
        else:
            raise self._refuse(target, f"assigning to {construct_name(target)}")

    def _bind(self, node: ast.AST, name: str, value: Any) -> None:
        if is_dunder(name):
            raise self._refuse(node, f"the name '{name}'")
        (self.scopes[-1] if self.scopes else self.namespace)[name] = value

    def _unpack(self, target: ast.Tuple | ast.List, value: Any) -> None:
        items = list(self._iterate(target, value))
        starred = [i for i, element in enumerate(target.elts) if isinstance(element, ast.Starred)]
        if len(starred) > 1:
            raise self._refuse(target, "two starred targets")
        if starred:
            index = starred[0]
            after = len(target.elts) - index - 1
            if len(items) < len(target.elts) - 1:
                raise self.error(target, f"ValueError: not enough values to unpack (got {len(items)})")
            middle = items[index : len(items) - after]
            items = items[:index] + [middle] + items[len(items) - after :]
        if len(items) != len(target.elts):
            raise self.error(target, f"ValueError: {len(target.elts)} names to unpack {len(items)} values")
        for element, item in zip(target.elts, items):
            self._assign(element.value if isinstance(element, ast.Starred) else element, item)

    def _augmented(self, node: ast.AugAssign) -> None:
        target = node.target
        if isinstance(target, ast.Name):
            current = self._load_name(target)
        elif isinstance(target, (ast.Attribute, ast.Subscript)):
            current = self.eval(target)
        else:
            raise self._refuse(node, f"augmented assignment to {construct_name(target)}")
        right = self.eval(node.value)
        symbol, _ = _BINARY[type(node.op)]
        check_binary(symbol, current, right)
        self._assign(target, check_size(_IN_PLACE[type(node.op)](current, right)))

    def _delete(self, target: ast.expr) -> None:
        if isinstance(target, ast.Name):
            scope = self.scopes[-1] if self.scopes else self.namespace
            if target.id not in scope:
                raise self.error(target, f"NameError: name '{target.id}' is not defined")
            del scope[target.id]
        elif isinstance(target, ast.Attribute):
            owner = self.eval(target.value)
            self._check_attribute_name(target)
            if not isinstance(owner, CfgDict) or target.attr not in owner:
                raise self.error(target, f"cannot delete '{target.attr}' of a {_kind(owner)}")
            del owner[target.attr]
        elif isinstance(target, ast.Subscript):
            owner, key = self.eval(target.value), self._subscript_key(target)
            if not isinstance(owner, (dict, list)):
                raise self.error(target, f"cannot delete an item of a {_kind(owner)}")
            del owner[key]
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._delete(element)
        else:
            raise self._refuse(target, f"deleting {construct_name(target)}")

    # -- expressions -------------------------------------------------------------------
    def eval(self, node: ast.expr) -> Any:
        """The value of ``node``; ``ConfigError`` for anything outside the subset."""
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise self.error(node, f"the config takes more than {MAX_STEPS:,} evaluation steps (refused)")
        if not self.steps % 4096 and time.monotonic() > self.deadline:
            raise self.error(node, f"reading the config took more than {MAX_SECONDS:.0f} s (refused)")
        handler = getattr(self, f"_eval_{type(node).__name__}", None)
        if handler is None:
            raise self._refuse(node)
        self.depth += 1
        try:
            if self.depth > 2 * MAX_DEPTH:
                raise self.error(node, f"an expression nested more than {2 * MAX_DEPTH} levels deep (refused)")
            return handler(node)
        except ConfigError:
            raise
        except Refused as refused:
            raise self.error(node, str(refused)) from None
        except _PYTHON_ERRORS as err:
            raise self.error(node, f"{type(err).__name__}: {err}") from None
        finally:
            self.depth -= 1

    def _eval_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def _load_name(self, node: ast.Name) -> Any:
        if is_dunder(node.id):
            raise self._refuse(node, f"the name '{node.id}'")
        for scope in reversed(self.scopes):
            if node.id in scope:
                return scope[node.id]
        if node.id in self.namespace:
            return self.namespace[node.id]
        if node.id in SAFE_FUNCTIONS:
            return SAFE_FUNCTIONS[node.id]
        raise self.error(node, f"NameError: name '{node.id}' is not defined")

    def _eval_Name(self, node: ast.Name) -> Any:
        return self._load_name(node)

    def _check_attribute_name(self, node: ast.Attribute) -> None:
        if is_dunder(node.attr):
            raise self._refuse(node, f"the attribute '.{node.attr}'")

    def _eval_Attribute(self, node: ast.Attribute) -> Any:
        owner = self.eval(node.value)
        self._check_attribute_name(node)
        if isinstance(owner, ImportedName):
            return owner.attribute(node.attr)
        bound = method(owner, node.attr)
        if bound is not None:
            return bound
        if isinstance(owner, CfgDict):
            if node.attr not in owner:
                raise self.error(node, f"AttributeError: the config dict has no key '{node.attr}'")
            return owner[node.attr]
        raise self._refuse(node, f"the attribute '.{node.attr}' of a {_kind(owner)}")

    def _subscript_key(self, node: ast.Subscript) -> Any:
        if isinstance(node.slice, ast.Slice):
            parts = (node.slice.lower, node.slice.upper, node.slice.step)
            bounds = [None if part is None else self.eval(part) for part in parts]
            if not all(bound is None or isinstance(bound, int) for bound in bounds):
                raise self.error(node, "TypeError: slice bounds must be integers")
            return slice(*bounds)
        return self.eval(node.slice)

    def _eval_Subscript(self, node: ast.Subscript) -> Any:
        owner, key = self.eval(node.value), self._subscript_key(node)
        if not isinstance(owner, (dict, list, tuple, str, bytes, range)):
            raise self._refuse(node, f"indexing a {_kind(owner)}")
        check_weight(key)
        return check_size(owner[key])

    def _eval_Call(self, node: ast.Call) -> Any:
        function = self.eval(node.func)
        if isinstance(function, ImportedName):
            raise self._refuse(node, f"calling the imported '{function.path}' (mmengine does not call it either)")
        if not isinstance(function, (SafeFunction, BoundMethod)):
            allowed = ", ".join(sorted(SAFE_FUNCTIONS))
            raise self._refuse(
                node, f"calling a {_kind(function)} (a config may call only {allowed} and dict/list/str methods)"
            )
        args: list[Any] = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                args.extend(self._iterate(arg, self.eval(arg.value)))
            else:
                args.append(self.eval(arg))
        kwargs: dict[str, Any] = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                mapping = self.eval(keyword.value)
                if not isinstance(mapping, dict) or not all(isinstance(key, str) for key in mapping):
                    raise self.error(
                        keyword.value, f"TypeError: '**' needs a dict with string keys, got a {_kind(mapping)}"
                    )
                kwargs.update(mapping)
            else:
                kwargs[keyword.arg] = self.eval(keyword.value)
        return check_size(function(*args, **kwargs))

    def _eval_BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.eval(node.left), self.eval(node.right)
        if type(node.op) not in _BINARY:
            raise self._refuse(node, f"the operator {type(node.op).__name__}")
        symbol, function = _BINARY[type(node.op)]
        check_binary(symbol, left, right)
        if symbol == "%" and isinstance(left, str):
            check_weight(right)
        return check_size(function(left, right))

    def _eval_UnaryOp(self, node: ast.UnaryOp) -> Any:
        return _UNARY[type(node.op)](self.eval(node.operand))

    def _eval_BoolOp(self, node: ast.BoolOp) -> Any:
        value: Any = None
        for operand in node.values:
            value = self.eval(operand)
            if isinstance(node.op, ast.And) != bool(value):
                return value
        return value

    def _eval_Compare(self, node: ast.Compare) -> bool:
        left = self.eval(node.left)
        check_weight(left)
        for op, comparator in zip(node.ops, node.comparators):
            right = self.eval(comparator)
            check_weight(right)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def _eval_IfExp(self, node: ast.IfExp) -> Any:
        return self.eval(node.body) if self.eval(node.test) else self.eval(node.orelse)

    def _eval_JoinedStr(self, node: ast.JoinedStr) -> str:
        return check_size("".join(str(self.eval(part)) for part in node.values))

    def _eval_FormattedValue(self, node: ast.FormattedValue) -> str:
        value = self.eval(node.value)
        check_weight(value)
        if node.conversion in _CONVERSIONS:
            value = _CONVERSIONS[node.conversion](value)
        spec = "" if node.format_spec is None else self.eval(node.format_spec)
        return format_value(value, spec)

    def _elements(self, nodes: list[ast.expr]) -> list[Any]:
        values: list[Any] = []
        for element in nodes:
            if isinstance(element, ast.Starred):
                values.extend(self._iterate(element, self.eval(element.value)))
            else:
                values.append(self.eval(element))
            if len(values) > MAX_ITEMS:
                raise self.error(element, f"a display of more than {MAX_ITEMS:,} items (refused)")
        return values

    def _eval_List(self, node: ast.List) -> list[Any]:
        return self._elements(node.elts)

    def _eval_Tuple(self, node: ast.Tuple) -> tuple[Any, ...]:
        return tuple(self._elements(node.elts))

    def _eval_Set(self, node: ast.Set) -> set[Any]:
        values = self._elements(node.elts)
        for value in values:
            check_weight(value)
        return set(values)

    def _eval_Dict(self, node: ast.Dict) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in zip(node.keys, node.values):
            if key_node is None:
                mapping = self.eval(value_node)
                if not isinstance(mapping, dict):
                    raise self.error(value_node, f"TypeError: '**' needs a dict, got a {_kind(mapping)}")
                out.update(mapping)
            else:
                key = self.eval(key_node)
                check_weight(key)
                out[key] = self.eval(value_node)
        return check_size(out)

    # -- comprehensions ----------------------------------------------------------------
    def _iterate(self, node: ast.AST, value: Any) -> Iterator[Any]:
        """The items of ``value`` (a list, tuple, str, dict, set or range), each one a step."""
        if isinstance(value, range) and range_length(value) > MAX_ITEMS:
            raise self.error(node, f"iterating over a range of more than {MAX_ITEMS:,} numbers (refused)")
        if not isinstance(value, (list, tuple, str, bytes, dict, set, range)):
            raise self.error(node, f"TypeError: a {_kind(value)} cannot be iterated over")
        for item in list(value):
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise self.error(node, f"the config takes more than {MAX_STEPS:,} evaluation steps (refused)")
            yield item

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp) -> list[Any]:
        """The values (``(key, value)`` pairs for a dict) a comprehension yields, in order."""
        results: list[Any] = []

        def loop(index: int) -> None:
            if index == len(node.generators):
                if isinstance(node, ast.DictComp):
                    results.append((self.eval(node.key), self.eval(node.value)))
                else:
                    results.append(self.eval(node.elt))
                if len(results) > MAX_ITEMS:
                    raise self.error(node, f"a comprehension of more than {MAX_ITEMS:,} items (refused)")
                return
            generator = node.generators[index]
            if generator.is_async:
                raise self._refuse(node, "async for")
            # Python evaluates the first iterable outside the comprehension's own scope
            if index == 0:
                outer, self.scopes = self.scopes, self.scopes[:-1]
                try:
                    iterable = self.eval(generator.iter)
                finally:
                    self.scopes = outer
            else:
                iterable = self.eval(generator.iter)
            for item in self._iterate(generator.iter, iterable):
                self._comprehension_target(generator.target, item)
                if all(self.eval(condition) for condition in generator.ifs):
                    loop(index + 1)

        self.scopes.append({})
        try:
            loop(0)
        finally:
            self.scopes.pop()
        return results

    def _comprehension_target(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            self._bind(target, target.id, value)
        elif isinstance(target, (ast.Tuple, ast.List)) and all(
            isinstance(e, (ast.Name, ast.Tuple, ast.List)) for e in target.elts
        ):
            items = list(self._iterate(target, value))
            if len(items) != len(target.elts):
                raise self.error(target, f"ValueError: {len(target.elts)} names to unpack {len(items)} values")
            for element, item in zip(target.elts, items):
                self._comprehension_target(element, item)
        else:
            raise self._refuse(target, f"a comprehension target {construct_name(target)}")

    def _eval_ListComp(self, node: ast.ListComp) -> list[Any]:
        return self._comprehension(node)

    def _eval_GeneratorExp(self, node: ast.GeneratorExp) -> list[Any]:
        return self._comprehension(node)  # consumed at once: the functions it feeds are pure

    def _eval_SetComp(self, node: ast.SetComp) -> set[Any]:
        values = self._comprehension(node)
        for value in values:
            check_weight(value)
        return set(values)

    def _eval_DictComp(self, node: ast.DictComp) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key, value in self._comprehension(node):
            check_weight(key)
            out[key] = value
        return out


def _kind(value: Any) -> str:
    """How an error names the type of a config value."""
    if isinstance(value, CfgDict):
        return "config dict"
    if isinstance(value, SafeFunction):
        return f"function {value.name}()"
    if isinstance(value, BoundMethod):
        return f"method {value.name}()"
    if isinstance(value, ImportedName):
        return f"imported name {value.path}"
    return type(value).__name__
