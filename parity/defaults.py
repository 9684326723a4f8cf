"""Defaults parity: visdet's constructor and function signatures against mmdet's/mmcv's.

A user who builds a component with its defaults must get mmdet's defaults. The check:

* :data:`TABLE` maps every mirrored component (each type registered on
  :mod:`visdet.build`, the public ops, the loss functions) to the reference's qualified
  name. A registered type without an entry fails ``parity/test_defaults.py``, so a
  component added later is forced in.
* The reference writes the signatures of those objects (parameter names, kinds,
  defaults), flattened through ``**kwargs`` into the base classes (or, for a decorated
  function, into the wrapped one), as the golden ``golden/defaults/signatures.json``
  (``python -m parity.golden generate --only defaults`` in the reference environment).
* visdet's side is read twice for a registered type: its config schema (the defaults a
  config gets) and, where ``build`` returns a visdet class, that class's ``__init__``
  (the defaults a Python caller gets). Functions are read from their signature.
* Every difference (a parameter missing or extra on one side, or another default) must
  be listed in ``parity/defaults_differences.yaml`` with its reason; an unlisted
  difference fails, and so does a listed one that no longer occurs.

Values are compared as configs see them: a tuple equals the list of the same items,
``1`` equals ``1.0``, but ``True`` is not ``1``.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import importlib
import inspect
import json
import math
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_RELPATH = "defaults/signatures.json"
DIFFERENCES = Path(__file__).resolve().parent / "defaults_differences.yaml"
GOLDEN_FORMAT = 1
REQUIRED = "<required>"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One mirrored component: the reference object and, for non-registered ones, visdet's.

    ``reference`` is the qualified name (``module.Class`` or ``module.function``) or None
    for a visdet-only component (then ``reason`` says why it has no counterpart).
    ``visdet`` names visdet's object for entries that are not registered types.
    """

    reference: str | None
    visdet: str | None = None
    reason: str = ""


_MM = "mmdet.models"
_HEADS = f"{_MM}.roi_heads.bbox_heads.convfc_bbox_head"
_SCHED = "mmengine.optim.scheduler.lr_scheduler"

