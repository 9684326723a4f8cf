"""Whether the reference (mmdet 3.3 + mmcv 2.1 with compiled ops) is importable here."""

from __future__ import annotations

import os
from functools import lru_cache

# Set (to anything but "" or "0") to run the goldens-only suite inside the reference
# environment too, as ``make mutation`` does.
HIDE_VARIABLE = "VISDET_HIDE_REFERENCE"


@lru_cache(maxsize=1)
def reference_missing() -> str | None:
    """None when mmdet, mmengine and mmcv's compiled ops import; otherwise the reason."""
    if os.environ.get(HIDE_VARIABLE, "") not in ("", "0"):
        return f"reference hidden by {HIDE_VARIABLE}={os.environ[HIDE_VARIABLE]}"
    try:
        import mmcv  # noqa: F401
        import mmdet  # noqa: F401
        import mmengine  # noqa: F401
        from mmcv.ops import nms  # noqa: F401  (needs the compiled extension)
    except Exception as err:  # any import failure means: no reference here
        return f"reference (mmdet/mmcv) not importable: {type(err).__name__}: {err}"
    return None
