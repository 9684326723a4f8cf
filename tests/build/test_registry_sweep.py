"""The registry sweep: every registered type, of every kind, through the same checks.

For each type: its ``example`` (the smallest config) validates and builds; the built
object is exercised as its kind is used (forward and, where it has parameters, backward;
a loss is differentiated, a sampler sampled, a hook or scheduler wired into a run); the
schema and the built object pickle; the validated config round-trips through YAML and
validates against the JSON Schema that ``visdet config schema`` writes, where the type is
listed. A kind without an exercise here, or a registered type the sweep did not reach,
fails: the sweep is the first test a new component must pass.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from visdet.build import KINDS, REGISTRIES, build_component, validate_component, validate_model
from visdet.cli import main
from visdet.engine.components import config_json_schema
from visdet.structures import BitmapMasks, ImageMeta, Instances
from visdet.testing.coco_synth import write_coco_synth

jsonschema = pytest.importorskip("jsonschema")

ALL_TYPES = sorted((kind, name) for kind, reg in REGISTRIES.items() for name in reg.names())


def _boxes(n: int, size: float = 64.0, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size * 0.6
    wh = torch.rand(n, 2, generator=g) * size * 0.4 + 4
    return torch.cat([xy, xy + wh], dim=1)


def _gt(n: int = 3, classes: int = 3) -> Instances:
    """Ground truth with boxes, labels and the boxes' masks on the 64 x 64 canvas."""
    boxes = _boxes(n, seed=1)
    masks = np.zeros((n, 64, 64), dtype=np.uint8)
    for mask, (x1, y1, x2, y2) in zip(masks, boxes.round().long().tolist()):
        mask[y1:y2, x1:x2] = 1
    return Instances(bboxes=boxes, labels=torch.arange(n) % classes, masks=BitmapMasks(masks, 64, 64))


def _backward(outputs: Any, module: torch.nn.Module) -> None:
    """Sum every float tensor of ``outputs``, backward, and check every trainable parameter got a gradient."""
    tensors = [t for t in _flatten(outputs) if t.is_floating_point() and t.requires_grad]
    assert tensors, "no differentiable output"
    sum(t.sum() for t in tensors).backward()
    trainable = [name for name, p in module.named_parameters() if p.requires_grad]
    missing = [name for name, p in module.named_parameters() if p.requires_grad and p.grad is None]
    assert trainable and not missing, f"parameters without gradient: {missing}"