# visdet key -> the reference. Registered types are "<kind>/<Type>"; the rest "function/<name>"
# or "class/<name>" with ``visdet`` naming visdet's object.
TABLE: dict[str, Entry] = {
    # --- model components (registered on visdet.build)
    "backbone/ResNet": Entry(f"{_MM}.backbones.resnet.ResNet"),
    "backbone/ResNetV1d": Entry(f"{_MM}.backbones.resnet.ResNetV1d"),
    "backbone/ResNeXt": Entry(f"{_MM}.backbones.resnext.ResNeXt"),
    "backbone/SwinTransformer": Entry(f"{_MM}.backbones.swin.SwinTransformer"),
    "neck/FPN": Entry(f"{_MM}.necks.fpn.FPN"),
    "backbone/CSPNeXt": Entry(f"{_MM}.backbones.cspnext.CSPNeXt"),
    "neck/CSPNeXtPAFPN": Entry(f"{_MM}.necks.cspnext_pafpn.CSPNeXtPAFPN"),
    "neck/ChannelMapper": Entry(f"{_MM}.necks.channel_mapper.ChannelMapper"),
    "positional_encoding/SinePositionalEncoding": Entry(f"{_MM}.layers.positional_encoding.SinePositionalEncoding"),
    "positional_encoding/LearnedPositionalEncoding": Entry(
        f"{_MM}.layers.positional_encoding.LearnedPositionalEncoding"
    ),
    "attention/MultiScaleDeformableAttention": Entry("mmcv.ops.multi_scale_deform_attn.MultiScaleDeformableAttention"),
    "attention/MultiheadAttention": Entry("mmcv.cnn.bricks.transformer.MultiheadAttention"),
    "transformer_layer/DeformableDetrTransformerEncoderLayer": Entry(
        f"{_MM}.layers.transformer.deformable_detr_layers.DeformableDetrTransformerEncoderLayer"
    ),
    "transformer_layer/DeformableDetrTransformerDecoderLayer": Entry(
        f"{_MM}.layers.transformer.deformable_detr_layers.DeformableDetrTransformerDecoderLayer"
    ),
    "transformer/DeformableDetrTransformerEncoder": Entry(
        f"{_MM}.layers.transformer.deformable_detr_layers.DeformableDetrTransformerEncoder"
    ),
    "transformer/DeformableDetrTransformerDecoder": Entry(
        f"{_MM}.layers.transformer.deformable_detr_layers.DeformableDetrTransformerDecoder"
    ),
    "transformer/DinoTransformerDecoder": Entry(f"{_MM}.layers.transformer.dino_layers.DinoTransformerDecoder"),
    "query_generator/CdnQueryGenerator": Entry(f"{_MM}.layers.transformer.dino_layers.CdnQueryGenerator"),
    "function/coordinate_to_encoding": Entry(
        f"{_MM}.layers.transformer.utils.coordinate_to_encoding",
        visdet="visdet.models.layers.detr_mlp.coordinate_to_encoding",
    ),
    "class/MLP": Entry(f"{_MM}.layers.transformer.utils.MLP", visdet="visdet.models.layers.detr_mlp.MLP"),
    "dense_head/RPNHead": Entry(f"{_MM}.dense_heads.rpn_head.RPNHead"),
    "roi_head/StandardRoIHead": Entry(f"{_MM}.roi_heads.standard_roi_head.StandardRoIHead"),
    "roi_head/CascadeRoIHead": Entry(f"{_MM}.roi_heads.cascade_roi_head.CascadeRoIHead"),
    "roi_extractor/SingleRoIExtractor": Entry(
        f"{_MM}.roi_heads.roi_extractors.single_level_roi_extractor.SingleRoIExtractor"
    ),
    "roi_layer/RoIAlign": Entry("mmcv.ops.roi_align.RoIAlign"),
    "bbox_head/BBoxHead": Entry(f"{_MM}.roi_heads.bbox_heads.bbox_head.BBoxHead"),
    "bbox_head/ConvFCBBoxHead": Entry(f"{_HEADS}.ConvFCBBoxHead"),
    "bbox_head/Shared2FCBBoxHead": Entry(f"{_HEADS}.Shared2FCBBoxHead"),
    "bbox_head/Shared4Conv1FCBBoxHead": Entry(f"{_HEADS}.Shared4Conv1FCBBoxHead"),
    "loss/CrossEntropyLoss": Entry(f"{_MM}.losses.cross_entropy_loss.CrossEntropyLoss"),
    "loss/L1Loss": Entry(f"{_MM}.losses.smooth_l1_loss.L1Loss"),
    "loss/SmoothL1Loss": Entry(f"{_MM}.losses.smooth_l1_loss.SmoothL1Loss"),
    "assigner/MaxIoUAssigner": Entry(f"{_MM}.task_modules.assigners.max_iou_assigner.MaxIoUAssigner"),
    "iou_calculator/BboxOverlaps2D": Entry(f"{_MM}.task_modules.assigners.iou2d_calculator.BboxOverlaps2D"),
    "sampler/RandomSampler": Entry(f"{_MM}.task_modules.samplers.random_sampler.RandomSampler"),
    "sampler/PseudoSampler": Entry(f"{_MM}.task_modules.samplers.pseudo_sampler.PseudoSampler"),
    "bbox_coder/DeltaXYWHBBoxCoder": Entry(
        f"{_MM}.task_modules.coders.delta_xywh_bbox_coder.DeltaXYWHBBoxCoder"
    ),
    "prior_generator/AnchorGenerator": Entry(
        f"{_MM}.task_modules.prior_generators.anchor_generator.AnchorGenerator"
    ),
    "data_preprocessor/DetDataPreprocessor": Entry(
        f"{_MM}.data_preprocessors.data_preprocessor.DetDataPreprocessor"
    ),
    "detector/FasterRCNN": Entry(f"{_MM}.detectors.faster_rcnn.FasterRCNN"),
    "detector/MaskRCNN": Entry(f"{_MM}.detectors.mask_rcnn.MaskRCNN"),
    "detector/CascadeRCNN": Entry(f"{_MM}.detectors.cascade_rcnn.CascadeRCNN"),
    "mask_head/FCNMaskHead": Entry(f"{_MM}.roi_heads.mask_heads.fcn_mask_head.FCNMaskHead"),
    "detector/RPN": Entry(f"{_MM}.detectors.rpn.RPN"),
    "detector/RetinaNet": Entry(f"{_MM}.detectors.retinanet.RetinaNet"),
    "dense_head/RetinaHead": Entry(f"{_MM}.dense_heads.retina_head.RetinaHead"),
    "loss/FocalLoss": Entry(f"{_MM}.losses.focal_loss.FocalLoss"),
    "detector/FCOS": Entry(f"{_MM}.detectors.fcos.FCOS"),
    "dense_head/FCOSHead": Entry(f"{_MM}.dense_heads.fcos_head.FCOSHead"),
    "loss/IoULoss": Entry(f"{_MM}.losses.iou_loss.IoULoss"),
    "bbox_coder/DistancePointBBoxCoder": Entry(
        f"{_MM}.task_modules.coders.distance_point_bbox_coder.DistancePointBBoxCoder"
    ),
    "prior_generator/MlvlPointGenerator": Entry(
        f"{_MM}.task_modules.prior_generators.point_generator.MlvlPointGenerator"
    ),
    "detector/RTMDet": Entry(f"{_MM}.detectors.rtmdet.RTMDet"),
    "dense_head/RTMDetHead": Entry(f"{_MM}.dense_heads.rtmdet_head.RTMDetHead"),
    "dense_head/RTMDetSepBNHead": Entry(f"{_MM}.dense_heads.rtmdet_head.RTMDetSepBNHead"),
    "detector/DeformableDETR": Entry(f"{_MM}.detectors.deformable_detr.DeformableDETR"),
    "dense_head/DeformableDETRHead": Entry(f"{_MM}.dense_heads.deformable_detr_head.DeformableDETRHead"),
    "detector/DINO": Entry(f"{_MM}.detectors.dino.DINO"),
    "dense_head/DINOHead": Entry(f"{_MM}.dense_heads.dino_head.DINOHead"),
    "loss/QualityFocalLoss": Entry(f"{_MM}.losses.gfocal_loss.QualityFocalLoss"),
    "loss/GIoULoss": Entry(f"{_MM}.losses.iou_loss.GIoULoss"),
    "assigner/DynamicSoftLabelAssigner": Entry(
        f"{_MM}.task_modules.assigners.dynamic_soft_label_assigner.DynamicSoftLabelAssigner"
    ),
    # --- DETR family: Hungarian matching and its costs
    "assigner/HungarianAssigner": Entry(f"{_MM}.task_modules.assigners.hungarian_assigner.HungarianAssigner"),
    "match_cost/FocalLossCost": Entry(f"{_MM}.task_modules.assigners.match_cost.FocalLossCost"),
    "match_cost/ClassificationCost": Entry(f"{_MM}.task_modules.assigners.match_cost.ClassificationCost"),
    "match_cost/BBoxL1Cost": Entry(f"{_MM}.task_modules.assigners.match_cost.BBoxL1Cost"),
    "match_cost/IoUCost": Entry(f"{_MM}.task_modules.assigners.match_cost.IoUCost"),
    "function/bbox_cxcywh_to_xyxy": Entry(
        "mmdet.structures.bbox.transforms.bbox_cxcywh_to_xyxy", visdet="visdet.structures.boxes.bbox_cxcywh_to_xyxy"
    ),
    "function/bbox_xyxy_to_cxcywh": Entry(
        "mmdet.structures.bbox.transforms.bbox_xyxy_to_cxcywh", visdet="visdet.structures.boxes.bbox_xyxy_to_cxcywh"
    ),
    # --- data
    "transform/LoadImageFromFile": Entry("mmcv.transforms.loading.LoadImageFromFile"),
    "transform/LoadAnnotations": Entry("mmdet.datasets.transforms.loading.LoadAnnotations"),
    "transform/Resize": Entry("mmdet.datasets.transforms.transforms.Resize"),
    "transform/RandomResize": Entry("mmcv.transforms.processing.RandomResize"),
    "transform/RandomChoiceResize": Entry("mmcv.transforms.processing.RandomChoiceResize"),
    "transform/RandomChoice": Entry("mmcv.transforms.wrappers.RandomChoice"),
    "transform/RandomFlip": Entry("mmdet.datasets.transforms.transforms.RandomFlip"),
    "transform/Pad": Entry("mmdet.datasets.transforms.transforms.Pad"),
    "transform/RandomCrop": Entry("mmdet.datasets.transforms.transforms.RandomCrop"),
    "transform/PhotoMetricDistortion": Entry("mmdet.datasets.transforms.transforms.PhotoMetricDistortion"),
    "transform/PackDetInputs": Entry("mmdet.datasets.transforms.formatting.PackDetInputs"),
    "transform/CachedMosaic": Entry("mmdet.datasets.transforms.transforms.CachedMosaic"),
    "transform/CachedMixUp": Entry("mmdet.datasets.transforms.transforms.CachedMixUp"),
    "transform/YOLOXHSVRandomAug": Entry("mmdet.datasets.transforms.transforms.YOLOXHSVRandomAug"),
    "transform/FilterAnnotations": Entry("mmdet.datasets.transforms.loading.FilterAnnotations"),
    "dataset/CocoDataset": Entry("mmdet.datasets.coco.CocoDataset"),
    "data_sampler/DefaultSampler": Entry("mmengine.dataset.sampler.DefaultSampler"),
    "data_sampler/InfiniteSampler": Entry("mmengine.dataset.sampler.InfiniteSampler"),
    "batch_sampler/AspectRatioBatchSampler": Entry(
        "mmdet.datasets.samplers.batch_sampler.AspectRatioBatchSampler"
    ),
    "metric/CocoMetric": Entry("mmdet.evaluation.metrics.coco_metric.CocoMetric"),
    # --- engine (mmengine registers torch's optimizers under their own names)
    "optimizer/SGD": Entry("torch.optim.sgd.SGD"),
    "optimizer/Adam": Entry("torch.optim.adam.Adam"),
    "optimizer/AdamW": Entry("torch.optim.adamw.AdamW"),
    "optim_wrapper/OptimWrapper": Entry("mmengine.optim.optimizer.optimizer_wrapper.OptimWrapper"),
    "optim_wrapper/AmpOptimWrapper": Entry("mmengine.optim.optimizer.amp_optimizer_wrapper.AmpOptimWrapper"),
    "scheduler/LinearLR": Entry(f"{_SCHED}.LinearLR"),
    "scheduler/MultiStepLR": Entry(f"{_SCHED}.MultiStepLR"),
    "scheduler/StepLR": Entry(f"{_SCHED}.StepLR"),
    "scheduler/CosineAnnealingLR": Entry(f"{_SCHED}.CosineAnnealingLR"),
    "scheduler/OneCycleLR": Entry(f"{_SCHED}.OneCycleLR"),
    "scheduler/ConstantLR": Entry(f"{_SCHED}.ConstantLR"),
    "hook/IterTimerHook": Entry("mmengine.hooks.iter_timer_hook.IterTimerHook"),
    "hook/ParamSchedulerHook": Entry("mmengine.hooks.param_scheduler_hook.ParamSchedulerHook"),
    "hook/DistSamplerSeedHook": Entry("mmengine.hooks.sampler_seed_hook.DistSamplerSeedHook"),
    "hook/DetVisualizationHook": Entry("mmdet.engine.hooks.visualization_hook.DetVisualizationHook"),
    "hook/LoggerHook": Entry("mmengine.hooks.logger_hook.LoggerHook"),
    "hook/CheckpointHook": Entry("mmengine.hooks.checkpoint_hook.CheckpointHook"),
    "hook/EarlyStoppingHook": Entry("mmengine.hooks.early_stopping_hook.EarlyStoppingHook"),
    "hook/EMAHook": Entry("mmengine.hooks.ema_hook.EMAHook"),
    "hook/PipelineSwitchHook": Entry("mmdet.engine.hooks.pipeline_switch_hook.PipelineSwitchHook"),
    "hook/ProgressiveResizeHook": Entry(
        None, reason="visdet's own hook (resolution schedule); mmdet 3.3 has no such hook"
    ),
    "batch_augment/BatchRandomFlip": Entry(None, reason="visdet's device augmentation; mmdet 3.3 has no such type"),
    "batch_augment/BatchRandomResizedCrop": Entry(
        None, reason="visdet's device augmentation; mmdet 3.3 has no such type"
    ),
    "batch_augment/BatchColorJitter": Entry(None, reason="visdet's device augmentation; mmdet 3.3 has no such type"),
    "train_loop/EpochBasedTrainLoop": Entry("mmengine.runner.loops.EpochBasedTrainLoop"),
    "train_loop/IterBasedTrainLoop": Entry("mmengine.runner.loops.IterBasedTrainLoop"),
    "eval_loop/ValLoop": Entry("mmengine.runner.loops.ValLoop"),
    "eval_loop/TestLoop": Entry("mmengine.runner.loops.TestLoop"),
    # --- public ops
    "function/nms": Entry("mmcv.ops.nms.nms", visdet="visdet.ops.nms.nms"),
    "function/batched_nms": Entry("mmcv.ops.nms.batched_nms", visdet="visdet.ops.nms.batched_nms"),
    "function/soft_nms": Entry("mmcv.ops.nms.soft_nms", visdet="visdet.ops.soft_nms.soft_nms"),
    "function/roi_align": Entry("mmcv.ops.roi_align.roi_align", visdet="visdet.ops.roi_align.roi_align"),
    "function/multi_scale_deformable_attn_pytorch": Entry(
        "mmcv.ops.multi_scale_deform_attn.multi_scale_deformable_attn_pytorch",
        visdet="visdet.ops.multi_scale_deform_attn.multi_scale_deformable_attn_pytorch",
    ),
    "function/bbox_overlaps": Entry(
        "mmdet.structures.bbox.bbox_overlaps.bbox_overlaps", visdet="visdet.ops.bbox_overlaps.bbox_overlaps"
    ),
    "function/multiclass_nms": Entry(
        f"{_MM}.layers.bbox_nms.multiclass_nms", visdet="visdet.ops.multiclass_nms.multiclass_nms"
    ),
    # --- box coder functions (the coder's defaults, wh_ratio_clip among them)
    "function/bbox2delta": Entry(
        f"{_MM}.task_modules.coders.delta_xywh_bbox_coder.bbox2delta",
        visdet="visdet.models.task_modules.delta_xywh_coder.bbox2delta",
    ),
    "function/delta2bbox": Entry(
        f"{_MM}.task_modules.coders.delta_xywh_bbox_coder.delta2bbox",
        visdet="visdet.models.task_modules.delta_xywh_coder.delta2bbox",
    ),
    # --- loss functions
    "function/smooth_l1_loss": Entry(
        f"{_MM}.losses.smooth_l1_loss.smooth_l1_loss", visdet="visdet.models.losses.smooth_l1_loss.smooth_l1_loss"
    ),
    "function/l1_loss": Entry(
        f"{_MM}.losses.smooth_l1_loss.l1_loss", visdet="visdet.models.losses.smooth_l1_loss.l1_loss"
    ),
    "function/cross_entropy": Entry(
        f"{_MM}.losses.cross_entropy_loss.cross_entropy",
        visdet="visdet.models.losses.cross_entropy_loss.cross_entropy",
    ),
    "function/binary_cross_entropy": Entry(
        f"{_MM}.losses.cross_entropy_loss.binary_cross_entropy",
        visdet="visdet.models.losses.cross_entropy_loss.binary_cross_entropy",
    ),
    "function/mask_cross_entropy": Entry(
        f"{_MM}.losses.cross_entropy_loss.mask_cross_entropy",
        visdet="visdet.models.losses.cross_entropy_loss.mask_cross_entropy",
    ),
    "function/sigmoid_focal_loss": Entry(
        f"{_MM}.losses.focal_loss.py_sigmoid_focal_loss", visdet="visdet.models.losses.focal_loss.sigmoid_focal_loss"
    ),
    "function/focal_loss_with_prob": Entry(
        f"{_MM}.losses.focal_loss.py_focal_loss_with_prob",
        visdet="visdet.models.losses.focal_loss.focal_loss_with_prob",
    ),
    "function/iou_loss": Entry(f"{_MM}.losses.iou_loss.iou_loss", visdet="visdet.models.losses.iou_loss.iou_loss"),
    "function/giou_loss": Entry(f"{_MM}.losses.iou_loss.giou_loss", visdet="visdet.models.losses.iou_loss.giou_loss"),
    "function/quality_focal_loss": Entry(
        f"{_MM}.losses.gfocal_loss.quality_focal_loss", visdet="visdet.models.losses.gfocal_loss.quality_focal_loss"
    ),
    "function/inverse_sigmoid": Entry(
        f"{_MM}.layers.transformer.utils.inverse_sigmoid", visdet="visdet.models.layers.sigmoid_mean.inverse_sigmoid"
    ),
    "function/center_of_mass": Entry(
        f"{_MM}.task_modules.assigners.dynamic_soft_label_assigner.center_of_mass",
        visdet="visdet.models.task_modules.dynamic_soft_label_assigner.center_of_mass",
    ),
    "function/bbox2distance": Entry(
        "mmdet.structures.bbox.transforms.bbox2distance",
        visdet="visdet.models.task_modules.distance_point_coder.bbox2distance",
    ),
    "function/distance2bbox": Entry(
        "mmdet.structures.bbox.transforms.distance2bbox",
        visdet="visdet.models.task_modules.distance_point_coder.distance2bbox",
    ),
    "class/AnchorFreeHead": Entry(
        f"{_MM}.dense_heads.anchor_free_head.AnchorFreeHead",
        visdet="visdet.models.dense_heads.anchor_free_head.AnchorFreeHead",
    ),
    "class/Scale": Entry("mmcv.cnn.bricks.scale.Scale", visdet="visdet.models.layers.scale.Scale"),
    "function/accuracy": Entry(f"{_MM}.losses.accuracy.accuracy", visdet="visdet.models.losses.accuracy.accuracy"),
    "class/RoIAlign": Entry("mmcv.ops.roi_align.RoIAlign", visdet="visdet.models.roi_heads.roi_align_layer.RoIAlign"),
    # --- Swin Transformer parts and the transformer layers they use
    "class/SwinBlock": Entry(
        f"{_MM}.backbones.swin.SwinBlock", visdet="visdet.models.backbones.swin_blocks.SwinBlock"
    ),
    "class/SwinBlockSequence": Entry(
        f"{_MM}.backbones.swin.SwinBlockSequence", visdet="visdet.models.backbones.swin_blocks.SwinBlockSequence"
    ),
    "class/WindowMSA": Entry(
        f"{_MM}.backbones.swin.WindowMSA", visdet="visdet.models.backbones.swin_attention.WindowMSA"
    ),
    "class/ShiftWindowMSA": Entry(
        f"{_MM}.backbones.swin.ShiftWindowMSA", visdet="visdet.models.backbones.swin_attention.ShiftWindowMSA"
    ),
    "function/swin_converter": Entry(
        f"{_MM}.backbones.swin.swin_converter", visdet="visdet.models.backbones.swin_converter.swin_converter"
    ),
    "class/PatchEmbed": Entry(
        f"{_MM}.layers.transformer.utils.PatchEmbed", visdet="visdet.models.layers.patch_embed.PatchEmbed"
    ),
    "class/AdaptivePadding": Entry(
        f"{_MM}.layers.transformer.utils.AdaptivePadding", visdet="visdet.models.layers.patch_embed.AdaptivePadding"
    ),
    "class/PatchMerging": Entry(
        f"{_MM}.layers.transformer.utils.PatchMerging", visdet="visdet.models.layers.patch_merging.PatchMerging"
    ),
    "class/FFN": Entry("mmcv.cnn.bricks.transformer.FFN", visdet="visdet.models.layers.ffn.FFN"),
    "class/DropPath": Entry("mmcv.cnn.bricks.drop.DropPath", visdet="visdet.models.layers.drop.DropPath"),
    "function/drop_path": Entry("mmcv.cnn.bricks.drop.drop_path", visdet="visdet.models.layers.drop.drop_path"),
    "class/Accuracy": Entry(f"{_MM}.losses.accuracy.Accuracy", visdet="visdet.models.losses.accuracy.Accuracy"),
    "function/reduce_loss": Entry(
        f"{_MM}.losses.utils.reduce_loss", visdet="visdet.models.losses.reduction.reduce_loss"
    ),
    "function/weight_reduce_loss": Entry(
        f"{_MM}.losses.utils.weight_reduce_loss", visdet="visdet.models.losses.reduction.weight_reduce_loss"
    ),
    # --- RTMDet-Ins
    "dense_head/RTMDetInsHead": Entry(f"{_MM}.dense_heads.rtmdet_ins_head.RTMDetInsHead"),
    "dense_head/RTMDetInsSepBNHead": Entry(f"{_MM}.dense_heads.rtmdet_ins_head.RTMDetInsSepBNHead"),
    "loss/DiceLoss": Entry(f"{_MM}.losses.dice_loss.DiceLoss"),
    "function/dice_loss": Entry(f"{_MM}.losses.dice_loss.dice_loss", visdet="visdet.models.losses.dice_loss.dice_loss"),
    "class/MaskFeatModule": Entry(
        f"{_MM}.dense_heads.rtmdet_ins_head.MaskFeatModule",
        visdet="visdet.models.dense_heads.mask_feat_module.MaskFeatModule",
    ),
}


