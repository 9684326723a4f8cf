"""Parity cases for visdet.ops: bbox_overlaps, nms, soft_nms, batched_nms, multiclass_nms, roi_align.

References: ``mmdet.structures.bbox.bbox_overlaps``, ``mmcv.ops.{nms, soft_nms,
batched_nms, roi_align}`` and ``mmdet.models.layers.multiclass_nms``. Scores are drawn
continuous (no ties); kept indices and labels are compared exactly. roi_align cases
return the output and the gradient of ``sum(out * w)`` w.r.t. the feature map, with
``w`` drawn from the generator.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch

from parity.cases.base import Case, Tensors, register


# ------------------------------------------------------------------------- inputs
def _boxes(
    shape: tuple[int, ...], gen: torch.Generator, scale: float, max_size: float, lo: float = 0.0
) -> torch.Tensor:
    """xyxy boxes with corners in about ``[lo, scale]`` and sides up to ``max_size``."""
    xy = lo + torch.rand(*shape, 2, generator=gen) * (scale - lo)
    wh = torch.rand(*shape, 2, generator=gen) * max_size
    return torch.cat([xy, xy + wh], dim=-1)


def _degenerate(boxes: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Make about a quarter of the boxes zero-width and a quarter inverted (x2 < x1)."""
    boxes = boxes.clone()
    pick = torch.rand(boxes.shape[:-1], generator=gen)
    zero, inverted = pick < 0.25, (pick >= 0.25) & (pick < 0.5)
    boxes[..., 2] = torch.where(zero, boxes[..., 0], boxes[..., 2])
    boxes[..., 2] = torch.where(inverted, boxes[..., 0] - 3.0, boxes[..., 2])
    return boxes


# ------------------------------------------------------------------ bbox_overlaps
def _overlap_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    batch = tuple(p.get("batch", ()))
    rows, cols = p["rows"], p["rows"] if p["aligned"] else p["cols"]
    first = _boxes((*batch, rows), gen, 50.0, 30.0)
    second = _boxes((*batch, cols), gen, 50.0, 30.0)
    if p.get("degenerate"):
        first, second = _degenerate(first, gen), _degenerate(second, gen)
    if "dtype" in p:  # both sides in this dtype (float16 on the CPU: mmdet's fp16 clamp)
        first, second = first.to(getattr(torch, p["dtype"])), second.to(getattr(torch, p["dtype"]))
    if "dtype1" in p:  # mixed dtypes: float64 ground truth against float32 anchors, say
        first = first.to(getattr(torch, p["dtype1"]))
    return {"bboxes1": first, "bboxes2": second}


def _overlap_run(fn: Any, p: Mapping[str, Any], t: Tensors) -> Tensors:
    out = fn(t["bboxes1"], t["bboxes2"], mode=p["mode"], is_aligned=p["aligned"], eps=p.get("eps", 1e-6))
    return {"out": out}


