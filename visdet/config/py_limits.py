"""How much work reading one config may take: the bounds of values and operations.

A config is evaluated, never run (:mod:`visdet.config.py_reader`), but even pure
arithmetic can be made to hang or exhaust memory: ``10**10**10``, ``[0] * 10**12``,
``'%999999999d' % 1``, or a value holding the same list over and over (``a = [a, a]``
repeated: a few lines, 2**60 elements once expanded). Every operation that could grow a
value checks these bounds first and raises :class:`Refused` instead (the reader turns it
into a ``ConfigError`` naming the file and line). Real configs stay far below all of them.

:func:`weight` counts the values a value holds, each shared part as often as it is
reached; every walk through a value (copying, comparing, hashing, printing, converting)
checks it against :data:`MAX_WEIGHT` first, so an aliasing bomb is refused, not expanded.
"""

from __future__ import annotations

import math
import re
from typing import Any

MAX_ITEMS = 100_000  # elements of one list/tuple/dict/set, characters of one str or bytes
MAX_WEIGHT = 1_000_000  # values inside one value, counted as often as they are reached
MAX_DEPTH = 100  # nesting of values and of expressions; real configs nest under 15
MAX_INT_BITS = 65_536  # an int of ~20,000 decimal digits; real configs stay below 64 bits
_WIDTH = re.compile(r"\d+")
# one %-conversion: optional (key), flags, width, .precision
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?")


class Refused(Exception):
    """A construct or value outside the subset a config may use (message names it)."""


def weight(value: Any, limit: int = MAX_WEIGHT) -> tuple[int, int]:
    """How many values ``value`` holds (shared parts counted each time) and how deep it nests.

    The walk stops once either passes its limit (``limit``, :data:`MAX_DEPTH`).
    """
    count = deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        count += 1
        deepest = max(deepest, depth)
        if count > limit or depth > MAX_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((key, depth + 1) for key in item.keys())
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, (list, tuple, set)):
            stack.extend((child, depth + 1) for child in item)
    return count, deepest


def check_weight(value: Any) -> None:
    """Refuse a value holding over :data:`MAX_WEIGHT` values (with repeats) or nesting too deep."""
    if isinstance(value, (dict, list, tuple, set)):
        count, depth = weight(value)
        if count > MAX_WEIGHT:
            raise Refused(f"a value holding more than {MAX_WEIGHT:,} values (counting repeats)")
        if depth > MAX_DEPTH:
            raise Refused(f"a value nested more than {MAX_DEPTH} levels deep")


def check_size(value: Any) -> Any:
    """``value`` itself, or :class:`Refused` when it is larger than a config needs."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > MAX_INT_BITS:
            raise Refused(f"an integer of more than {MAX_INT_BITS} bits (a config needs none this large)")
    elif isinstance(value, (str, bytes, list, tuple, dict, set)) and len(value) > MAX_ITEMS:
        raise Refused(f"a {type(value).__name__} of more than {MAX_ITEMS:,} items")
    return value


def bounded_length(length: int, what: str) -> None:
    """Refuse a result of ``length`` items above :data:`MAX_ITEMS` before building it."""
    if length > MAX_ITEMS:
        raise Refused(f"{what} would hold more than {MAX_ITEMS:,} items")


def _is_int(value: Any) -> bool:
    return isinstance(value, int)


def check_binary(op: str, left: Any, right: Any) -> None:
    """Refuse, before computing it, an operation whose result would be too large."""
    if op == "**" and _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
        if right * math.log2(abs(left)) > MAX_INT_BITS:
            raise Refused(f"{left!r:.20} ** {right!r:.20} is larger than {MAX_INT_BITS} bits")
    if op == "<<" and _is_int(left) and _is_int(right) and left and right + left.bit_length() > MAX_INT_BITS:
        raise Refused(f"shifting left by {right!r:.20} bits")
    if op == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, (str, bytes, list, tuple)) and _is_int(times):
                bounded_length(len(seq) * max(times, 0), f"repeating a {type(seq).__name__}")
    if op == "%" and isinstance(left, (str, bytes)):
        check_percent_widths(left if isinstance(left, str) else left.decode("latin-1"))


def check_percent_widths(template: str) -> None:
    """Refuse a ``%``-format whose widths or precisions are ``*`` or above :data:`MAX_ITEMS`."""
    for match in _PERCENT_SPEC.finditer(template):
        for part in match.groups():
            if part == "*":
                raise Refused("a '*' width in a %-format (the width must be written out)")
            if part and (len(part) > 7 or int(part) > MAX_ITEMS):
                raise Refused(f"a format width or precision of {part[:20]}")


def check_format_widths(text: str) -> None:
    """Refuse a format string or spec asking for a field wider than :data:`MAX_ITEMS`."""
    for digits in _WIDTH.findall(text):
        if len(digits) > 7 or int(digits) > MAX_ITEMS:
            raise Refused(f"a format width or precision of {digits[:20]}")


def range_length(value: range) -> int:
    """``len(value)`` without ``OverflowError`` for ranges longer than a C ``ssize_t``."""
    if value.step > 0:
        return max(0, (value.stop - value.start + value.step - 1) // value.step)
    return max(0, (value.start - value.stop - value.step - 1) // -value.step)