# Class-level tables whose values are defaults too (a depth picks the blocks of each stage):
# the reference's name -> visdet's. Recorded in the golden as ``constants``.
CONSTANTS: dict[str, str] = {
    f"{_MM}.backbones.resnet.ResNet.arch_settings": "visdet.models.backbones.resnet.ResNet.arch_settings",
    f"{_MM}.backbones.resnext.ResNeXt.arch_settings": "visdet.models.backbones.resnext.ResNeXt.arch_settings",
    f"{_MM}.backbones.cspnext.CSPNeXt.arch_settings": "visdet.models.backbones.cspnext.CSPNeXt.arch_settings",
}


def encode_arch_settings(table: Mapping[Any, Any]) -> dict[str, Any]:
    """An architecture table as JSON.

    ResNet's ``{depth: (BlockClass, stage_blocks)}`` becomes ``{"depth": [block name, [blocks...]]}``;
    a table of plain values (CSPNeXt's ``{arch: [[in, out, blocks, add, spp], ...]}``) is encoded as is.
    """
    if all(isinstance(v, (list, tuple)) and v and isinstance(v[0], type) for v in table.values()):
        return {str(depth): [block.__name__, list(stages)] for depth, (block, stages) in sorted(table.items())}
    return {str(key): encode(value) for key, value in sorted(table.items())}


