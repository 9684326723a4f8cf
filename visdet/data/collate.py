"""``pseudo_collate``: batch a list of samples without stacking (mmengine's default).

Images of a batch may differ in size until the data preprocessor pads them, so a batch of
``{"inputs": Tensor[C, H, W], "data_samples": DetDataSample}`` becomes
``{"inputs": [Tensor, ...], "data_samples": [DetDataSample, ...]}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def pseudo_collate(batch: Sequence[Any]) -> Any:
    """Turn a list of dicts into a dict of lists (recursively); other lists stay lists."""
    if not batch:
        return []
    first = batch[0]
    if isinstance(first, Mapping):
        missing = [k for sample in batch for k in first if k not in sample]
        if missing:
            raise KeyError(f"samples of a batch must have the same keys; missing {sorted(set(missing))}")
        return {key: pseudo_collate([sample[key] for sample in batch]) for key in first}
    return list(batch)