def _flatten(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _flatten(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _flatten(v)]
    return []


# ------------------------------------------------------------------- per kind
def exercise_backbone(built: torch.nn.Module, config: Any, ctx: dict) -> None:
    outs = built(torch.randn(1, getattr(config, "in_channels", 3), 64, 64))  # CSPNeXt: always 3
    assert len(outs) == len(config.out_indices)
    _backward(outs, built)


def exercise_neck(built: torch.nn.Module, config: Any, ctx: dict) -> None:
    feats = [torch.randn(1, c, 32 >> i, 32 >> i, requires_grad=True) for i, c in enumerate(config.in_channels)]
    outs = built(feats)
    num_outs = getattr(config, "num_outs", len(config.in_channels))  # CSPNeXtPAFPN: one output per input
    assert len(outs) == num_outs and all(o.shape[1] == config.out_channels for o in outs)
    _backward(outs, built)


def exercise_positional_encoding(built: torch.nn.Module, config: Any, ctx: dict) -> None:
    mask = torch.zeros(2, 6, 7, dtype=torch.bool)
    mask[1, 4:, :] = True  # the second image is padded at the bottom
    pos = built(mask)
    assert pos.shape == (2, 2 * config.num_feats, 6, 7) and bool(torch.isfinite(pos).all())
    if any(True for _ in built.parameters()):
        _backward(pos, built)


def _memory_geometry(levels: int) -> dict:
    shapes = torch.tensor([[6 >> i, 5 >> i] for i in range(levels)])
    starts = torch.cat([shapes.new_zeros(1), (shapes[:, 0] * shapes[:, 1]).cumsum(0)[:-1]])
    return {"spatial_shapes": shapes, "level_start_index": starts, "valid_ratios": torch.ones(2, levels, 2)}


def exercise_transformer_layer(built: torch.nn.Module, config: Any, ctx: dict) -> None:
    msda = built.cross_attn if hasattr(built, "cross_attn") else built.self_attn
    geometry = _memory_geometry(msda.num_levels)
    keys = int(geometry["spatial_shapes"].prod(1).sum())
    memory = torch.randn(2, keys, built.embed_dims, requires_grad=True)
    padding = torch.zeros(2, keys, dtype=torch.bool)
    padding[1, -3:] = True
    if hasattr(built, "cross_attn"):
        query = torch.randn(2, 4, built.embed_dims, requires_grad=True)
        out = built(query, value=memory, query_pos=torch.randn_like(query), key_padding_mask=padding,
                    reference_points=torch.rand(2, 4, msda.num_levels, 4), **geometry)  # fmt: skip
        assert out.shape == query.shape
    else:
        out = built(memory, torch.randn_like(memory), padding,
                    reference_points=torch.rand(2, keys, msda.num_levels, 2), **geometry)  # fmt: skip
        assert out.shape == memory.shape
    _backward(out, built)


def exercise_transformer(built: torch.nn.Module, config: Any, ctx: dict) -> None:
    first = built.layers[0]
    msda = first.cross_attn if hasattr(first, "cross_attn") else first.self_attn
    geometry = _memory_geometry(msda.num_levels)
    keys = int(geometry["spatial_shapes"].prod(1).sum())
    memory = torch.randn(2, keys, built.embed_dims, requires_grad=True)
    padding = torch.zeros(2, keys, dtype=torch.bool)
    if hasattr(first, "cross_attn"):
        query = torch.randn(2, 4, built.embed_dims, requires_grad=True)
        reg = torch.nn.ModuleList(torch.nn.Linear(built.embed_dims, 4) for _ in built.layers)
        if type(built).__name__ == "DinoTransformerDecoder":  # positions come from the boxes; references + 1
            outs, refs = built(query, memory, padding, None, torch.rand(2, 4, 4), reg_branches=reg, **geometry)
            refs = refs[1:]
        else:
            outs, refs = built(query, torch.randn_like(query), memory, padding, torch.rand(2, 4, 4),
                               reg_branches=reg, **geometry)  # fmt: skip
        assert outs.shape == (len(built.layers), 2, 4, built.embed_dims) and refs.shape == (len(built.layers), 2, 4, 4)
        _backward(outs, built)
    else:
        out = built(memory, torch.randn_like(memory), padding, **geometry)
        assert out.shape == memory.shape
        _backward(out, built)


def exercise_query_generator(built: torch.nn.Module, config: Any, ctx: dict) -> None:
    from visdet.structures.instances import Instances

    gt = [Instances(bboxes=torch.tensor([[2.0, 3.0, 9.0, 11.0], [0.0, 1.0, 4.0, 5.0]]), labels=torch.tensor([0, 1])),
          Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))]  # fmt: skip
    label_query, bbox_query, mask, meta = built(gt, [{"img_shape": (16, 20)}, {"img_shape": (12, 14)}])
    queries = meta["num_denoising_queries"]
    assert label_query.shape == (2, queries, config.embed_dims) and bbox_query.shape == (2, queries, 4)
    assert mask.shape == (queries + config.num_matching_queries,) * 2 and mask.dtype == torch.bool
    assert not label_query[1].any()  # the image without ground truth holds padding only
    _backward(label_query, built)


def exercise_attention(built: torch.nn.Module, config: Any, ctx: dict) -> None:
    if type(built).__name__ == "MultiheadAttention":
        query = torch.randn(2, 3, config.embed_dims, requires_grad=True)
        key = torch.randn(2, 5, config.embed_dims)
        if not config.batch_first:
            query, key = query.transpose(0, 1), key.transpose(0, 1)
        out = built(query, key=key, key_pos=torch.randn_like(key))
        assert out.shape == query.shape
        _backward(out, built)
        return
    shapes = torch.tensor([[6 >> i, 5 >> i] for i in range(config.num_levels)])
    keys = int((shapes[:, 0] * shapes[:, 1]).sum())
    starts = torch.cat([shapes.new_zeros(1), (shapes[:, 0] * shapes[:, 1]).cumsum(0)[:-1]])
    query = torch.randn(2, 3, config.embed_dims, requires_grad=True)
    value = torch.randn(2, keys, config.embed_dims)
    if not config.batch_first:
        query, value = query.transpose(0, 1), value.transpose(0, 1)
    out = built(query, value=value, reference_points=torch.rand(2, 3, config.num_levels, 2),
                spatial_shapes=shapes, level_start_index=starts)  # fmt: skip
    assert out.shape == query.shape
    _backward(out, built)