# ------------------------------------------------------------------ reading objects
def resolve(qualname: str) -> Any:
    """The object named ``package.module.attr[.attr]`` (the longest importable module prefix)."""
    parts = qualname.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"cannot import {qualname}")


def encode(value: Any) -> Any:
    """A default value as JSON (sequences as lists, non-finite floats and objects tagged)."""
    if value is inspect.Parameter.empty:
        return REQUIRED
    if isinstance(value, enum.Enum):
        return {"enum": f"{type(value).__name__}.{value.name}"}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, Mapping):  # dict, mmengine ConfigDict, visdet's read-only mappingproxy defaults
        return {str(k): encode(v) for k, v in value.items()}
    if hasattr(value, "model_dump"):  # a pydantic section given as a default
        return encode(value.model_dump(exclude_none=True))
    if isinstance(value, type) or callable(value):
        return {"object": getattr(value, "__qualname__", type(value).__qualname__)}
    return {"object": type(value).__qualname__, "repr": repr(value)}


def _plain_signature(obj: Any) -> inspect.Signature:
    return inspect.signature(obj, follow_wrapped=False)


def _param(p: inspect.Parameter, owner: str) -> dict[str, Any]:
    return {"name": p.name, "kind": p.kind.name, "default": encode(p.default), "owner": owner}


