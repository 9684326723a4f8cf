"""Deep merge of config dicts, with mmengine's ``_delete_`` rule.

``merge(base, override)`` returns a new dict: keys of ``override`` replace those of
``base``; where both values are dicts they merge recursively, unless the override holds
``_delete_: true``, in which case it replaces the base subtree outright. Lists and other
values always replace. Neither input is modified.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

DELETE_KEY = "_delete_"


def strip_delete(value: Any) -> Any:
    """A deep copy of ``value`` with every ``_delete_`` key removed."""
    if isinstance(value, Mapping):
        return {key: strip_delete(item) for key, item in value.items() if key != DELETE_KEY}
    if isinstance(value, list):
        return [strip_delete(item) for item in value]
    if isinstance(value, tuple):
        return tuple(strip_delete(item) for item in value)
    return copy.deepcopy(value)


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base`` (see the module docstring).

    Args:
        base: The inherited config.
        override: The child's values.

    Returns:
        A new dict; ``_delete_`` markers are consumed and do not appear in it.
    """
    out = {key: strip_delete(value) for key, value in base.items()}
    for key, value in override.items():
        if key == DELETE_KEY:
            continue
        inherited = out.get(key)
        if isinstance(value, Mapping) and isinstance(inherited, Mapping) and not value.get(DELETE_KEY, False):
            out[key] = merge(inherited, value)
        else:
            out[key] = strip_delete(value)
    return out