def exercise_prior_generator(built: Any, config: Any, ctx: dict) -> None:
    sizes = [(8 >> i, 8 >> i) for i in range(built.num_levels)]
    priors = built.grid_priors(sizes)
    flags = built.valid_flags(sizes, (32, 32))
    assert len(priors) == len(flags) == built.num_levels
    width = 2 if type(built).__name__ == "MlvlPointGenerator" else 4  # points (x, y) or anchors (xyxy)
    for i, (p, s) in enumerate(zip(priors, sizes)):
        assert p.shape == (s[0] * s[1] * built.num_base_priors[i], width)


def exercise_bbox_coder(built: Any, config: Any, ctx: dict) -> None:
    boxes, targets = _boxes(6), _boxes(6, seed=3)
    if type(built).__name__ == "DistancePointBBoxCoder":  # its priors are points (the targets' centres here)
        boxes = (targets[:, :2] + targets[:, 2:]) / 2
    assert torch.allclose(built.decode(boxes, built.encode(boxes, targets)), targets, atol=1e-3)


def exercise_iou_calculator(built: Any, config: Any, ctx: dict) -> None:
    overlaps = built(_boxes(4), _boxes(5, seed=2))
    assert overlaps.shape == (4, 5) and bool(((overlaps >= 0) & (overlaps <= 1)).all())


def exercise_assigner(built: Any, config: Any, ctx: dict) -> None:
    if type(built).__name__ == "DynamicSoftLabelAssigner":  # point priors with strides, boxes and logits
        points = (_boxes(20)[:, :2] + _boxes(20)[:, 2:]) / 2
        pred = Instances(priors=torch.cat([points, torch.full((20, 2), 8.0)], 1), bboxes=_boxes(20),
                         scores=torch.randn(20, 4))  # fmt: skip
        result = built.assign(pred, _gt())
        assert result.gt_inds.shape == (20,) and result.num_gts == 3
        empty = built.assign(pred, Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0).long()))
        assert bool((empty.gt_inds == 0).all())
        return
    if type(built).__name__ == "HungarianAssigner":  # queries: logits and absolute xyxy boxes
        pred = Instances(bboxes=_boxes(20), scores=torch.randn(20, 4))
        result = built.assign(pred, _gt(), img_meta={"img_shape": (64, 64)})
        assert result.num_gts == 3 and int((result.gt_inds > 0).sum()) == 3
        empty = built.assign(pred, Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0).long()))
        assert bool((empty.gt_inds == 0).all())
        return
    result = built.assign(Instances(priors=_boxes(20)), _gt())
    assert result.gt_inds.shape == (20,) and result.num_gts == 3
    empty = built.assign(Instances(priors=_boxes(5)), Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0).long()))
    assert bool((empty.gt_inds == 0).all())


def exercise_match_cost(built: Any, config: Any, ctx: dict) -> None:
    pred = Instances(bboxes=_boxes(6), scores=torch.randn(6, 4))
    cost = built(pred, _gt(), img_meta={"img_shape": (64, 64)})
    assert cost.shape == (6, 3) and bool(torch.isfinite(cost).all())


def exercise_sampler(built: Any, config: Any, ctx: dict) -> None:
    assigner = build_component("assigner", {"type": "MaxIoUAssigner", "pos_iou_thr": 0.5, "neg_iou_thr": 0.4})
    priors, gt = Instances(priors=_boxes(30)), _gt()
    result = built.sample(assigner.assign(priors, gt), priors, gt)
    assert len(result.pos_inds) + len(result.neg_inds) > 0