_STOP = ("torch.nn.modules.module.Module", "builtins.object")


def signature_record(obj: Any) -> dict[str, Any]:
    """Parameters of a class's ``__init__`` or of a function, followed through ``**kwargs``.

    A class whose ``__init__`` takes ``*args``/``**kwargs`` passes them to its base
    class, so the next ``__init__`` up the MRO adds its parameters (not the ones named
    already); ``torch.nn.Module`` and ``object`` end the chain. A function that a
    decorator wraps (``functools.wraps``) adds the wrapped function's parameters the
    same way. An autograd ``Function.apply`` is read from its ``forward`` (less ``ctx``).
    """
    params: list[dict[str, Any]] = []
    seen: set[str] = set()
    var_keyword = False

    def add(sig: inspect.Signature, owner: str, skip_first: bool) -> bool:
        nonlocal var_keyword
        items = list(sig.parameters.values())[1 if skip_first else 0:]
        open_end = False
        for p in items:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                open_end = True
                continue
            if p.name not in seen:
                seen.add(p.name)
                params.append(_param(p, owner))
        var_keyword = open_end
        return open_end

    def add_chain(fn: Any, owner: str, skip_first: bool) -> bool:
        """``fn`` and, while it forwards ``*args``/``**kwargs``, the functions it wraps."""
        while True:
            open_end = add(_plain_signature(fn), owner, skip_first)
            inner = getattr(fn, "__wrapped__", None)
            if not open_end or inner is None:
                return open_end
            fn, owner = inner, f"{owner} (wrapped)"

    if isinstance(obj, type):
        for klass in obj.__mro__:
            name = f"{klass.__module__}.{klass.__qualname__}"
            if name in _STOP:
                break
            if "__init__" not in vars(klass):
                continue
            if not add_chain(vars(klass)["__init__"], name, skip_first=True):
                break
        return {"kind": "class", "parameters": params, "open": var_keyword}
    owner = getattr(obj, "__module__", "") + "." + getattr(obj, "__qualname__", "")
    fn_self = getattr(obj, "__self__", None)
    if getattr(obj, "__name__", "") == "apply" and isinstance(fn_self, type) and hasattr(fn_self, "forward"):
        add(_plain_signature(fn_self.forward), f"{fn_self.__module__}.{fn_self.__qualname__}.forward", True)
        return {"kind": "function", "parameters": params, "open": var_keyword}
    add_chain(obj, owner, skip_first=False)
    return {"kind": "function", "parameters": params, "open": var_keyword}
    fn = obj
    while fn is not None:
        if not add(_plain_signature(fn), owner, skip_first=False):
            break
        fn = getattr(fn, "__wrapped__", None)
        owner = f"{owner} (wrapped)"
    return {"kind": "function", "parameters": params, "open": var_keyword}


