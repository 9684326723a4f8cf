"""Parity cases for task modules: anchors, delta coder, MaxIoU assigner, samplers.

Inputs are drawn only from the case's generator. Sampler cases seed torch's global RNG
with the case's ``rng_seed`` on both sides, so the same ``randperm`` draws happen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from parity.cases.base import Case, Tensors, register

TM = "models/task_modules"


# --------------------------------------------------------------------------- inputs
def _boxes(n: int, gen: torch.Generator, scale: float = 64.0, integer: bool = False) -> torch.Tensor:
    """``n`` valid xyxy boxes inside about ``[0, scale]``; integer corners make IoU ties."""
    xy = torch.rand(n, 2, generator=gen) * scale
    wh = torch.rand(n, 2, generator=gen) * scale * 0.5 + 1.0
    boxes = torch.cat([xy, xy + wh], dim=1)
    return boxes.round() if integer else boxes


def _near(boxes: torch.Tensor, gen: torch.Generator, jitter: float) -> torch.Tensor:
    """Boxes near ``boxes`` (so assignments have positives)."""
    wh = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)
    out = boxes + (torch.rand(boxes.shape, generator=gen) - 0.5) * jitter * wh
    return torch.cat([torch.minimum(out[:, :2], out[:, 2:] - 0.5), out[:, 2:]], dim=1)


def _ramp(t: torch.Tensor) -> torch.Tensor:
    return torch.linspace(0.5, 1.5, max(t.numel(), 1))[: t.numel()].view_as(t)


def _to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


# ------------------------------------------------------------------ anchor generator
def _anchor_kwargs(p: Mapping[str, Any]) -> dict[str, Any]:
    keys = (
        "strides",
        "ratios",
        "scales",
        "base_sizes",
        "scale_major",
        "octave_base_scale",
        "scales_per_octave",
        "centers",
        "center_offset",
    )
    kw = {k: p[k] for k in keys if k in p}
    kw["strides"] = [_to_tuple(s) for s in kw["strides"]]
    if "centers" in kw:
        kw["centers"] = [tuple(c) for c in kw["centers"]]
    return kw


def _anchor_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    levels = len(p["strides"])
    sizes = torch.randint(1, p["max_featmap"] + 1, (levels, 2), generator=gen)
    pad = torch.randint(8, 8 * p["max_featmap"], (2,), generator=gen)
    idxs = torch.randint(0, 10_000, (levels, 6), generator=gen)
    return {"featmap_sizes": sizes, "pad_shape": pad, "sparse_idxs": idxs}


def _anchor_outputs(gen_obj: Any, inputs: Tensors) -> Tensors:
    sizes = [tuple(int(v) for v in row) for row in inputs["featmap_sizes"]]
    pad = tuple(int(v) for v in inputs["pad_shape"])
    out: Tensors = {}
    for i, base in enumerate(gen_obj.base_anchors):
        out[f"base.{i}"] = base
    for i, anchors in enumerate(gen_obj.grid_priors(sizes, device="cpu")):
        out[f"anchors.{i}"] = anchors
        idxs = inputs["sparse_idxs"][i] % anchors.size(0)
        out[f"sparse.{i}"] = gen_obj.sparse_priors(idxs, sizes[i], i, device="cpu")
    for i, flags in enumerate(gen_obj.valid_flags(sizes, pad, device="cpu")):
        out[f"valid.{i}"] = flags
    return out


def _anchor_ref(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.task_modules.prior_generators import AnchorGenerator

    return _anchor_outputs(AnchorGenerator(**_anchor_kwargs(p)), inputs)


def _anchor_vis(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.models.task_modules import AnchorGenerator

    return _anchor_outputs(AnchorGenerator(**_anchor_kwargs(p)), inputs)


_ANCHOR_CASES = {
    "rpn_fpn": dict(strides=[4, 8, 16, 32, 64], ratios=[0.5, 1.0, 2.0], scales=[8], max_featmap=9),
    "retina_octave": dict(
        strides=[8, 16, 32, 64, 128],
        ratios=[0.5, 1.0, 2.0],
        octave_base_scale=4,
        scales_per_octave=3,
        max_featmap=7,
    ),
    "rect_strides_scale_minor_offset": dict(
        strides=[[8, 16], [16, 24]],
        ratios=[0.25, 1.0, 3.0],
        scales=[2, 5.5],
        scale_major=False,
        center_offset=0.5,
        max_featmap=6,
    ),
    "centers_base_sizes": dict(
        strides=[16, 32],
        ratios=[1.0, 2.5],
        scales=[1.0, 5.0],
        base_sizes=[4, 9],
        centers=[[3.0, 5.0], [7.5, 2.0]],
        max_featmap=6,
    ),
}
for _name, _params in _ANCHOR_CASES.items():
    register(
        Case(
            component=f"{TM}/anchor_generator",
            name=_name,
            params=_params,
            seed=11,
            make_inputs=_anchor_inputs,
            reference=_anchor_ref,
            visdet=_anchor_vis,
            exact=tuple(f"valid.{i}" for i in range(len(_params["strides"]))),
            description="base anchors, grid_priors, sparse_priors and valid_flags",
        )
    )


# ---------------------------------------------------------------------- delta coder
def _coder_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    batch = p.get("batch")
    n, k = p["num"], 4 * p.get("classes", 1)
    lead = (batch, n) if batch else (n,)
    rois = _boxes(int(torch.tensor(lead).prod()), gen).view(*lead, 4)
    return {
        "rois": rois,
        "gt": _near(rois.view(-1, 4), gen, 1.5).view(*lead, 4),
        "deltas": torch.randn(*lead, k, generator=gen) * p.get("delta_scale", 1.0),
    }


def _coder_run(coder: Any, p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    out: Tensors = {}
    if p.get("encode", False):
        out["deltas"] = coder.encode(inputs["rois"], inputs["gt"])
    deltas = inputs["deltas"].clone().requires_grad_(True)
    max_shape = p.get("max_shape")
    if max_shape is not None and p.get("batch") and isinstance(max_shape[0], list):
        max_shape = [tuple(s) for s in max_shape]
    elif max_shape is not None:
        max_shape = tuple(max_shape)
    kwargs = {"wh_ratio_clip": p["wh_ratio_clip"]} if "wh_ratio_clip" in p else {}
    boxes = coder.decode(inputs["rois"], deltas, max_shape=max_shape, **kwargs)
    (boxes * _ramp(boxes)).sum().backward()
    out["boxes"] = boxes.detach()
    out["grad.deltas"] = deltas.grad
    return out


def _coder_kwargs(p: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("target_means", "target_stds", "clip_border", "add_ctr_clamp", "ctr_clamp")
    return {k: p[k] for k in keys if k in p}


def _coder_ref(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    import warnings

    from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _coder_run(DeltaXYWHBBoxCoder(**_coder_kwargs(p)), p, inputs)


def _coder_vis(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.models.task_modules import DeltaXYWHBBoxCoder

    return _coder_run(DeltaXYWHBBoxCoder(**_coder_kwargs(p)), p, inputs)


_STDS = [0.1, 0.1, 0.2, 0.2]
_CODER_CASES = {
    "encode_decode_default": dict(num=40, encode=True, max_shape=[60, 70]),
    "means_stds": dict(
        num=40,
        encode=True,
        target_means=[0.05, -0.1, 0.2, 0.0],
        target_stds=_STDS,
        max_shape=[50, 80, 3],
    ),
    "multiclass_no_clip": dict(num=30, classes=5, target_stds=_STDS, clip_border=False, max_shape=[40, 40]),
    "wh_ratio_clip": dict(num=40, delta_scale=6.0, wh_ratio_clip=0.1, max_shape=[100, 100]),
    "ctr_clamp": dict(num=40, delta_scale=4.0, add_ctr_clamp=True, ctr_clamp=8, max_shape=[90, 90]),
    "batched_per_image_shape": dict(
        num=20, batch=3, classes=2, target_stds=_STDS, max_shape=[[40, 50], [60, 30], [25, 70]]
    ),
    "batched_one_shape": dict(num=20, batch=2, max_shape=[45, 55]),
}
for _name, _params in _CODER_CASES.items():
    register(
        Case(
            component=f"{TM}/delta_xywh_coder",
            name=_name,
            params=_params,
            seed=12,
            make_inputs=_coder_inputs,
            reference=_coder_ref,
            visdet=_coder_vis,
            description="DeltaXYWHBBoxCoder encode / decode and d(decode)/d(deltas)",
        )
    )


# ------------------------------------------------------------------------- assigner
def _assign_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    integer = p.get("integer", False)
    priors = _boxes(p["num_priors"], gen, integer=integer)
    num_gts = p["num_gts"]
    if num_gts and p["num_priors"]:
        pick = torch.randint(0, p["num_priors"], (num_gts,), generator=gen)
        gts = _near(priors[pick], gen, 0.6)
        gts = gts.round() if integer else gts
        if p.get("duplicates"):  # exact copies of the gts' seed priors: IoU ties
            priors = torch.cat([priors, priors[pick]], dim=0)
    else:
        gts = _boxes(num_gts, gen, integer=integer)
    return {
        "priors": priors,
        "gt_bboxes": gts,
        "gt_labels": torch.randint(0, 7, (num_gts,), generator=gen),
        "ignore": _boxes(p.get("num_ignore", 0), gen, integer=integer),
    }


def _assign_kwargs(p: Mapping[str, Any]) -> dict[str, Any]:
    keys = (
        "pos_iou_thr",
        "neg_iou_thr",
        "min_pos_iou",
        "gt_max_assign_all",
        "ignore_iof_thr",
        "ignore_wrt_candidates",
        "match_low_quality",
        "gpu_assign_thr",
    )
    kw = {k: p[k] for k in keys if k in p}
    kw["neg_iou_thr"] = _to_tuple(kw["neg_iou_thr"])
    return kw


def _assign_out(result: Any) -> Tensors:
    return {
        "gt_inds": result.gt_inds,
        "labels": result.labels,
        "max_overlaps": result.max_overlaps,
        "num_gts": torch.tensor(result.num_gts),
    }


def _assign_ref(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.task_modules.assigners import MaxIoUAssigner
    from mmengine.structures import InstanceData

    ignore = InstanceData(bboxes=inputs["ignore"]) if p.get("num_ignore") else None
    extra = {"iou_calculator": {"type": "BboxOverlaps2D", **p["iou_calculator"]}} if "iou_calculator" in p else {}
    result = MaxIoUAssigner(**_assign_kwargs(p), **extra).assign(
        InstanceData(priors=inputs["priors"]),
        InstanceData(bboxes=inputs["gt_bboxes"], labels=inputs["gt_labels"]),
        ignore,
    )
    return _assign_out(result)


def _assign_vis(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.models.task_modules import BboxOverlaps2D, MaxIoUAssigner
    from visdet.structures import Instances

    ignore = Instances(bboxes=inputs["ignore"]) if p.get("num_ignore") else None
    extra = {"iou_calculator": BboxOverlaps2D(**p["iou_calculator"])} if "iou_calculator" in p else {}
    result = MaxIoUAssigner(**_assign_kwargs(p), **extra).assign(
        Instances(priors=inputs["priors"]),
        Instances(bboxes=inputs["gt_bboxes"], labels=inputs["gt_labels"]),
        ignore,
    )
    return _assign_out(result)


_RPN = dict(pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3, match_low_quality=True)
_RCNN = dict(pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5, match_low_quality=False)
_ASSIGN_CASES = {
    "rpn": dict(_RPN, num_priors=120, num_gts=6),
    "rcnn": dict(_RCNN, num_priors=120, num_gts=6),
    "neg_range": dict(pos_iou_thr=0.5, neg_iou_thr=[0.1, 0.4], min_pos_iou=0.2, num_priors=100, num_gts=5),
    "ties_assign_all": dict(_RPN, num_priors=150, num_gts=8, integer=True, duplicates=True),
    "ties_first_only": dict(_RPN, gt_max_assign_all=False, num_priors=150, num_gts=8, integer=True, duplicates=True),
    "ignore_wrt_candidates": dict(_RPN, ignore_iof_thr=0.5, num_priors=100, num_gts=4, num_ignore=3),
    "ignore_wrt_ignore_boxes": dict(
        _RCNN,
        ignore_iof_thr=0.3,
        ignore_wrt_candidates=False,
        num_priors=100,
        num_gts=4,
        num_ignore=3,
    ),
    "cpu_fallback": dict(_RPN, gpu_assign_thr=2, num_priors=60, num_gts=5),
    "cpu_fallback_ignore": dict(_RPN, gpu_assign_thr=2, ignore_iof_thr=0.5, num_priors=60, num_gts=5, num_ignore=2),
    "iou_fp16_scaled": dict(_RCNN, num_priors=100, num_gts=5, iou_calculator={"dtype": "fp16", "scale": 8.0}),
    "empty_gt": dict(_RPN, num_priors=30, num_gts=0),
    "empty_priors": dict(_RPN, num_priors=0, num_gts=3, ignore_iof_thr=0.5, num_ignore=2),
}
for _name, _params in _ASSIGN_CASES.items():
    register(
        Case(
            component=f"{TM}/max_iou_assigner",
            name=_name,
            params=_params,
            seed=13,
            make_inputs=_assign_inputs,
            reference=_assign_ref,
            visdet=_assign_vis,
            exact=("gt_inds", "labels", "num_gts"),
            description="MaxIoUAssigner.assign on random priors with nearby gts",
        )
    )


# ------------------------------------------------------------------------- samplers
def _sampler_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    n, g = p["num_priors"], p["num_gts"]
    # each prior: ignored (-1), negative (0) or positive of a random gt, in the case's shares
    kind = torch.rand(n, generator=gen)
    gt_inds = torch.zeros(n, dtype=torch.long)
    if g:
        pos = kind < p["pos_share"]
        gt_inds[pos] = torch.randint(1, g + 1, (int(pos.sum()),), generator=gen)
    gt_inds[kind > 0.9] = -1
    gt_labels = torch.randint(0, 5, (g,), generator=gen)
    labels = torch.full((n,), -1, dtype=torch.long)
    labels[gt_inds > 0] = gt_labels[gt_inds[gt_inds > 0] - 1]
    return {
        "priors": _boxes(n, gen),
        "gt_bboxes": _boxes(g, gen),
        "gt_labels": gt_labels,
        "gt_inds": gt_inds,
        "labels": labels,
        "max_overlaps": torch.rand(n, generator=gen),
    }


def _sampling_out(res: Any) -> Tensors:
    return {
        "pos_inds": res.pos_inds,
        "neg_inds": res.neg_inds,
        "pos_is_gt": res.pos_is_gt,
        "pos_assigned_gt_inds": res.pos_assigned_gt_inds,
        "pos_gt_labels": res.pos_gt_labels,
        "pos_priors": res.pos_priors,
        "neg_priors": res.neg_priors,
        "pos_gt_bboxes": res.pos_gt_bboxes,
        "avg_factor": torch.tensor(res.avg_factor),
    }


_SAMPLER_EXACT = (
    "pos_inds",
    "neg_inds",
    "pos_is_gt",
    "pos_assigned_gt_inds",
    "pos_gt_labels",
    "avg_factor",
)


def _sampler_kwargs(p: Mapping[str, Any]) -> dict[str, Any]:
    return {k: p[k] for k in ("num", "pos_fraction", "neg_pos_ub", "add_gt_as_proposals") if k in p}


def _flat(p: Mapping[str, Any], boxes: torch.Tensor) -> torch.Tensor:
    """With ``flat``: a single box given as ``Tensor[4]`` (both samplers reshape it to ``[1, 4]``)."""
    return boxes.reshape(-1) if p.get("flat") else boxes


def _sampler_ref(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.task_modules.assigners import AssignResult
    from mmdet.models.task_modules.samplers import PseudoSampler, RandomSampler, SamplingResult
    from mmengine.structures import InstanceData

    assign = AssignResult(
        len(inputs["gt_bboxes"]),
        inputs["gt_inds"].clone(),
        inputs["max_overlaps"].clone(),
        inputs["labels"].clone(),
    )
    sampler = RandomSampler(**_sampler_kwargs(p)) if p["kind"] == "random" else PseudoSampler()
    torch.manual_seed(p["rng_seed"])
    res = sampler.sample(
        assign,
        InstanceData(priors=_flat(p, inputs["priors"])),
        InstanceData(bboxes=inputs["gt_bboxes"], labels=inputs["gt_labels"]),
    )
    return {**_sampling_out(res), **_direct(p, SamplingResult, AssignResult, res, inputs)}


def _direct(p: Mapping[str, Any], result_cls: Any, assign_cls: Any, res: Any, inputs: Tensors) -> Tensors:
    """With ``flat``: ``SamplingResult`` built directly from the sample and the gt box given as ``Tensor[4]``."""
    if not p.get("flat"):
        return {}
    assign = assign_cls(1, inputs["gt_inds"].clone(), inputs["max_overlaps"].clone(), inputs["labels"].clone())
    direct = result_cls(res.pos_inds, res.neg_inds, inputs["priors"].reshape(-1, 4), inputs["gt_bboxes"].reshape(-1),
                        assign, torch.zeros(1, dtype=torch.uint8))
    return {f"direct.{k}": v for k, v in _sampling_out(direct).items()}


def _sampler_vis(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.models.task_modules import AssignResult, PseudoSampler, RandomSampler, SamplingResult
    from visdet.structures import Instances

    assign = AssignResult(
        len(inputs["gt_bboxes"]),
        inputs["gt_inds"].clone(),
        inputs["max_overlaps"].clone(),
        inputs["labels"].clone(),
    )
    sampler = RandomSampler(**_sampler_kwargs(p)) if p["kind"] == "random" else PseudoSampler()
    torch.manual_seed(p["rng_seed"])
    res = sampler.sample(
        assign,
        Instances(priors=_flat(p, inputs["priors"])),
        Instances(bboxes=inputs["gt_bboxes"], labels=inputs["gt_labels"]),
    )
    return {**_sampling_out(res), **_direct(p, SamplingResult, AssignResult, res, inputs)}


_SAMPLER_CASES = {
    "random_rcnn": dict(kind="random", num=32, pos_fraction=0.25, num_priors=200, num_gts=5, pos_share=0.3),
    "random_many_pos_no_gt_proposals": dict(
        kind="random",
        num=16,
        pos_fraction=0.5,
        add_gt_as_proposals=False,
        num_priors=120,
        num_gts=4,
        pos_share=0.6,
    ),
    "random_neg_pos_ub": dict(
        kind="random",
        num=64,
        pos_fraction=0.5,
        neg_pos_ub=2,
        num_priors=150,
        num_gts=3,
        pos_share=0.05,
    ),
    "random_empty_gt": dict(kind="random", num=16, pos_fraction=0.25, num_priors=50, num_gts=0, pos_share=0.0),
    # neg_pos_ub 0 (no negative at all) and without positives (the bound counts one positive)
    "random_neg_pos_ub_zero": dict(kind="random", num=32, pos_fraction=0.5, neg_pos_ub=0, num_priors=100, num_gts=3,
                                   pos_share=0.1),
    "random_neg_pos_ub_no_positive": dict(kind="random", num=32, pos_fraction=0.5, neg_pos_ub=3,
                                          add_gt_as_proposals=False, num_priors=100, num_gts=2, pos_share=0.0),
    # one prior given flat as Tensor[4]; the gt box given flat to SamplingResult itself
    "random_flat_single_prior": dict(kind="random", num=4, pos_fraction=0.5, add_gt_as_proposals=False,
                                     num_priors=1, num_gts=1, pos_share=1.0, flat=True),
    "pseudo": dict(kind="pseudo", num_priors=80, num_gts=4, pos_share=0.3),
    "pseudo_empty_gt": dict(kind="pseudo", num_priors=20, num_gts=0, pos_share=0.0),
}
for _name, _params in _SAMPLER_CASES.items():
    _sampler = "random_sampler" if _params["kind"] == "random" else "pseudo_sampler"
    register(
        Case(
            component=f"{TM}/{_sampler}",
            name=_name,
            params={**_params, "rng_seed": 1234},
            seed=14,
            make_inputs=_sampler_inputs,
            reference=_sampler_ref,
            visdet=_sampler_vis,
            exact=_SAMPLER_EXACT,
            description="sampling from a fixed assignment under torch.manual_seed",
        )
    )