def exercise_loss(built: torch.nn.Module, config: Any, ctx: dict) -> None:
    if type(built).__name__ == "QualityFocalLoss":  # (labels, IoU scores); label 4 is background
        pred = torch.randn(8, 4, requires_grad=True)
        loss = built(pred, (torch.arange(8) % 5, torch.rand(8)))
    elif type(built).__name__ == "DiceLoss":  # mask logits [N, H, W] against 0/1 masks, one weight per mask
        pred = torch.randn(8, 5, 5, requires_grad=True)
        loss = built(pred, torch.rand(8, 5, 5) > 0.5, torch.rand(8), avg_factor=8)
    elif getattr(built, "use_sigmoid", False) or type(built).__name__ == "CrossEntropyLoss":
        pred = torch.randn(8, 4, requires_grad=True)
        loss = built(pred, torch.arange(8) % 4)
    elif type(built).__name__.endswith("IoULoss"):  # box losses: valid overlapping xyxy boxes
        pred = _boxes(8).requires_grad_(True)
        loss = built(pred, _boxes(8) + 2.0, torch.ones(8), avg_factor=8)
    else:
        pred = torch.randn(8, 4, requires_grad=True)
        loss = built(pred, torch.randn(8, 4), torch.ones(8, 4), avg_factor=8)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert pred.grad is not None and bool(pred.grad.abs().sum() > 0)


def _metas(n: int = 2) -> list[ImageMeta]:
    return [
        ImageMeta(img_shape=(64, 64), pad_shape=(64, 64), scale_factor=(1.0, 1.0), ori_shape=(64, 64)) for _ in range(n)
    ]


def _exercise_detr_head(built: torch.nn.Module, config: Any) -> None:
    """A DETR head on decoder outputs: D layers of hidden states, D + 1 reference points."""
    layers = config.num_pred_layer
    hidden = torch.randn(layers, 2, 6, config.embed_dims)
    references = [torch.rand(2, 6, 2) for _ in range(layers + 1)]
    cls_scores, bbox_preds = built(hidden, references)
    assert cls_scores.shape == (layers, 2, 6, config.num_classes) and bbox_preds.shape == (layers, 2, 6, 4)
    hidden.requires_grad_(True)
    losses = built.loss(hidden, references, None, None, [_gt(), _gt(0)], _metas())
    assert f"d{layers - 2}.loss_iou" in losses and all(torch.isfinite(v).all() for v in losses.values())
    _backward(losses, built)
    with torch.no_grad():
        results = built.predict(hidden, references, _metas(), rescale=True)
    assert len(results) == 2 and all(r.bboxes.shape == (config.test_cfg.max_per_img, 4) for r in results)


def exercise_dense_head(built: torch.nn.Module, config: Any, ctx: dict) -> None:
    if not hasattr(built, "prior_generator"):
        _exercise_detr_head(built, config)
        return
    levels = built.prior_generator.num_levels
    feats = [torch.randn(2, config.in_channels, 16 >> i, 16 >> i) for i in range(levels)]
    losses = built.loss(feats, [_gt(), _gt(0)], _metas())
    assert losses and all(torch.isfinite(t) for t in _flatten(losses))
    _backward(losses, built)
    with torch.no_grad():
        results = built.predict(feats, _metas(), rescale=True)
    assert len(results) == 2 and all(r.bboxes.shape[1] == 4 for r in results)


def exercise_roi_layer(built: Any, config: Any, ctx: dict) -> None:
    (layer,) = built
    feats = torch.randn(1, 2, 8, 8, requires_grad=True)
    out = layer(feats, torch.tensor([[0.0, 1.0, 1.0, 5.0, 6.0]]))
    assert out.shape[:2] == (1, 2)
    out.sum().backward()
    assert feats.grad is not None