# ------------------------------------------------------------------ the reference side
def reference_record() -> dict[str, Any]:
    """The golden's content: every table entry's reference signature (reference env only)."""
    from parity.golden import reference_versions

    versions = reference_versions()
    import mmdet.utils

    mmdet.utils.register_all_modules()
    signatures = {}
    for entry in sorted({e.reference for e in TABLE.values() if e.reference}):
        signatures[entry] = signature_record(resolve(entry))
    constants = {name: encode_arch_settings(resolve(name)) for name in CONSTANTS}
    return {"format": GOLDEN_FORMAT, "writer": "reference", "versions": versions, "signatures": signatures,
            "constants": constants}  # fmt: skip


def golden_bytes(record: dict[str, Any]) -> bytes:
    """The golden file's bytes (stable: sorted keys, one layout)."""
    return (json.dumps(record, indent=1, sort_keys=True) + "\n").encode()


def read_golden(golden_dir: Path | None = None) -> dict[str, Any]:
    """The committed signatures golden, verified against MANIFEST.json."""
    from parity.golden import GOLDEN_DIR, verify_data_golden

    path = verify_data_golden(GOLDEN_RELPATH, golden_dir or GOLDEN_DIR)
    return json.loads(path.read_text())


# ------------------------------------------------------------------ visdet's side
def registered() -> dict[str, Any]:
    """``"kind/Type"`` -> schema class, for every type registered on visdet.build."""
    import visdet.engine.components  # noqa: F401  (registers the engine kinds)
    from visdet.build import REGISTRIES

    return {f"{kind}/{name}": schema for kind, reg in REGISTRIES.items() for name, schema in reg.items()}


