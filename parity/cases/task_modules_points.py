"""Parity cases for the anchor-free task modules: ``MlvlPointGenerator`` and ``DistancePointBBoxCoder``.

Inputs are drawn only from the case's generator (float32: each output is a few correctly
rounded operations). Recorded: the points of every level (with and without strides), the
valid flags for a padded shape, sparse points at random indices; the coder's distances
(with and without ``max_dis``) and decoded boxes (unclipped, clipped to one image, and
batched against one shape per image), with the gradient of the decoded boxes w.r.t. the
distances.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from parity.cases.base import Case, Tensors, register

TM = "models/task_modules"


# ------------------------------------------------------------------ point generator
def _point_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    levels = len(p["strides"])
    sizes = torch.randint(1, p["max_featmap"] + 1, (levels, 2), generator=gen)
    pad = torch.randint(8, 8 * p["max_featmap"], (2,), generator=gen)
    idxs = torch.randint(0, 10_000, (levels, 6), generator=gen)
    return {"featmap_sizes": sizes, "pad_shape": pad, "sparse_idxs": idxs}


def _point_outputs(gen_obj: Any, inputs: Tensors) -> Tensors:
    sizes = [tuple(int(v) for v in row) for row in inputs["featmap_sizes"]]
    pad = tuple(int(v) for v in inputs["pad_shape"])
    out: Tensors = {}
    for i, points in enumerate(gen_obj.grid_priors(sizes, device="cpu")):
        out[f"points.{i}"] = points
        idxs = inputs["sparse_idxs"][i] % points.size(0)
        out[f"sparse.{i}"] = gen_obj.sparse_priors(idxs, sizes[i], i, device="cpu")
    for i, points in enumerate(gen_obj.grid_priors(sizes, dtype=torch.float64, device="cpu", with_stride=True)):
        out[f"points_stride64.{i}"] = points
    for i, flags in enumerate(gen_obj.valid_flags(sizes, pad, device="cpu")):
        out[f"valid.{i}"] = flags
    out["num_base_priors"] = torch.tensor(gen_obj.num_base_priors)
    return out


def _strides(p: Mapping[str, Any]) -> list:
    return [tuple(s) if isinstance(s, list) else s for s in p["strides"]]


def _point_ref(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.task_modules.prior_generators import MlvlPointGenerator

    return _point_outputs(MlvlPointGenerator(_strides(p), offset=p["offset"]), inputs)


def _point_vis(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.models.task_modules import MlvlPointGenerator

    return _point_outputs(MlvlPointGenerator(_strides(p), offset=p["offset"]), inputs)


_POINT_CASES = {
    "fcos_strides": dict(strides=[8, 16, 32, 64, 128], offset=0.5, max_featmap=9),
    "rect_strides_offset0": dict(strides=[[8, 16], [16, 24], [32, 32]], offset=0.0, max_featmap=7),
    "odd_offset": dict(strides=[4, 12], offset=0.25, max_featmap=11),
}
for _name, _params in _POINT_CASES.items():
    register(Case(
        component=f"{TM}/mlvl_point_generator", name=_name, params=_params, seed=31,
        make_inputs=_point_inputs, reference=_point_ref, visdet=_point_vis,
        exact=("valid.*", "num_base_priors"),
        description="points per level (float32, and float64 with strides), valid flags, sparse points",
    ))  # fmt: skip


# ------------------------------------------------------------------ distance coder
def _coder_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    n, h, w = p["n"], p["img_h"], p["img_w"]
    points = torch.rand(n, 2, generator=gen) * torch.tensor([w, h])
    xy = torch.rand(n, 2, generator=gen) * torch.tensor([w, h]) * 1.2 - 10
    wh = torch.rand(n, 2, generator=gen) * 60 + 1
    boxes = torch.cat([xy, xy + wh], dim=1)
    dist = torch.rand(n, 4, generator=gen) * 50
    batch_points = torch.rand(2, n, 2, generator=gen) * torch.tensor([w, h])
    batch_dist = torch.rand(2, n, 4, generator=gen) * 60
    return {"points": points, "boxes": boxes, "dist": dist, "batch_points": batch_points, "batch_dist": batch_dist}


def _coder_run(coder: Any, p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    out: Tensors = {"encoded": coder.encode(inputs["points"], inputs["boxes"])}
    out["encoded_max_dis"] = coder.encode(inputs["points"], inputs["boxes"], max_dis=p["max_dis"], eps=p["eps"])
    dist = inputs["dist"].clone().requires_grad_(True)
    decoded = coder.decode(inputs["points"], dist, max_shape=(p["img_h"], p["img_w"], 3))
    (decoded * torch.linspace(0.5, 1.5, decoded.numel()).view_as(decoded)).sum().backward()
    out["decoded_clipped"] = decoded.detach()
    out["grad.dist"] = dist.grad
    out["decoded"] = coder.decode(inputs["points"], inputs["dist"])
    shapes = [[p["img_h"], p["img_w"]], [p["img_h"] // 2, p["img_w"] - 7]]
    out["decoded_batch"] = coder.decode(inputs["batch_points"], inputs["batch_dist"], max_shape=shapes)
    out["decoded_batch_one_shape"] = coder.decode(inputs["batch_points"], inputs["batch_dist"],
                                                  max_shape=(p["img_h"], p["img_w"]))  # fmt: skip
    return out


def _coder_ref(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.task_modules.coders import DistancePointBBoxCoder

    return _coder_run(DistancePointBBoxCoder(clip_border=p["clip_border"]), p, inputs)


def _coder_vis(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.models.task_modules import DistancePointBBoxCoder

    return _coder_run(DistancePointBBoxCoder(clip_border=p["clip_border"]), p, inputs)


for _name, _params in {
    "clip_border": dict(n=40, img_h=48, img_w=64, max_dis=30.0, eps=0.1, clip_border=True),
    "no_clip_eps": dict(n=25, img_h=40, img_w=40, max_dis=17.5, eps=0.5, clip_border=False),
}.items():
    register(Case(
        component=f"{TM}/distance_point_coder", name=_name, params=_params, seed=32,
        make_inputs=_coder_inputs, reference=_coder_ref, visdet=_coder_vis,
        description="encode (with/without max_dis), decode unclipped/clipped/batched per-image shapes, grad",
    ))  # fmt: skip
