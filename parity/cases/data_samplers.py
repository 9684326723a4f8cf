"""Parity cases for the samplers: DefaultSampler, InfiniteSampler (mmengine) and
AspectRatioBatchSampler (mmdet) give the same indices for the same seed.

Inputs: per-item image sizes (for the aspect-ratio buckets) drawn from the generator.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import torch

from parity.cases.base import Case, Tensors, register


class _Sizes:
    def __init__(self, sizes: torch.Tensor) -> None:
        self.sizes = sizes.tolist()

    def __len__(self) -> int:
        return len(self.sizes)

    def get_data_info(self, idx: int) -> dict[str, int]:
        h, w = self.sizes[idx]
        return {"height": h, "width": w}


def _inputs(params: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    return {"sizes": torch.randint(10, 100, (params["n"], 2), generator=gen)}


def _run(params: Mapping[str, Any], inputs: Tensors, default_cls: Any, infinite_cls: Any, batch_cls: Any) -> Tensors:
    dataset = _Sizes(inputs["sizes"])
    seed, shuffle = params["sampler_seed"], params["shuffle"]
    default = default_cls(dataset, shuffle=shuffle, seed=seed)
    out: Tensors = {}
    for epoch in range(2):
        default.set_epoch(epoch)
        out[f"default.epoch{epoch}"] = torch.tensor(list(default))
    infinite = infinite_cls(dataset, shuffle=shuffle, seed=seed)
    out["infinite"] = torch.tensor(list(itertools.islice(iter(infinite), 3 * len(dataset))))
    batches = list(batch_cls(default_cls(dataset, shuffle=shuffle, seed=seed), batch_size=params["batch_size"]))
    out["batches"] = torch.tensor([i for b in batches for i in b])
    out["batch_sizes"] = torch.tensor([len(b) for b in batches])
    return out


def _ref(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.datasets.samplers import AspectRatioBatchSampler
    from mmengine.dataset import DefaultSampler, InfiniteSampler

    return _run(params, inputs, DefaultSampler, InfiniteSampler, AspectRatioBatchSampler)


def _vis(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.data.samplers import AspectRatioBatchSampler, DefaultSampler, InfiniteSampler

    return _run(params, inputs, DefaultSampler, InfiniteSampler, AspectRatioBatchSampler)


for _name, _params in {
    "shuffle": {"n": 11, "sampler_seed": 3, "shuffle": True, "batch_size": 2},
    "no_shuffle": {"n": 7, "sampler_seed": 0, "shuffle": False, "batch_size": 3},
}.items():
    register(Case(
        component="data/samplers", name=_name, params=_params, make_inputs=_inputs, reference=_ref, visdet=_vis,
        exact=("default.epoch0", "default.epoch1", "infinite", "batches", "batch_sizes"),
    ))  # fmt: skip
