"""Collect per-rank evaluation results into one list, in the order of the dataset."""

from __future__ import annotations

from typing import Any

import torch.distributed as dist


def gather_results(results: list[Any], size: int | None) -> list[Any]:
    """All ranks' results, interleaved rank by rank, cut to ``size``.

    The distributed sampler gives rank r the items r, r + world, r + 2 * world, ... (and pads
    the last round by repeating items), so interleaving restores the dataset order and
    cutting to ``size`` drops the padding. Ranks hold equally many items with
    ``DefaultSampler``; ``zip`` stops at the shortest, as mmengine's collection does.
    Without ``torch.distributed`` the list is returned (cut to ``size`` when given).
    """
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        parts: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(parts, results)
        ordered = [item for group in zip(*parts) for item in group]
        results = ordered
    return list(results) if size is None else list(results)[:size]
