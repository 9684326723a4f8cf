"""``convert_mmdet_config``: an mmdet 3.x Python config as a visdet config (its known sections)."""

from __future__ import annotations

import os
from typing import Any

from visdet.config.mmdet_convert import read_mmdet_config, short_type_names
from visdet.engine.components.root import VisdetConfig


def convert_mmdet_config(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[str]]:
    """An mmdet config as a visdet config: the known top-level keys, and those dropped.

    Top-level variables visdet's schema does not know (helper variables such as
    ``image_size``) are dropped: their values already live where they were used.
    """
    resolved = short_type_names(read_mmdet_config(path))
    known = VisdetConfig.model_fields
    kept = {key: value for key, value in resolved.items() if key in known}
    dropped = [key for key in resolved if key not in known]
    return kept, dropped