def exercise_roi_extractor(built: torch.nn.Module, config: Any, ctx: dict) -> None:
    feats = [torch.randn(1, config.out_channels, 64 // s, 64 // s, requires_grad=True) for s in config.featmap_strides]
    rois = torch.cat([torch.zeros(5, 1), _boxes(5)], dim=1)
    out = built(feats, rois)
    assert out.shape[:2] == (5, config.out_channels)
    out.sum().backward()
    assert any(f.grad is not None and f.grad.abs().sum() > 0 for f in feats)


def exercise_bbox_head(built: torch.nn.Module, config: Any, ctx: dict) -> None:
    x = torch.randn(6, config.in_channels, config.roi_feat_size, config.roi_feat_size)
    cls_score, bbox_pred = built(x)
    assert cls_score.shape == (6, config.num_classes + 1)
    _backward((cls_score, bbox_pred), built)


def exercise_mask_head(built: torch.nn.Module, config: Any, ctx: dict) -> None:
    x = torch.randn(4, config.in_channels, config.roi_feat_size, config.roi_feat_size)
    logits = built(x)
    assert logits.shape[:2] == (4, 1 if config.class_agnostic else config.num_classes)
    _backward(logits, built)
    metas = [{"ori_shape": (40, 50), "scale_factor": (1.0, 1.0)}]
    boxes = torch.tensor([[2.0, 3.0, 20.0, 30.0], [10.0, 5.0, 45.0, 38.0], [0.0, 0.0, 50.0, 40.0], [5, 5, 6, 6]])
    results = [Instances(bboxes=boxes, labels=torch.arange(4) % config.num_classes, scores=torch.ones(4))]
    with torch.no_grad():
        (pasted,) = built.predict_by_feat([built(x)], results, metas, mask_thr_binary=0.5, rescale=True)
    assert pasted.masks.shape == (4, 40, 50) and pasted.masks.dtype == torch.bool


def exercise_roi_head(built: torch.nn.Module, config: Any, ctx: dict) -> None:
    strides = config.bbox_roi_extractor.featmap_strides
    feats = tuple(torch.randn(1, config.bbox_roi_extractor.out_channels, 64 // s, 64 // s) for s in strides)
    proposals = [Instances(bboxes=_boxes(12))]
    torch.manual_seed(0)
    losses = built.loss(feats, proposals, [_gt()], batch_img_metas=_metas(1))  # a cascade clips to img_shape
    _backward({k: v for k, v in losses.items() if not k.endswith("acc")}, built)
    with torch.no_grad():
        (result,) = built.predict(feats, proposals, _metas(1), rescale=False)
    bbox_head = config.bbox_head[-1] if isinstance(config.bbox_head, list) else config.bbox_head  # per stage
    assert result.bboxes.shape[1] == 4 and built.num_classes == bbox_head.num_classes
    if config.mask_head is not None:
        assert result.masks.shape[0] == len(result)


def exercise_data_preprocessor(built: torch.nn.Module, config: Any, ctx: dict) -> None:
    images = [torch.randint(0, 255, (3, h, w), dtype=torch.uint8) for h, w in ((30, 40), (20, 44))]
    batch, metas = built(images, [{"img_shape": (30, 40)}, {"img_shape": (20, 44)}])
    assert batch.shape[0] == 2 and batch.shape[2] % config.pad_size_divisor == 0
    assert all(meta["batch_input_shape"] == tuple(batch.shape[2:]) for meta in metas)


def exercise_detector(built: torch.nn.Module, config: Any, ctx: dict) -> None:
    inputs = torch.randn(2, 3, 64, 64)
    torch.manual_seed(0)
    losses = built.loss(inputs, _metas(), [_gt(), _gt(0)])
    assert all(torch.isfinite(v).all() for v in losses.values())
    _backward({k: v for k, v in losses.items() if not k.endswith("acc")}, built)
    built.eval()
    with torch.no_grad():
        results = built.predict(inputs, _metas())
        raw = built(inputs)
    assert len(results) == 2 and isinstance(raw, tuple) and all(isinstance(t, torch.Tensor) for t in raw)
    assert isinstance(built.num_classes, int) and built.dataset_meta is None


def _results(ctx: dict) -> dict:
    synth = ctx["synth"]
    load = build_component("transform", {"type": "LoadImageFromFile"})
    annotations = build_component("transform", {"type": "LoadAnnotations"})
    dataset = build_component("dataset", {"type": "CocoDataset", "ann_file": str(synth.ann_file),
                                          "data_prefix": {"img": str(synth.img_dir)},
                                          "metainfo": {"classes": list(synth.classes)}})  # fmt: skip
    return annotations(load(dataset.get_data_info(0)))


def exercise_transform(built: Callable, config: Any, ctx: dict) -> None:
    if config.type == "LoadImageFromFile":
        dataset = build_component("dataset", {"type": "CocoDataset", "ann_file": str(ctx["synth"].ann_file),
                                              "data_prefix": {"img": str(ctx["synth"].img_dir)}})  # fmt: skip
        out = built(dataset.get_data_info(0))
        assert out["img"].ndim == 3
        return
    np.random.seed(0)
    out = built(_results(ctx))
    assert out is not None
    if config.type == "PackDetInputs":
        assert out["inputs"].dim() == 3 and out["data_samples"].gt_instances.bboxes.shape[1] == 4
    else:
        assert out["img"].ndim == 3 and out["gt_bboxes"].shape[-1] == 4


def exercise_dataset(built: Any, config: Any, ctx: dict) -> None:
    # the example is lazy and names no file: a real one is read here
    pipeline = [{"type": "LoadImageFromFile"}, {"type": "PackDetInputs"}]
    real = build_component("dataset", {**config.model_dump(), "ann_file": str(ctx["synth"].ann_file),
                                       "data_prefix": {"img": str(ctx["synth"].img_dir)}, "lazy_init": False,
                                       "pipeline": pipeline})  # fmt: skip
    assert len(real) > 0 and real[0]["inputs"].dim() == 3


def exercise_data_sampler(built: Any, config: Any, ctx: dict) -> None:
    sampler = config.build(dataset=list(range(5)), seed=1)
    drawn = [i for _, i in zip(range(5), iter(sampler))]
    assert sorted(drawn) == list(range(5))


def exercise_batch_sampler(built: Any, config: Any, ctx: dict) -> None:
    class Images(list):
        def get_data_info(self, idx: int) -> dict:
            return {"width": 10 + idx, "height": 20 if idx % 2 else 5}

    index_sampler = build_component("data_sampler", {"type": "DefaultSampler", "seed": 0}, dataset=Images(range(6)))
    batches = list(config.build(sampler=index_sampler, batch_size=2))
    assert sorted(i for batch in batches for i in batch) == list(range(6))


def exercise_metric(built: Any, config: Any, ctx: dict) -> None:
    metric = build_component("metric", {**config.model_dump(), "ann_file": str(ctx["synth"].ann_file)})
    metric.dataset_meta = {"classes": ctx["synth"].classes}
    metric.process(None, [{"img_id": 1, "ori_shape": (48, 64),
                           "pred_instances": {"bboxes": _boxes(2), "scores": torch.tensor([0.9, 0.5]),
                                              "labels": torch.tensor([0, 1])}}])  # fmt: skip
    assert all(0 <= v <= 1 or v == -1 for v in metric.evaluate(size=1).values())


def _toy_model() -> torch.nn.Module:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 1))
    return model


def exercise_optimizer(built: Any, config: Any, ctx: dict) -> None:
    from visdet.engine.components.optimizers import ParamwiseSettings

    model = _toy_model()
    optimizer = config.build(model=model, paramwise=ParamwiseSettings())
    before = [p.detach().clone() for p in model.parameters()]
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    assert optimizer.defaults["lr"] == config.lr


def exercise_optim_wrapper(built: Any, config: Any, ctx: dict) -> None:
    assert config.build(model=_toy_model()).defaults["lr"] == config.optimizer.lr
    assert config.precision() in ("fp32", "fp16", "bf16")


def exercise_scheduler(built: Any, config: Any, ctx: dict) -> None:
    from visdet.engine.components.schedulers import RunLength, build_param_schedulers

    optimizer = torch.optim.SGD(_toy_model().parameters(), lr=0.1, momentum=0.9)
    schedulers = build_param_schedulers([config], optimizer=optimizer,
                                        run=RunLength(epoch_length=5, max_epochs=4, max_iters=20))  # fmt: skip
    lrs = []
    for _ in range(4):
        for _ in range(5):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedulers.after_optimizer_step()
            schedulers.after_iter()
        schedulers.after_epoch()
    assert len(set(lrs)) > 1, "the schedule never changed the lr"


def exercise_hook(built: Any, config: Any, ctx: dict) -> None:
    from visdet.engine.hooks import Hook

    if type(config).builtin:
        assert built is None
        return
    assert isinstance(built, Hook)
    assert isinstance(config.build(by_epoch=False, progress=False), Hook)


def exercise_train_loop(built: Any, config: Any, ctx: dict) -> None:
    assert built.length >= 1 and (built.max_epochs is None) != (built.max_iters is None)


def exercise_eval_loop(built: Any, config: Any, ctx: dict) -> None:
    loop = config.build(loader=[], metric=None)
    assert loop.loader == [] and hasattr(loop, "run")


def exercise_batch_augment(built: Any, config: Any, ctx: dict) -> None:
    from visdet.structures.instances import Instances

    if config.type == "BatchColorJitter":
        pytest.importorskip("kornia")
    augment = config.build()
    images = torch.rand(2, 3, 16, 20)
    metas = [{"img_shape": (16, 20)}, {"img_shape": (12, 14)}]
    gt = [Instances(bboxes=torch.tensor([[2.0, 3.0, 9.0, 11.0]]), labels=torch.tensor([0])) for _ in range(2)]
    out, out_metas, out_gt = augment(images, metas, gt, mean=None, std=None, rgb=True)
    assert out.shape == images.shape and out_metas == metas and len(out_gt) == 2
    assert torch.equal(out[1, :, 12:], images[1, :, 12:]) and torch.equal(out[1, :, :, 14:], images[1, :, :, 14:])


EXERCISES: dict[str, Callable[[Any, Any, dict], None]] = {
    name.removeprefix("exercise_"): fn for name, fn in globals().items() if name.startswith("exercise_")
}
# kinds whose factory needs context or files: the exercise builds them itself (None), or with this context
CONTEXT_KINDS = {"roi_layer": {"featmap_strides": [4]}, "data_sampler": None, "batch_sampler": None,
                 "optimizer": None, "optim_wrapper": None, "scheduler": None, "eval_loop": None,
                 "metric": None, "batch_augment": None}  # fmt: skip

# types that no field of a config file holds (the DETR detectors' fields name the classes they build;
# DINO's dn_cfg is a section of its own), so `visdet config schema` cannot list them; built and exercised all the same
UNREACHABLE_TYPES = {"LearnedPositionalEncoding", "MultiScaleDeformableAttention", "MultiheadAttention",
                     "DeformableDetrTransformerEncoderLayer", "DeformableDetrTransformerDecoderLayer",
                     "CdnQueryGenerator"}  # fmt: skip

@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return {"synth": write_coco_synth(tmp_path_factory.mktemp("sweep") / "coco")}


@pytest.fixture(scope="module")
def json_schema() -> dict:
    return config_json_schema()


def test_every_kind_has_types_and_an_exercise():
    assert set(KINDS) == set(REGISTRIES)
    empty = [kind for kind, reg in REGISTRIES.items() if not len(reg)]
    assert not empty, f"kinds without a registered type: {empty}"
    assert set(EXERCISES) == set(KINDS), f"kinds without an exercise: {sorted(set(KINDS) - set(EXERCISES))}"


@pytest.mark.parametrize(("kind", "name"), ALL_TYPES, ids=[f"{k}/{n}" for k, n in ALL_TYPES])
def test_registered_type(kind: str, name: str, ctx: dict, json_schema: dict, tmp_path):
    schema = REGISTRIES[kind].get(name)
    example = {**schema.example, "type": name}
    config = validate_model(example) if kind == "detector" else validate_component(kind, example)
    assert type(config) is schema and config.type == name
    # build and exercise
    torch.manual_seed(0)
    if kind in CONTEXT_KINDS:
        context = CONTEXT_KINDS[kind]
        built = config.build(**context) if context is not None else None
    else:
        built = config.build()
    EXERCISES[kind](built, config, ctx)
    # pickles: the schema, and the built object
    assert pickle.loads(pickle.dumps(config)) == config
    if built is not None and not callable(getattr(built, "__next__", None)):
        restored = pickle.loads(pickle.dumps(built))
        if isinstance(built, torch.nn.Module):
            assert restored.state_dict().keys() == built.state_dict().keys()
    # round-trips through YAML, and validates against the JSON Schema of its kind
    dumped = config.model_dump(mode="json")
    again = yaml.safe_load(yaml.safe_dump(dumped))
    reparsed = validate_model(again) if kind == "detector" else validate_component(kind, again)
    assert reparsed == config
    if name in UNREACHABLE_TYPES:  # no config field holds this type, so the file schema does not list it
        assert schema.__name__ not in json_schema["$defs"], f"{name} is reachable now: drop it from UNREACHABLE_TYPES"
        return
    jsonschema.validate(again, {"$defs": json_schema["$defs"], **json_schema["$defs"][schema.__name__]})
    # and is listed in `visdet config schema`
    listed = json_schema["$defs"][schema.__name__]["properties"]["type"]
    assert name in ([listed["const"]] if "const" in listed else listed["enum"])


def test_config_schema_command_lists_every_kind(capsys):
    assert main(["config", "schema", "--kinds"]) == 0
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.strip().splitlines())
    assert set(lines) == set(KINDS)
    for kind, reg in REGISTRIES.items():
        assert lines[kind].split(", ") == reg.names()
    assert main(["config", "schema"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert written == config_json_schema()