def _overlap_ref(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from mmdet.structures.bbox import bbox_overlaps

    return _overlap_run(bbox_overlaps, p, t)


def _overlap_vis(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from visdet.ops import bbox_overlaps

    return _overlap_run(bbox_overlaps, p, t)


_OVERLAP_CASES: dict[str, dict[str, Any]] = {}
for _mode in ("iou", "iof", "giou"):
    _OVERLAP_CASES[f"{_mode}_pairwise"] = dict(mode=_mode, aligned=False, rows=13, cols=9)
    _OVERLAP_CASES[f"{_mode}_aligned"] = dict(mode=_mode, aligned=True, rows=17)
    _OVERLAP_CASES[f"{_mode}_batched"] = dict(mode=_mode, aligned=False, rows=6, cols=5, batch=[2, 3])
    _OVERLAP_CASES[f"{_mode}_degenerate"] = dict(mode=_mode, aligned=False, rows=12, cols=12, degenerate=True)
_OVERLAP_CASES.update(
    giou_aligned_batched=dict(mode="giou", aligned=True, rows=7, batch=[3]),
    iou_float16=dict(mode="iou", aligned=False, rows=10, cols=12, dtype="float16", degenerate=True),
    giou_float16_aligned=dict(mode="giou", aligned=True, rows=15, dtype="float16"),
    iou_eps_large=dict(mode="iou", aligned=False, rows=8, cols=8, eps=0.5, degenerate=True),
    empty_rows=dict(mode="iou", aligned=False, rows=0, cols=5),
    empty_cols_batched=dict(mode="giou", aligned=False, rows=4, cols=0, batch=[2]),
    empty_aligned=dict(mode="iof", aligned=True, rows=0),
    iou_float64_vs_float32=dict(mode="iou", aligned=False, rows=9, cols=40, dtype1="float64"),
    giou_float64_vs_float32_aligned=dict(mode="giou", aligned=True, rows=20, dtype1="float64"),
)
for _name, _params in _OVERLAP_CASES.items():
    register(
        Case(
            component="ops/bbox_overlaps",
            name=_name,
            params=_params,
            seed=101,
            make_inputs=_overlap_inputs,
            reference=_overlap_ref,
            visdet=_overlap_vis,
            description="mmdet bbox_overlaps",
            empty_ok="no boxes on one side: the empty result's shape is what is checked" if "empty" in _name else "",
        )
    )


# ------------------------------------------------------------------- nms family
def _nms_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    n = p["n"]
    boxes = _boxes((n,), gen, p.get("scale", 100.0), p.get("max_size", 40.0), p.get("lo", 0.0))
    if "clusters" in p:  # tight clusters far apart, each cluster's scores below the previous one's
        sizes, parts, scores = p["clusters"], [], []
        for i, size in enumerate(sizes):
            corner = torch.rand(size, 2, generator=gen) * 2.0 + 1000.0 * i
            parts.append(torch.cat([corner, corner + 100.0 + torch.rand(size, 2, generator=gen) * 2.0], 1))
            scores.append((len(sizes) - i - torch.rand(size, generator=gen)) / len(sizes))
        return {"boxes": torch.cat(parts), "scores": torch.cat(scores)}
    if "chunks" in p:  # rank-ordered runs of boxes, each run in the cluster it names (clusters 1000 px apart)
        parts, scores, rank = [], [], 0
        for cluster, size in p["chunks"]:
            corner = torch.rand(size, 2, generator=gen) * 2.0 + 1000.0 * cluster
            parts.append(torch.cat([corner, corner + 100.0 + torch.rand(size, 2, generator=gen) * 2.0], 1))
            scores.append(1.0 - (rank + torch.arange(size, dtype=torch.float32)) / n)
            rank += size
        return {"boxes": torch.cat(parts), "scores": torch.cat(scores)}
    if p.get("tie_across_blocks"):  # block 1: A and 255 wider copies it suppresses; block 2: B with IoU(A, B) = 0.5
        fill = torch.tensor([0.0, 0.0, 20.0, 10.0]) + torch.linspace(0.01, 1.0, 255)[:, None] * torch.tensor(
            [0.0, 0.0, 1.0, 0.0]
        )
        tail = torch.tensor([[0.0, 0.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]])
        boxes = torch.cat([torch.tensor([[0.0, 0.0, 20.0, 10.0]]), fill, tail])
        scores = torch.cat([torch.tensor([1.0]), 0.99 - torch.arange(255) * 1e-3, torch.tensor([0.5, 0.4])])
        return {"boxes": boxes, "scores": scores}
    if p.get("row"):  # boxes side by side, none overlapping along x: the sparse pass finds no pair
        boxes[:, 0] = torch.arange(n, dtype=boxes.dtype) * 10.0
        boxes[:, 2] = boxes[:, 0] + 5.0
        for index, *box in p.get("set_boxes", []):  # a few hand-placed overlaps in the row
            boxes[index] = torch.tensor(box, dtype=boxes.dtype)
    if p.get("degenerate"):
        boxes = _degenerate(boxes, gen)
    out = {"boxes": boxes, "scores": torch.rand(n, generator=gen)}
    if "quantize" in p:  # scores on a grid of 1/q: many exact ties
        out["scores"] = torch.ceil(out["scores"] * p["quantize"]) / p["quantize"]
    for index, score in p.get("set_scores", []):
        out["scores"][index] = score
    if "classes" in p:
        out["idxs"] = torch.randint(0, p["classes"], (n,), generator=gen)
    return out


def _nms_ref(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from mmcv.ops import nms

    dets, keep = nms(t["boxes"], t["scores"], p["iou_threshold"], **p.get("kwargs", {}))
    return {"dets": dets, "keep": keep}


def _nms_vis(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from visdet.ops import nms

    dets, keep = nms(t["boxes"], t["scores"], p["iou_threshold"], **p.get("kwargs", {}))
    return {"dets": dets, "keep": keep}


_NMS_CASES = {
    "thr05": dict(n=60, iou_threshold=0.5),
    "thr03_offset1": dict(n=60, iou_threshold=0.3, kwargs=dict(offset=1)),
    "thr07_score_threshold": dict(n=80, iou_threshold=0.7, kwargs=dict(score_threshold=0.4)),
    "thr06_max_num": dict(n=80, iou_threshold=0.6, kwargs=dict(max_num=7)),
    "thr0": dict(n=40, iou_threshold=0.0),
    "degenerate_offset0": dict(n=50, iou_threshold=0.4, degenerate=True),
    "degenerate_offset1": dict(n=50, iou_threshold=0.4, degenerate=True, kwargs=dict(offset=1)),
    "many_sparse": dict(n=1500, iou_threshold=0.5, scale=400.0, max_size=25.0),
    "many_dense": dict(n=1200, iou_threshold=0.5, scale=100.0, max_size=80.0),
    "many_score_thr_max_num": dict(n=900, iou_threshold=0.45, kwargs=dict(score_threshold=0.3, max_num=100)),
    # the sparse pass (more than 256 boxes, few overlapping pairs): offset, max_num, no pair at all
    "many_sparse_offset1": dict(n=1500, iou_threshold=0.5, scale=400.0, max_size=25.0, kwargs=dict(offset=1)),
    "many_sparse_max_num": dict(n=1500, iou_threshold=0.3, scale=400.0, max_size=25.0, kwargs=dict(max_num=40)),
    "many_disjoint": dict(n=400, iou_threshold=0.5, row=True),
    "many_sparse_max_num_large": dict(n=1500, iou_threshold=0.5, scale=400.0, max_size=25.0,
                                      kwargs=dict(max_num=1200)),
    # dense pass: block 2 is wholly suppressed by block 1 (cluster A), block 3 starts cluster B
    "two_clusters": dict(n=1024, iou_threshold=0.5, clusters=[512, 512]),
    # dense pass: block 1 (cluster A) suppresses everything after block 2 (A again), block 2 keeps one box of B,
    # so nothing is left to suppress after block 2 while a block remains
    "chunks_rest_suppressed": dict(n=600, iou_threshold=0.5, chunks=[[0, 256], [1, 44], [0, 300]]),
    # the dense blocked pass over several blocks, where whole blocks end up suppressed
    "many_clustered": dict(n=700, iou_threshold=0.3, scale=20.0, max_size=300.0),
    # dense pass over two blocks: the block-2 box B overlaps the block-1 keeper A with IoU exactly the threshold
    # (kept: mmcv suppresses only above it)
    "cross_block_iou_equals_threshold": dict(n=258, iou_threshold=0.5, tie_across_blocks=True),
    # the sparse pass where the first box (in x order) with an x-overlap has exactly one: 0-1, then 5-6, 5-7, 6-7
    "sparse_first_box_one_pair": dict(n=300, iou_threshold=0.5, row=True,
                                      set_boxes=[[0, 0, 0, 5, 5], [1, 1, 0, 6, 5], [5, 50, 0, 55, 5],
                                                 [6, 51, 0, 56, 5], [7, 52, 0, 57, 5]]),
    "empty": dict(n=0, iou_threshold=0.5),
    "all_below_score_threshold": dict(n=10, iou_threshold=0.5, kwargs=dict(score_threshold=1.5)),
    # 129-512 boxes: the small path's pairs from the band of x-sorted neighbours
    "mid_band": dict(n=250, iou_threshold=0.5, scale=300.0, max_size=60.0),
    "mid_band_offset1_max_num": dict(n=200, iou_threshold=0.3, scale=300.0, max_size=60.0,
                                     kwargs=dict(offset=1, max_num=50)),
}
for _name, _params in _NMS_CASES.items():
    register(
        Case(
            component="ops/nms",
            name=_name,
            params=_params,
            seed=202,
            make_inputs=_nms_inputs,
            reference=_nms_ref,
            visdet=_nms_vis,
            exact=("keep",),
            description="mmcv nms",
            empty_ok={"empty": "no boxes in", "all_below_score_threshold": "every score under score_threshold"}.get(
                _name, ""
            ),
        )
    )


def _soft_ref(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from mmcv.ops import soft_nms

    dets, keep = soft_nms(t["boxes"], t["scores"], **p["kwargs"])
    return {"dets": dets, "keep": keep}


def _soft_vis(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from visdet.ops import soft_nms

    dets, keep = soft_nms(t["boxes"], t["scores"], **p["kwargs"])
    return {"dets": dets, "keep": keep}


_SOFT_CASES = {
    "linear": dict(n=40, kwargs=dict(iou_threshold=0.3, sigma=0.5, min_score=1e-3, method="linear")),
    "gaussian": dict(n=40, kwargs=dict(iou_threshold=0.3, sigma=0.5, min_score=1e-3, method="gaussian")),
    "naive": dict(n=40, kwargs=dict(iou_threshold=0.4, method="naive")),
    "linear_high_min_score": dict(n=60, kwargs=dict(iou_threshold=0.2, min_score=0.3, method="linear")),
    "gaussian_sigma_offset1": dict(n=50, kwargs=dict(sigma=0.2, min_score=0.05, method="gaussian", offset=1)),
    # disjoint boxes (weight 1): a score exactly min_score stays (mmcv drops only scores below it)
    "score_equals_min_score": dict(n=6, row=True, set_scores=[[3, 0.25]],
                                   kwargs=dict(iou_threshold=0.3, min_score=0.25, method="linear")),
    "empty": dict(n=0, kwargs=dict(method="linear")),
    # more than 128 boxes (past the small path) where picking by final score declines, so
    # the exact loops run: tied scores (sparse pairs), every box in one cluster (dense
    # pairs), naive decay with threshold 0 (weights below 1 for disjoint pairs too), and a
    # row of disjoint boxes (no pair at all: by score, nothing decays)
    "linear_ties_many": dict(n=300, quantize=20, kwargs=dict(iou_threshold=0.3, min_score=1e-3, method="linear")),
    "gaussian_ties_many": dict(n=300, quantize=20, kwargs=dict(sigma=0.5, min_score=1e-3, method="gaussian")),
    "linear_one_cluster_many": dict(n=200, clusters=[200], kwargs=dict(iou_threshold=0.3, min_score=0.05,
                                                                       method="linear")),
    "naive_zero_threshold_many": dict(n=150, kwargs=dict(iou_threshold=0.0, method="naive")),
    "linear_row_many": dict(n=150, row=True, kwargs=dict(iou_threshold=0.3, min_score=1e-3, method="linear")),
    # 129-512 boxes picked by final score, the pairs from the band of x-sorted neighbours
    "linear_mid_band": dict(n=250, scale=300.0, max_size=60.0,
                            kwargs=dict(iou_threshold=0.3, min_score=1e-3, method="linear")),
    "gaussian_mid_band": dict(n=200, scale=300.0, max_size=60.0,
                              kwargs=dict(sigma=0.5, min_score=1e-3, method="gaussian")),
    # more than 512 boxes (past the small path): picked by final score on the sparse pairs,
    # some pairs, and none at all (a row of disjoint boxes)
    "linear_sparse_very_many": dict(n=600, scale=2000.0, max_size=60.0,
                                    kwargs=dict(iou_threshold=0.3, min_score=1e-3, method="linear")),
    "linear_row_very_many": dict(n=600, row=True, kwargs=dict(iou_threshold=0.3, min_score=1e-3, method="linear")),
}
for _name, _params in _SOFT_CASES.items():
    register(
        Case(
            component="ops/soft_nms",
            name=_name,
            params=_params,
            seed=303,
            make_inputs=_nms_inputs,
            reference=_soft_ref,
            visdet=_soft_vis,
            exact=("keep",),
            description="mmcv soft_nms",
            empty_ok="no boxes in" if _name == "empty" else "",
        )
    )


def _batched_ref(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from mmcv.ops import batched_nms

    cfg = copy.deepcopy(p["nms_cfg"])
    dets, keep = batched_nms(t["boxes"], t["scores"], t["idxs"], cfg, p.get("class_agnostic", False))
    return {"dets": dets, "keep": keep}


def _batched_vis(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from visdet.ops import batched_nms

    cfg = copy.deepcopy(p["nms_cfg"])
    dets, keep = batched_nms(t["boxes"], t["scores"], t["idxs"], cfg, p.get("class_agnostic", False))
    return {"dets": dets, "keep": keep}


_NMS_CFG = dict(type="nms", iou_threshold=0.5)
_BATCHED_CASES = {
    "class_offsets": dict(n=120, classes=5, nms_cfg=_NMS_CFG),
    "class_agnostic_arg": dict(n=120, classes=5, nms_cfg=_NMS_CFG, class_agnostic=True),
    "class_agnostic_cfg": dict(n=120, classes=5, nms_cfg={**_NMS_CFG, "class_agnostic": True}),
    "negative_coords_offsets": dict(n=120, classes=4, lo=-60.0, scale=40.0, nms_cfg=_NMS_CFG),
    "max_num_cfg": dict(n=150, classes=6, nms_cfg={**_NMS_CFG, "max_num": 20, "score_threshold": 0.2}),
    # few boxes (the CPU's dense pass) and max_num: the pass stops once max_num boxes are kept
    "small_max_num": dict(n=40, classes=3, nms_cfg={**_NMS_CFG, "max_num": 5}),
    "split_path": dict(n=150, classes=6, nms_cfg={**_NMS_CFG, "split_thr": 50}),
    "split_path_max_num": dict(n=150, classes=6, nms_cfg={**_NMS_CFG, "split_thr": 150, "max_num": 25}),
    "split_path_offset1": dict(n=150, classes=3, nms_cfg={**_NMS_CFG, "split_thr": 10, "offset": 1}),
    "soft_nms": dict(n=80, classes=4, nms_cfg=dict(type="soft_nms", iou_threshold=0.3, min_score=0.05)),
    "soft_nms_split": dict(n=80, classes=4, nms_cfg=dict(type="soft_nms", iou_threshold=0.3, split_thr=20, max_num=30)),
    # the split path with one group: every box goes through the same per-group soft-NMS
    "soft_nms_split_one_class": dict(n=40, classes=1, nms_cfg=dict(type="soft_nms", iou_threshold=0.4, split_thr=10)),
    "many_classes": dict(n=1000, classes=80, scale=300.0, max_size=60.0, nms_cfg={**_NMS_CFG, "iou_threshold": 0.6}),
    "no_cfg": dict(n=40, classes=3, nms_cfg=None),
    "iou_thr_alias": dict(n=80, classes=3, nms_cfg={"type": "nms", "iou_thr": 0.4}),
    # the split path's grouped pass on the sparse kernel (a box suppresses only its own class)
    "split_many_dense": dict(n=600, classes=3, scale=20.0, max_size=200.0, nms_cfg={**_NMS_CFG, "split_thr": 100}),
    "split_many_sparse": dict(n=1500, classes=4, scale=400.0, max_size=25.0, nms_cfg={**_NMS_CFG, "split_thr": 100}),
    # 129-512 boxes: the class-shifted boxes' pairs from the band of x-sorted neighbours
    "mid_band_classes": dict(n=300, classes=5, scale=300.0, max_size=60.0, nms_cfg=_NMS_CFG),
}
for _name, _params in _BATCHED_CASES.items():
    register(
        Case(
            component="ops/batched_nms",
            name=_name,
            params=_params,
            seed=404,
            make_inputs=_nms_inputs,
            reference=_batched_ref,
            visdet=_batched_vis,
            exact=("keep",),
            description="mmcv batched_nms",
        )
    )


# ----------------------------------------------------------------- multiclass_nms
def _mc_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    n, k = p["n"], p["classes"]
    per_class = p.get("per_class", False)
    boxes = _boxes((n, k if per_class else 1), gen, 100.0, 40.0).reshape(n, -1)
    scores = torch.softmax(torch.randn(n, k + 1, generator=gen) * 2.0, dim=1)
    out = {"multi_bboxes": boxes, "multi_scores": scores}
    if p.get("score_factors"):
        out["score_factors"] = torch.rand(n, generator=gen)
    return out


def _mc_run(fn: Any, p: Mapping[str, Any], t: Tensors) -> Tensors:
    result = fn(
        t["multi_bboxes"],
        t["multi_scores"],
        p["score_thr"],
        copy.deepcopy(p["nms_cfg"]),
        max_num=p.get("max_num", -1),
        score_factors=t.get("score_factors"),
        return_inds=p.get("return_inds", False),
    )
    out = {"dets": result[0], "labels": result[1]}
    if p.get("return_inds", False):
        out["inds"] = result[2]
    return out


def _mc_ref(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from mmdet.models.layers import multiclass_nms

    return _mc_run(multiclass_nms, p, t)


def _mc_vis(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from visdet.ops import multiclass_nms

    return _mc_run(multiclass_nms, p, t)


_MC_CASES = {
    "shared_boxes": dict(n=60, classes=4, score_thr=0.05, nms_cfg=_NMS_CFG),
    "per_class_boxes": dict(n=60, classes=4, per_class=True, score_thr=0.05, nms_cfg=_NMS_CFG, return_inds=True),
    "max_num": dict(n=80, classes=5, per_class=True, score_thr=0.02, nms_cfg=_NMS_CFG, max_num=10),
    "score_factors": dict(n=70, classes=3, score_thr=0.1, nms_cfg=_NMS_CFG, score_factors=True, return_inds=True),
    "high_score_thr": dict(n=50, classes=3, score_thr=0.5, nms_cfg={**_NMS_CFG, "iou_threshold": 0.3}),
    "nothing_passes": dict(n=20, classes=3, score_thr=1.0, nms_cfg=_NMS_CFG, return_inds=True),
    "split_thr_soft": dict(
        n=40, classes=3, score_thr=0.05, nms_cfg=dict(type="soft_nms", iou_threshold=0.3, split_thr=30)
    ),
}
for _name, _params in _MC_CASES.items():
    register(
        Case(
            component="ops/multiclass_nms",
            name=_name,
            params=_params,
            seed=505,
            make_inputs=_mc_inputs,
            reference=_mc_ref,
            visdet=_mc_vis,
            exact=("labels", "inds"),
            description="mmdet multiclass_nms",
            empty_ok="score_thr 1.0: no score passes" if _name == "nothing_passes" else "",
        )
    )


# --------------------------------------------------------------------- roi_align
def _roi_inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    n, c, h, w = p["shape"]
    k = p["rois"]
    ph, pw = p["output_size"]
    scale = p["spatial_scale"]
    img_h, img_w = h / scale, w / scale
    spread = p.get("spread", 0.3)  # RoIs reach this fraction of the image beyond its edges
    x1 = (torch.rand(k, generator=gen) * (1 + 2 * spread) - spread) * img_w
    y1 = (torch.rand(k, generator=gen) * (1 + 2 * spread) - spread) * img_h
    size = torch.rand(k, 2, generator=gen) * torch.tensor([img_w, img_h]) * p.get("max_rel_size", 0.6)
    if p.get("zero_size"):
        size[: k // 4] = 0.0
    batch = torch.randint(0, n, (k, 1), generator=gen).float()
    rois = torch.cat([batch, x1[:, None], y1[:, None], x1[:, None] + size[:, :1], y1[:, None] + size[:, 1:]], 1)
    feats = torch.randn(n, c, h, w, generator=gen)
    if p.get("relu"):  # post-ReLU features: zero regions, so max pooling meets exact ties
        feats = feats.clamp(min=0)
    return {
        "input": feats,
        "rois": rois,
        "w": torch.randn(k, c, ph, pw, generator=gen),
    }


def _roi_run(fn: Any, p: Mapping[str, Any], t: Tensors) -> Tensors:
    feats = t["input"].clone().requires_grad_(True)
    size = p["output_size"][0] if p.get("int_size") else tuple(p["output_size"])
    out = fn(feats, t["rois"], size, p["spatial_scale"], p["sampling_ratio"], p["pool_mode"], p["aligned"])
    (out * t["w"]).sum().backward()
    return {"out": out.detach(), "grad.input": feats.grad}


def _roi_ref(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from mmcv.ops import roi_align

    return _roi_run(roi_align, p, t)


def _roi_vis(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from visdet.ops import roi_align

    return _roi_run(roi_align, p, t)


_ROI_BASE = dict(shape=[2, 3, 12, 16], rois=24, output_size=[3, 3], spatial_scale=0.5)
_ROI_CASES: dict[str, dict[str, Any]] = {}
for _mode in ("avg", "max"):
    for _aligned in (True, False):
        for _ratio in (0, 2):
            _name = f"{_mode}_{'aligned' if _aligned else 'legacy'}_sr{_ratio}"
            _ROI_CASES[_name] = dict(_ROI_BASE, pool_mode=_mode, aligned=_aligned, sampling_ratio=_ratio)
_ROI_CASES.update(
    avg_scale025_7x7=dict(
        _ROI_BASE,
        shape=[3, 4, 20, 24],
        rois=30,
        output_size=[7, 7],
        spatial_scale=0.25,
        pool_mode="avg",
        aligned=True,
        sampling_ratio=0,
    ),
    max_scale025_rect=dict(
        _ROI_BASE,
        shape=[2, 2, 10, 14],
        output_size=[2, 4],
        spatial_scale=0.25,
        pool_mode="max",
        aligned=True,
        sampling_ratio=0,
    ),
    avg_far_outside=dict(_ROI_BASE, spread=1.5, pool_mode="avg", aligned=True, sampling_ratio=0),
    avg_int_output_size=dict(_ROI_BASE, int_size=True, pool_mode="avg", aligned=True, sampling_ratio=0),
    max_far_outside=dict(_ROI_BASE, spread=1.5, pool_mode="max", aligned=False, sampling_ratio=2),
    avg_zero_size=dict(_ROI_BASE, zero_size=True, pool_mode="avg", aligned=True, sampling_ratio=0),
    max_zero_size_legacy=dict(_ROI_BASE, zero_size=True, pool_mode="max", aligned=False, sampling_ratio=0),
    avg_big_rois_sr2=dict(
        _ROI_BASE,
        shape=[1, 2, 40, 40],
        rois=6,
        spatial_scale=1.0,
        max_rel_size=1.0,
        pool_mode="avg",
        aligned=True,
        sampling_ratio=2,
    ),
    avg_no_rois=dict(_ROI_BASE, rois=0, pool_mode="avg", aligned=True, sampling_ratio=0),
    # ties: the first sample of a bin with the maximum takes the gradient (mmcv compares with >)
    max_relu_ties_sr2=dict(_ROI_BASE, relu=True, pool_mode="max", aligned=True, sampling_ratio=2),
    max_relu_ties_adaptive=dict(_ROI_BASE, relu=True, pool_mode="max", aligned=False, sampling_ratio=0),
    avg_aligned_sr1=dict(_ROI_BASE, pool_mode="avg", aligned=True, sampling_ratio=1),
)
for _name, _params in _ROI_CASES.items():
    register(
        Case(
            component="ops/roi_align",
            name=_name,
            params=_params,
            seed=606,
            make_inputs=_roi_inputs,
            reference=_roi_ref,
            visdet=_roi_vis,
            description="mmcv roi_align: output and grad of sum(out * w)",
        )
    )