def schema_record(schema: type) -> dict[str, Any]:
    """A config schema's fields as parameters (``type`` left out), with their defaults."""
    params = []
    for name, field in schema.model_fields.items():
        if name == "type":
            continue
        if field.is_required():
            default: Any = REQUIRED
        else:
            default = encode(field.get_default(call_default_factory=True))
        params.append({"name": name, "kind": "KEYWORD_ONLY", "default": default, "owner": schema.__qualname__})
    return {"kind": "schema", "parameters": params, "open": False}


def built_class(schema: type) -> type | None:
    """The visdet class a schema's ``build`` returns (from its annotation), if any."""
    try:
        hint = typing.get_type_hints(schema.build).get("return")
    except Exception:  # an annotation that does not resolve names no class
        return None
    if isinstance(hint, type) and hint.__module__.startswith("visdet."):
        return hint
    return None


# Kinds whose visdet classes are visdet's own runner machinery: their config (schema) is the
# contract with mmdet's configs; the classes take visdet's runner objects, not mmengine's.
SCHEMA_ONLY_KINDS = ("optimizer", "optim_wrapper", "scheduler", "hook", "train_loop", "eval_loop")


def visdet_records(key: str) -> dict[str, dict[str, Any]]:
    """visdet's signatures of one table entry: ``{"schema": ..., "class": ...}`` or ``{"function": ...}``."""
    entry = TABLE[key]
    if entry.visdet is not None:
        obj = resolve(entry.visdet)
        return {"class" if isinstance(obj, type) else "function": signature_record(obj)}
    schema = registered()[key]
    out = {"schema": schema_record(schema)}
    cls = built_class(schema)
    if cls is not None and key.split("/")[0] not in SCHEMA_ONLY_KINDS:
        out["class"] = signature_record(cls)
    return out


# ------------------------------------------------------------------ comparison
def type_defaults(type_name: str, signatures: Mapping[str, Any]) -> dict[str, Any] | None:
    """The reference's defaults of the component type ``type_name`` (None if not in the table)."""
    for key, entry in TABLE.items():
        if key.split("/", 1)[-1] == type_name and entry.reference in signatures:
            return {p["name"]: p["default"] for p in signatures[entry.reference]["parameters"]}
    return None


