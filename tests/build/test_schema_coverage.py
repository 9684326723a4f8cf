"""Every registered model/data schema takes every keyword of the class it builds, with the same defaults.

The schema is where a config's defaults live; the class keeps keyword defaults for direct
Python use. This test keeps the two from drifting apart, and lists, for each registered
type, the class it builds (a type missing from :data:`BUILDS` fails).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pytest
from pydantic import BaseModel

from visdet.build import REGISTRIES
from visdet.data import transforms
from visdet.data.datasets import CocoDataset
from visdet.evaluation import CocoMetric
from visdet.models import backbones, dense_heads, layers, necks, roi_heads, task_modules
from visdet.models.data_preprocessors import DetDataPreprocessor
from visdet.models.detectors import (
    DINO,
    FCOS,
    RPN,
    CascadeRCNN,
    DeformableDETR,
    FasterRCNN,
    MaskRCNN,
    RetinaNet,
    RTMDet,
)
from visdet.models.losses import (
    CrossEntropyLoss,
    DiceLoss,
    FocalLoss,
    GIoULoss,
    IoULoss,
    L1Loss,
    QualityFocalLoss,
    SmoothL1Loss,
)

MODEL_AND_DATA_KINDS = ("backbone", "neck", "dense_head", "roi_head", "roi_extractor", "roi_layer", "bbox_head",
                        "mask_head", "loss", "positional_encoding", "attention", "transformer_layer", "transformer",
                        "query_generator", "assigner", "match_cost", "iou_calculator", "sampler", "bbox_coder",
                        "prior_generator", "data_preprocessor",
                        "detector", "transform", "dataset", "metric")  # fmt: skip
BUILDS: dict[str, Any] = {
    "ResNet": backbones.ResNet, "ResNetV1d": backbones.ResNetV1d, "ResNeXt": backbones.ResNeXt, "FPN": necks.FPN,
    "SwinTransformer": backbones.SwinTransformer, "CSPNeXt": backbones.CSPNeXt, "CSPNeXtPAFPN": necks.CSPNeXtPAFPN,
    "ChannelMapper": necks.ChannelMapper, "SinePositionalEncoding": layers.SinePositionalEncoding,
    "LearnedPositionalEncoding": layers.LearnedPositionalEncoding,
    "MultiScaleDeformableAttention": layers.MultiScaleDeformableAttention,
    "MultiheadAttention": layers.MultiheadAttention,
    "DeformableDetrTransformerEncoderLayer": layers.DeformableDetrTransformerEncoderLayer,
    "DeformableDetrTransformerDecoderLayer": layers.DeformableDetrTransformerDecoderLayer,
    "DeformableDetrTransformerEncoder": layers.DeformableDetrTransformerEncoder,
    "DeformableDetrTransformerDecoder": layers.DeformableDetrTransformerDecoder,
    "DinoTransformerDecoder": layers.DinoTransformerDecoder, "CdnQueryGenerator": layers.CdnQueryGenerator,
    "RPNHead": dense_heads.RPNHead, "StandardRoIHead": roi_heads.StandardRoIHead,
    "CascadeRoIHead": roi_heads.CascadeRoIHead, "CascadeRCNN": CascadeRCNN,
    "SingleRoIExtractor": roi_heads.SingleRoIExtractor, "RoIAlign": roi_heads.SingleRoIExtractor.build_roi_layers,
    "BBoxHead": roi_heads.BBoxHead, "ConvFCBBoxHead": roi_heads.ConvFCBBoxHead,
    "Shared2FCBBoxHead": roi_heads.Shared2FCBBoxHead, "Shared4Conv1FCBBoxHead": roi_heads.Shared4Conv1FCBBoxHead,
    "CrossEntropyLoss": CrossEntropyLoss, "L1Loss": L1Loss, "SmoothL1Loss": SmoothL1Loss,
    "MaxIoUAssigner": task_modules.MaxIoUAssigner, "BboxOverlaps2D": task_modules.BboxOverlaps2D,
    "RandomSampler": task_modules.RandomSampler, "PseudoSampler": task_modules.PseudoSampler,
    "DeltaXYWHBBoxCoder": task_modules.DeltaXYWHBBoxCoder, "AnchorGenerator": task_modules.AnchorGenerator,
    "DetDataPreprocessor": DetDataPreprocessor, "FasterRCNN": FasterRCNN, "RPN": RPN, "MaskRCNN": MaskRCNN,
    "FCNMaskHead": roi_heads.FCNMaskHead, "RetinaHead": dense_heads.RetinaHead, "RetinaNet": RetinaNet,
    "FocalLoss": FocalLoss, "IoULoss": IoULoss, "FCOSHead": dense_heads.FCOSHead, "FCOS": FCOS,
    "DistancePointBBoxCoder": task_modules.DistancePointBBoxCoder,
    "MlvlPointGenerator": task_modules.MlvlPointGenerator,
    "RTMDetHead": dense_heads.RTMDetHead, "RTMDetSepBNHead": dense_heads.RTMDetSepBNHead, "RTMDet": RTMDet,
    "QualityFocalLoss": QualityFocalLoss, "GIoULoss": GIoULoss,
    "DynamicSoftLabelAssigner": task_modules.DynamicSoftLabelAssigner,
    "RTMDetInsHead": dense_heads.RTMDetInsHead, "RTMDetInsSepBNHead": dense_heads.RTMDetInsSepBNHead,
    "DiceLoss": DiceLoss, "DeformableDETRHead": dense_heads.DeformableDETRHead, "DeformableDETR": DeformableDETR,
    "DINOHead": dense_heads.DINOHead, "DINO": DINO,
    "HungarianAssigner": task_modules.HungarianAssigner, "FocalLossCost": task_modules.FocalLossCost,
    "ClassificationCost": task_modules.ClassificationCost, "BBoxL1Cost": task_modules.BBoxL1Cost,
    "IoUCost": task_modules.IoUCost,
    "CocoDataset": CocoDataset, "CocoMetric": CocoMetric,
    **{name: getattr(transforms, name) for name in ("LoadImageFromFile", "LoadAnnotations", "Resize", "RandomResize",
                                                    "RandomChoiceResize", "RandomChoice",
                                                    "RandomFlip", "Pad", "RandomCrop", "PhotoMetricDistortion",
                                                    "PackDetInputs", "CachedMosaic", "CachedMixUp",
                                                    "YOLOXHSVRandomAug", "FilterAnnotations")},
}  # fmt: skip
# constructor keywords a config does not give directly: built parts, or settings the
# schema holds in another shape (train_cfg/test_cfg, the layers of an extractor)
BUILT = {"anchor_generator", "bbox_coder", "loss_cls", "loss_bbox", "assigner", "sampler", "iou_calculator",
         "test_proposals", "train_proposals", "allowed_border", "pos_weight", "roi_layers", "backbone", "neck",
         "rpn_head", "roi_head", "data_preprocessor", "bbox_roi_extractor", "bbox_head", "bbox_assigner",
         "bbox_sampler", "test_cfg", "featmap_strides", "mask_size", "soft_mask_target", "loss_mask",
         "upsample_method", "scale_factor", "loss_centerness", "loss_iou", "match_costs"}  # fmt: skip
# init-only keys: accepted by the schema and ignored (the classes keep mmdet's default init)
NOT_COMPARED = {"init_cfg", "pretrained"}
# keywords a subclass fixes before passing the rest on (mmdet's classes fix the same ones)
BRANCHES = {f"num_{part}" for part in ("shared_convs", "shared_fcs", "cls_convs", "cls_fcs", "reg_convs", "reg_fcs")}
FIXED = {"BBoxHead": BRANCHES | {"conv_out_channels", "fc_out_channels", "conv_cfg", "norm_cfg"},
         "Shared2FCBBoxHead": BRANCHES, "Shared4Conv1FCBBoxHead": BRANCHES,
         "ResNetV1d": {"deep_stem", "avg_down"},
         # written by the DETR detector from its settings (the schema's None stands for mmdet's defaults)
         "DeformableDETRHead": {"share_pred_layer", "num_pred_layer", "as_two_stage"},
         "DINOHead": {"share_pred_layer", "num_pred_layer", "as_two_stage"}}  # fmt: skip
TYPES = sorted(name for kind in MODEL_AND_DATA_KINDS for name in REGISTRIES[kind].names())


def _parameters(factory: Any) -> dict[str, inspect.Parameter]:
    """Keyword parameters of ``factory``, following ``**kwargs`` into the base classes."""
    params: dict[str, inspect.Parameter] = {}
    classes = factory.__mro__ if isinstance(factory, type) else (factory,)
    for cls in classes:
        if isinstance(cls, type) and "__init__" not in vars(cls):
            continue
        signature = inspect.signature(cls.__init__ if isinstance(cls, type) else cls)
        for name, param in signature.parameters.items():
            if name != "self" and param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD):
                params.setdefault(name, param)
        if not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
            break
    return params


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return _plain(value.model_dump(exclude_none=True))
    if isinstance(value, (Mapping, MappingProxyType)):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def test_every_registered_type_names_its_class():
    assert set(TYPES) <= set(BUILDS), f"add the class of {sorted(set(TYPES) - set(BUILDS))} to BUILDS"


@pytest.mark.parametrize("name", TYPES)
def test_schema_takes_every_keyword_with_the_same_default(name):
    schema = next(REGISTRIES[kind].get(name) for kind in MODEL_AND_DATA_KINDS if name in REGISTRIES[kind])
    params = {key: p for key, p in _parameters(BUILDS[name]).items() if key not in FIXED.get(name, ())}
    fields = schema.model_fields
    missing = set(params) - BUILT - set(fields) - {"dataset"}
    assert not missing, f"{name} schema lacks {sorted(missing)}"
    for key, param in params.items():
        if key not in fields or key in NOT_COMPARED or param.default is inspect.Parameter.empty:
            continue
        if key in BUILT:  # the schema's default is a config (compared with mmdet's in parity/test_defaults.py)
            continue
        field = fields[key]
        if field.is_required():
            continue
        default = field.get_default(call_default_factory=True)
        assert _plain(default) == _plain(param.default), f"{name}.{key}: schema {default!r} != class {param.default!r}"
