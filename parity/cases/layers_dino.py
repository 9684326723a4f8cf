"""Parity cases: DINO's parts (mmdet 3.3).

* ``CdnQueryGenerator`` (float64, one float32 case): the seeded ``label_embedding``, then, with
  the reference's weights loaded and torch's global RNG seeded the same way on both sides,
  two consecutive batches through the generator (the second draws where the first left the
  RNG): label queries, box queries, the attention mask and ``dn_meta`` (exact), and the
  gradient of ``<label queries, w>`` for the embedding. Batches mix images with 0, 1 and many
  boxes and different image sizes; dynamic groups (also with more boxes than
  ``num_dn_queries``, and with no box in the batch) and static groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from parity.cases._heads_detector_common import load_state, module_grads, state_entries
from parity.cases.base import Case, Tensors, register

CDN_COMPONENT = "models/layers/cdn_query_generator"


def _grad_weight(out: torch.Tensor, seed: int) -> torch.Tensor:
    return torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=out.dtype)


def _cdn_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    """Per batch and image: ``b<k>.gt<i>.bboxes [G, 4]`` inside the image, ``b<k>.gt<i>.labels [G]``."""
    out: Tensors = {}
    for batch_index, batch in enumerate(params["batches"]):
        for image, (height, width, count) in enumerate(batch):
            corner = torch.rand(count, 2, generator=generator) * 0.7
            size = 0.05 + torch.rand(count, 2, generator=generator) * (0.95 - corner)
            scale = torch.tensor([width, height], dtype=torch.float32)
            boxes = torch.cat([corner * scale, (corner + size) * scale], dim=1)
            out[f"b{batch_index}.gt{image}.bboxes"] = boxes
            out[f"b{batch_index}.gt{image}.labels"] = torch.randint(0, params["kwargs"]["num_classes"], (count,),
                                                                   generator=generator)  # fmt: skip
    return out


def _outputs(batch_index: int, result: tuple) -> Tensors:
    label_query, bbox_query, attn_mask, dn_meta = result
    prefix = f"b{batch_index}."
    return {
        f"{prefix}dn_label_query": label_query,
        f"{prefix}dn_bbox_query": bbox_query.detach().clone(),
        f"{prefix}attn_mask": attn_mask.clone(),
        f"{prefix}num_denoising_queries": torch.tensor([dn_meta["num_denoising_queries"]]),
        f"{prefix}num_denoising_groups": torch.tensor([dn_meta["num_denoising_groups"]]),
    }


def _finish(module: torch.nn.Module, results: Tensors) -> Tensors:
    """Backward of ``sum_k <label_query_k, w_k>``; label queries detached into the results."""
    queries = [k for k in results if k.endswith("dn_label_query")]
    total = sum((results[k] * _grad_weight(results[k], 50 + i)).sum() for i, k in enumerate(queries))
    total.backward()
    out = {k: (v.detach().clone() if k in queries else v) for k, v in results.items()}
    return {**out, **module_grads(module)}


def _cdn_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.layers import CdnQueryGenerator
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    torch.manual_seed(params["seed"])
    module = CdnQueryGenerator(**params["kwargs"])
    init = {f"init.{k}": v.detach().clone() for k, v in module.state_dict().items()}
    with torch.no_grad():  # a perturbation, so no weight is at its init value
        module.label_embedding.weight.mul_(0.5).add_(0.25)
    results: Tensors = {}
    torch.manual_seed(params["seed"] + 1)
    for batch_index, batch in enumerate(params["batches"]):
        samples = []
        for image, (height, width, _) in enumerate(batch):
            sample = DetDataSample(metainfo={"img_shape": (height, width)})
            sample.gt_instances = InstanceData(bboxes=inputs[f"b{batch_index}.gt{image}.bboxes"],
                                               labels=inputs[f"b{batch_index}.gt{image}.labels"])  # fmt: skip
            samples.append(sample)
        results.update(_outputs(batch_index, module(samples)))
    return {**init, **state_entries(module), **_finish(module, results)}


def _cdn_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.models.layers import CdnQueryGenerator
    from visdet.structures import Instances

    torch.manual_seed(params["seed"])
    module = CdnQueryGenerator(**params["kwargs"])
    init = {f"init.{k}": v.detach().clone() for k, v in module.state_dict().items()}
    load_state(module, tensors)
    results: Tensors = {}
    torch.manual_seed(params["seed"] + 1)
    for batch_index, batch in enumerate(params["batches"]):
        gts = [Instances(bboxes=tensors[f"b{batch_index}.gt{image}.bboxes"],
                         labels=tensors[f"b{batch_index}.gt{image}.labels"])
               for image in range(len(batch))]  # fmt: skip
        metas = [{"img_shape": (height, width)} for height, width, _ in batch]
        results.update(_outputs(batch_index, module(gts, metas)))
    return {**init, **_finish(module, results)}


def _exact(num_batches: int) -> tuple[str, ...]:
    return tuple(f"b{k}.{key}" for k in range(num_batches)
                 for key in ("attn_mask", "num_denoising_queries", "num_denoising_groups"))  # fmt: skip


def _dynamic(num_dn_queries: int) -> dict[str, Any]:
    return {"dynamic": True, "num_groups": None, "num_dn_queries": num_dn_queries}


_BASE = {"num_classes": 5, "embed_dims": 8, "num_matching_queries": 6}
# batches: per image (h, w, number of boxes)
_CDN_CASES = {
    "dynamic_mixed_batches": (
        {**_BASE, "group_cfg": _dynamic(12)},
        [[[32, 48, 3], [40, 24, 1]], [[20, 36, 0], [28, 28, 5], [44, 30, 2]]],
        "dynamic groups (12 queries): a 3+1 box batch, then 0+5+2 boxes",
    ),
    "dynamic_mmdet_defaults_no_cfg": (
        {**_BASE},
        [[[30, 50, 4]], [[26, 34, 1], [26, 34, 1]]],
        "group_cfg None (dynamic, 100 queries, mmdet's warning): one image of 4 boxes, then two of 1",
    ),
    "dynamic_more_boxes_than_queries": (
        {**_BASE, "label_noise_scale": 1.5, "box_noise_scale": 0.4, "group_cfg": _dynamic(4)},
        [[[36, 36, 7], [30, 40, 2]], [[24, 20, 4]]],
        "7 boxes > 4 queries (one group), label noise 1.5 (75% chosen), box noise 0.4",
    ),
    "dynamic_no_boxes": (
        {**_BASE, "group_cfg": _dynamic(10)},
        [[[20, 30, 0], [34, 22, 0]], [[16, 16, 2], [18, 24, 0]]],
        "a batch without any box (one group of zero queries, the mask only the matching part), then 2+0",
    ),
    "static_three_groups": (
        {**_BASE, "label_noise_scale": 0.8, "box_noise_scale": 2.0, "group_cfg": {"dynamic": False, "num_groups": 3}},
        [[[40, 32, 2], [28, 44, 0], [36, 36, 3]], [[24, 24, 1]]],
        "static 3 groups, box noise 2.0 (boxes clamped at the image border), 2+0+3 then 1",
    ),
    "static_zero_groups": (
        {**_BASE, "group_cfg": {"dynamic": False, "num_groups": 0}},
        [[[30, 30, 2], [20, 40, 3]]],
        "static num_groups 0 (raised to one group as mmdet)",
    ),
}  # fmt: skip
for _index, (_name, (_kwargs, _batches, _text)) in enumerate(_CDN_CASES.items()):
    _seed = 2400 + _index
    register(Case(
        component=CDN_COMPONENT, dtype="float64", name=_name, seed=_seed,
        params={"kwargs": _kwargs, "batches": _batches, "seed": _seed},
        make_inputs=_cdn_inputs, reference=_cdn_reference, visdet=_cdn_visdet,
        exact=_exact(len(_batches)),
        description=f"CdnQueryGenerator {_text}: seeded embedding, queries, mask, dn_meta, embedding gradient",
    ))  # fmt: skip
register(Case(
    component=CDN_COMPONENT, name="float32_dynamic", seed=2420,
    params={"kwargs": {**_BASE, "group_cfg": _dynamic(9)}, "batches": [[[32, 40, 2], [24, 48, 3]]], "seed": 2420},
    make_inputs=_cdn_inputs, reference=_cdn_reference, visdet=_cdn_visdet,
    exact=_exact(1),
    description="CdnQueryGenerator in float32 (float32 boxes draw float32 noise): queries, mask, gradient",
))  # fmt: skip