def same(a: Any, b: Any, signatures: Mapping[str, Any] | None = None) -> bool:
    """Equal as config values: lists/tuples alike, 1 == 1.0, but a bool only equals a bool.

    Two component configs (dicts with the same ``type``) are equal when every key that
    only one of them writes has the type's reference default on the other side (with
    ``signatures``, the golden), i.e. when building both gives the same arguments.
    """
    both_configs = isinstance(a, dict) and isinstance(b, dict) and "type" in a and a.get("type") == b.get("type")
    if both_configs and signatures is not None:
        defaults = type_defaults(a["type"], signatures) or {}
        for k in a.keys() | b.keys():
            left = a.get(k, defaults.get(k, REQUIRED))
            right = b.get(k, defaults.get(k, REQUIRED))
            if left == REQUIRED or not same(left, right, signatures):
                return False
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y, signatures) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], signatures) for k in a)
    return type(a) is type(b) and a == b


@dataclasses.dataclass(frozen=True)
class Difference:
    """One way visdet's signature differs from the reference's."""

    key: str
    where: str  # "schema", "class" or "function"
    param: str
    what: str  # "missing" (reference has it), "extra" (visdet has it), "default"
    reference: Any = None
    visdet: Any = None

    def __str__(self) -> str:
        if self.what == "default":
            head = f"{self.key} ({self.where}) {self.param}"
            return f"{head}: default {self.visdet!r} in visdet, {self.reference!r} in the reference"
        side = ("the reference has it, visdet does not" if self.what == "missing"
                else "visdet has it, the reference does not")  # fmt: skip
        return f"{self.key} ({self.where}) {self.param}: {self.what} ({side})"


def differences(key: str, reference: dict[str, Any], ours: dict[str, Any], where: str,
                renames: dict[str, str], signatures: Mapping[str, Any] | None = None) -> list[Difference]:  # fmt: skip
    """The differences between a reference record and one of visdet's (``renames``: mmdet name -> visdet's)."""
    ref = {renames.get(p["name"], p["name"]): p["default"] for p in reference["parameters"]}
    got = {p["name"]: p["default"] for p in ours["parameters"]}
    out = []
    for name in ref:
        if name not in got:
            out.append(Difference(key, where, name, "missing", reference=ref[name]))
        elif not same(ref[name], got[name], signatures):
            out.append(Difference(key, where, name, "default", reference=ref[name], visdet=got[name]))
    out.extend(Difference(key, where, name, "extra", visdet=got[name]) for name in got if name not in ref)
    return out


def load_listed() -> dict[str, Any]:
    """``parity/defaults_differences.yaml``: ``common`` rules and per-component ``components`` lists."""
    import yaml

    data = yaml.safe_load(DIFFERENCES.read_text()) or {}
    for section in ("common", "components"):
        data.setdefault(section, {} if section == "components" else [])
    for key, items in list(data["components"].items()) + [("common", data["common"])]:
        for item in items:
            missing = {"param", "what", "reason"} - set(item)
            if missing or not str(item["reason"]).strip():
                raise ValueError(f"{DIFFERENCES.name}: {key}: entry {item} needs param, what and a reason")
            if item["what"] not in ("missing", "extra", "default", "renamed"):
                raise ValueError(f"{DIFFERENCES.name}: {key}: {item['param']}: unknown what {item['what']!r}")
    return data


def _matches(item: dict[str, Any], diff: Difference) -> bool:
    """Whether a listed difference covers ``diff``.

    ``param: "*"`` matches any parameter; ``when: built-object`` only a default whose
    reference value is a component config (a dict with ``type``) and whose visdet value
    is required or None (the visdet class takes the built object, its schema the config).
    """
    where = item.get("where", "any")
    if item["param"] not in ("*", diff.param) or item["what"] != diff.what or where not in ("any", diff.where):
        return False
    if item.get("when") == "built-object":
        return isinstance(diff.reference, dict) and "type" in diff.reference and diff.visdet in (REQUIRED, None)
    return True


@functools.lru_cache(maxsize=1)
def _golden_signatures() -> dict[str, Any]:
    return read_golden()["signatures"]


def check(key: str, signatures: dict[str, Any] | None = None, listed: dict[str, Any] | None = None) -> list[str]:
    """The problems of one table entry: unlisted differences and listed ones that no longer occur."""
    signatures = _golden_signatures() if signatures is None else signatures
    listed = load_listed() if listed is None else listed
    entry = TABLE[key]
    if entry.reference is None:
        return [] if entry.reason else [f"{key}: no reference and no reason why"]
    if entry.reference not in signatures:
        return [f"{key}: {entry.reference} is not in golden/{GOLDEN_RELPATH}; regenerate it with the reference: "
                "python -m parity.golden generate --only defaults"]  # fmt: skip
    items = listed["components"].get(key, [])
    renames = {i["param"]: i["visdet_name"] for i in items if i["what"] == "renamed"}
    found: list[Difference] = []
    for where, record in visdet_records(key).items():
        found.extend(differences(key, signatures[entry.reference], record, where, renames, signatures))
    problems = []
    used = set()
    for diff in found:
        hits = [i for i, item in enumerate(items) if _matches(item, diff)]
        if hits:
            used.update(hits)
        elif not any(_matches(item, diff) for item in listed["common"]):
            problems.append(f"unlisted difference: {diff}")
    for i, item in enumerate(items):
        if i not in used and item["what"] != "renamed":
            problems.append(f"{key}: listed difference no longer occurs: {item}")
    return problems
