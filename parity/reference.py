"""Whether the reference (mmdet 3.3 + mmcv 2.1 with compiled ops) is importable here."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def reference_missing() -> str | None:
    """None when mmdet, mmengine and mmcv's compiled ops import; otherwise the reason."""
    try:
        import mmcv  # noqa: F401
        import mmdet  # noqa: F401
        import mmengine  # noqa: F401
        from mmcv.ops import nms  # noqa: F401  (needs the compiled extension)
    except Exception as err:  # any import failure means: no reference here
        return f"reference (mmdet/mmcv) not importable: {type(err).__name__}: {err}"
    return None
