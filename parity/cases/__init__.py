"""The registry of parity cases.

Each module in this package registers its cases at import (``register(Case(...))``).
``load_all()`` imports every module here, so a new case file needs no list to edit;
this discovery is confined to the test suite (the library registers explicitly).
"""

from __future__ import annotations

import importlib
import pkgutil

from parity.cases.base import CASES, Case, register

__all__ = ["CASES", "Case", "load_all", "register", "select"]

_loaded = False


def load_all() -> dict[str, Case]:
    """Import every case module in this package and return the registry."""
    global _loaded
    if not _loaded:
        for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            if module.name != "base" and not module.name.startswith("_"):
                importlib.import_module(f"{__name__}.{module.name}")
        _loaded = True
    return CASES


def select(patterns: list[str] | None) -> list[Case]:
    """Cases whose key starts with, or fnmatches, any of ``patterns`` (all when None)."""
    from fnmatch import fnmatch

    cases = load_all()
    if not patterns:
        return [cases[k] for k in sorted(cases)]
    chosen = [
        cases[k]
        for k in sorted(cases)
        if any(k.startswith(p) or fnmatch(k, p) for p in patterns)
    ]
    if not chosen:
        raise SystemExit(f"no parity case matches {patterns}; known: {', '.join(sorted(cases))}")
    return chosen
