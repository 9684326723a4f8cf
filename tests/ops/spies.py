"""Test helpers: patch module attributes for a block, and record whether a fast path answered."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import ModuleType


@contextlib.contextmanager
def patched(module: ModuleType, **values) -> Iterator[None]:
    """Set attributes of ``module`` for the block, then put the old ones back."""
    saved = {name: getattr(module, name) for name in values}
    for name, value in values.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


@contextlib.contextmanager
def answers(module: ModuleType, name: str) -> Iterator[list[bool]]:
    """Records, per call of ``module.<name>`` in the block, whether it answered (True) or returned None."""
    seen: list[bool] = []
    original = getattr(module, name)

    def spy(*args, **kwargs):
        result = original(*args, **kwargs)
        seen.append(result is not None)
        return result

    with patched(module, **{name: spy}):
        yield seen
