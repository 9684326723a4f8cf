"""Build a ``FasterRCNN`` from mmdet's model config dict.

Input: the ``model=dict(type='FasterRCNN', backbone=..., neck=..., rpn_head=...,
roi_head=..., train_cfg=..., test_cfg=..., data_preprocessor=...)`` of an mmdet 3.x
config (e.g. ``faster-rcnn_r50_fpn_1x_coco.py``), as a plain dict. mmdet keywords map
one to one onto visdet's constructors; the train/test settings mmdet passes through
``train_cfg``/``test_cfg`` go to the head that uses them. Unsupported types or keys
raise errors naming the config path.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from visdet.models.builders.components import (
    INIT_ONLY_KEYS,
    build_component,
    call_with,
    check_keys,
    config_type,
)
from visdet.models.data_preprocessors import DetDataPreprocessor
from visdet.models.dense_heads import ProposalConfig, RPNHead
from visdet.models.detectors import FasterRCNN
from visdet.models.roi_heads import (
    BBoxHead,
    ConvFCBBoxHead,
    RCNNTestConfig,
    Shared2FCBBoxHead,
    Shared4Conv1FCBBoxHead,
    SingleRoIExtractor,
    StandardRoIHead,
)

BBOX_HEADS = {
    "BBoxHead": BBoxHead,
    "ConvFCBBoxHead": ConvFCBBoxHead,
    "Shared2FCBBoxHead": Shared2FCBBoxHead,
    "Shared4Conv1FCBBoxHead": Shared4Conv1FCBBoxHead,
}
# mmdet options that only feed debugging/visualisation; accepted and ignored.
IGNORED_TRAIN_KEYS = frozenset({"debug"})
# DetDataPreprocessor options visdet accepts only at their no-op values.
PREPROCESSOR_NOOPS = {"pad_mask": False, "pad_seg": False, "batch_augments": None}


def _proposal_config(cfg: Mapping[str, Any] | None, where: str) -> ProposalConfig | None:
    if cfg is None:
        return None
    check_keys(cfg, {"nms_pre", "max_per_img", "nms", "min_bbox_size"}, where, "proposal settings")
    return ProposalConfig(**dict(cfg))


def _rcnn_test_config(cfg: Mapping[str, Any] | None, where: str) -> RCNNTestConfig | None:
    if cfg is None:
        return None
    check_keys(cfg, {"score_thr", "nms", "max_per_img"}, where, "rcnn test settings")
    return RCNNTestConfig(**dict(cfg))


def _stage_settings(head_kwargs: dict[str, Any], key: str, stage: str, detector_value: Any, where: str) -> Any:
    """One stage's train/test settings: the detector's ``<key>.<stage>`` or the head's own.

    mmdet also accepts them on the head (``roi_head.train_cfg``), and writes them there
    itself when it builds a detector, so both places are read; they must agree.
    """
    head_value = head_kwargs.pop(key, None)
    if detector_value is not None and head_value is not None and dict(head_value) != dict(detector_value):
        raise ValueError(f"{where}.{key} differs from the model's {key}.{stage}; give it in one place")
    return detector_value if detector_value is not None else head_value


def _train_parts(cfg: Mapping[str, Any] | None, where: str, extra: set[str]) -> dict[str, Any]:
    """Assigner, sampler and the extra keys of one stage's training settings."""
    if cfg is None:
        return {}
    check_keys(cfg, {"assigner", "sampler"} | extra | IGNORED_TRAIN_KEYS, where, "training settings")
    parts = {key: cfg[key] for key in extra if key in cfg}
    parts["assigner"] = build_component(cfg["assigner"], "assigner", f"{where}.assigner")
    if cfg.get("sampler") is not None:
        parts["sampler"] = build_component(cfg["sampler"], "sampler", f"{where}.sampler")
    else:
        parts["sampler"] = build_component({"type": "PseudoSampler"}, "sampler", f"{where}.sampler")
    return parts


def build_rpn_head(cfg: Any, train_cfg: Mapping[str, Any] | None, test_cfg: Mapping[str, Any] | None) -> RPNHead:
    """``RPNHead`` from ``model.rpn_head`` plus ``train_cfg.rpn``/``rpn_proposal`` and ``test_cfg.rpn``."""
    name, kwargs = config_type(cfg, "rpn_head")
    if name != "RPNHead":
        raise ValueError(f"rpn_head: unsupported type {name!r} (supported: ['RPNHead'])")
    for key in INIT_ONLY_KEYS:
        kwargs.pop(key, None)
    num_classes = kwargs.pop("num_classes", 1)
    if num_classes != 1:  # mmdet warns and forces 1: proposals are class-agnostic
        warnings.warn(f"rpn_head.num_classes should be 1, got {num_classes}; using 1", stacklevel=2)
    if "anchor_generator" in kwargs:
        kwargs["anchor_generator"] = build_component(
            kwargs["anchor_generator"], "anchor_generator", "rpn_head.anchor_generator"
        )
    else:
        raise KeyError("rpn_head: config has no 'anchor_generator'")
    coder = kwargs.get("bbox_coder", {"type": "DeltaXYWHBBoxCoder"})
    kwargs["bbox_coder"] = build_component(coder, "bbox_coder", "rpn_head.bbox_coder")
    loss_cls = kwargs.get("loss_cls", {"type": "CrossEntropyLoss", "use_sigmoid": True, "loss_weight": 1.0})
    loss_bbox = kwargs.get("loss_bbox", {"type": "SmoothL1Loss", "beta": 1.0 / 9.0, "loss_weight": 1.0})
    kwargs["loss_cls"] = build_component(loss_cls, "loss", "rpn_head.loss_cls")
    kwargs["loss_bbox"] = build_component(loss_bbox, "loss", "rpn_head.loss_bbox")
    train_cfg = train_cfg or {}
    rpn_train = _stage_settings(kwargs, "train_cfg", "rpn", train_cfg.get("rpn"), "rpn_head")
    rpn_test = _stage_settings(kwargs, "test_cfg", "rpn", (test_cfg or {}).get("rpn"), "rpn_head")
    kwargs.update(_train_parts(rpn_train, "train_cfg.rpn", {"allowed_border", "pos_weight"}))
    kwargs["train_proposals"] = _proposal_config(train_cfg.get("rpn_proposal"), "train_cfg.rpn_proposal")
    kwargs["test_proposals"] = _proposal_config(rpn_test, "test_cfg.rpn")
    return call_with(RPNHead, kwargs, "rpn_head", "RPNHead")


def build_roi_extractor(cfg: Any, where: str) -> SingleRoIExtractor:
    """``SingleRoIExtractor`` with one ``RoIAlign`` per stride."""
    name, kwargs = config_type(cfg, where)
    if name != "SingleRoIExtractor":
        raise ValueError(f"{where}: unsupported type {name!r} (supported: ['SingleRoIExtractor'])")
    for key in INIT_ONLY_KEYS:
        kwargs.pop(key, None)
    check_keys(kwargs, {"roi_layer", "out_channels", "featmap_strides", "finest_scale"}, where, name)
    layer_name, layer_kwargs = config_type(kwargs.pop("roi_layer"), f"{where}.roi_layer")
    if layer_name != "RoIAlign":
        raise ValueError(f"{where}.roi_layer: unsupported type {layer_name!r} (supported: RoIAlign)")
    if layer_kwargs.pop("use_torchvision", False):
        raise ValueError(f"{where}.roi_layer: use_torchvision=True is not supported")
    layer_keys = {"output_size", "sampling_ratio", "pool_mode", "aligned"}
    check_keys(layer_kwargs, layer_keys, f"{where}.roi_layer", "RoIAlign")
    layers = SingleRoIExtractor.build_roi_layers(featmap_strides=kwargs["featmap_strides"], **layer_kwargs)
    return SingleRoIExtractor(roi_layers=layers, **kwargs)


def build_bbox_head(cfg: Any, where: str) -> ConvFCBBoxHead:
    """A box head of the ConvFC family with built coder and losses."""
    name, kwargs = config_type(cfg, where)
    if name not in BBOX_HEADS:
        raise ValueError(f"{where}: unsupported type {name!r} (supported: {sorted(BBOX_HEADS)})")
    for key in INIT_ONLY_KEYS:
        kwargs.pop(key, None)
    if kwargs.pop("predict_box_type", "hbox") != "hbox":
        raise ValueError(f"{where}: only predict_box_type='hbox' is supported")
    for key in ("reg_predictor_cfg", "cls_predictor_cfg"):
        predictor = kwargs.pop(key, {"type": "Linear"})
        if dict(predictor) != {"type": "Linear"}:
            raise ValueError(f"{where}.{key}: only dict(type='Linear') is supported, got {dict(predictor)}")
    coder = kwargs.get(
        "bbox_coder",
        {"type": "DeltaXYWHBBoxCoder", "target_means": [0.0] * 4, "target_stds": [0.1, 0.1, 0.2, 0.2]},
    )
    kwargs["bbox_coder"] = build_component(coder, "bbox_coder", f"{where}.bbox_coder")
    loss_cls = kwargs.get("loss_cls", {"type": "CrossEntropyLoss", "use_sigmoid": False, "loss_weight": 1.0})
    loss_bbox = kwargs.get("loss_bbox", {"type": "SmoothL1Loss", "beta": 1.0, "loss_weight": 1.0})
    kwargs["loss_cls"] = build_component(loss_cls, "loss", f"{where}.loss_cls")
    kwargs["loss_bbox"] = build_component(loss_bbox, "loss", f"{where}.loss_bbox")
    if getattr(kwargs["loss_cls"], "use_sigmoid", False):
        raise ValueError(f"{where}.loss_cls: the box head needs a softmax loss (use_sigmoid=False)")
    return call_with(BBOX_HEADS[name], kwargs, where, name)


def build_roi_head(
    cfg: Any, train_cfg: Mapping[str, Any] | None, test_cfg: Mapping[str, Any] | None
) -> StandardRoIHead:
    """``StandardRoIHead`` from ``model.roi_head`` plus ``train_cfg.rcnn`` and ``test_cfg.rcnn``."""
    name, kwargs = config_type(cfg, "roi_head")
    if name != "StandardRoIHead":
        raise ValueError(f"roi_head: unsupported type {name!r} (supported: ['StandardRoIHead'])")
    for key in INIT_ONLY_KEYS:
        kwargs.pop(key, None)
    for key in ("mask_roi_extractor", "mask_head", "shared_head"):
        if kwargs.pop(key, None) is not None:
            raise ValueError(f"roi_head.{key} is not supported yet")
    rcnn_train = _stage_settings(kwargs, "train_cfg", "rcnn", (train_cfg or {}).get("rcnn"), "roi_head")
    rcnn_test = _stage_settings(kwargs, "test_cfg", "rcnn", (test_cfg or {}).get("rcnn"), "roi_head")
    check_keys(kwargs, {"bbox_roi_extractor", "bbox_head"}, "roi_head", name)
    parts = _train_parts(rcnn_train, "train_cfg.rcnn", {"pos_weight"})
    return StandardRoIHead(
        bbox_roi_extractor=build_roi_extractor(kwargs["bbox_roi_extractor"], "roi_head.bbox_roi_extractor"),
        bbox_head=build_bbox_head(kwargs["bbox_head"], "roi_head.bbox_head"),
        bbox_assigner=parts.get("assigner"),
        bbox_sampler=parts.get("sampler"),
        pos_weight=parts.get("pos_weight", -1.0),
        test_cfg=_rcnn_test_config(rcnn_test, "test_cfg.rcnn"),
    )


def build_data_preprocessor(cfg: Any) -> DetDataPreprocessor:
    """``DetDataPreprocessor`` from ``model.data_preprocessor``."""
    name, kwargs = config_type(cfg, "data_preprocessor")
    if name != "DetDataPreprocessor":
        raise ValueError(f"data_preprocessor: unsupported type {name!r} (supported: ['DetDataPreprocessor'])")
    for key, noop in PREPROCESSOR_NOOPS.items():
        if kwargs.pop(key, noop) != noop:
            raise ValueError(f"data_preprocessor.{key} is not supported (must be {noop!r})")
    for key in ("boxtype2tensor", "non_blocking", "mask_pad_value", "seg_pad_value"):
        kwargs.pop(key, None)  # no effect on image tensors
    return call_with(DetDataPreprocessor, kwargs, "data_preprocessor", name)


def build_faster_rcnn(model_cfg: Mapping[str, Any]) -> FasterRCNN:
    """Build a ``FasterRCNN`` from an mmdet model config dict.

    Args:
        model_cfg: The ``model`` dict of an mmdet config (``type='FasterRCNN'``).

    Returns:
        The detector; its ``state_dict`` keys equal mmdet's for the same config.

    Raises:
        ValueError / KeyError / TypeError: For unsupported types or unknown keys, naming
            the config path.
    """
    name, kwargs = config_type(model_cfg, "model")
    if name != "FasterRCNN":
        raise ValueError(f"model: unsupported type {name!r} (supported: ['FasterRCNN'])")
    kwargs.pop("init_cfg", None)
    check_keys(
        kwargs,
        {"backbone", "neck", "rpn_head", "roi_head", "train_cfg", "test_cfg", "data_preprocessor"},
        "model",
        name,
    )
    if kwargs.get("test_cfg") is None:
        raise KeyError("model: FasterRCNN needs test_cfg (with 'rpn' and 'rcnn')")
    train_cfg, test_cfg = kwargs.get("train_cfg"), kwargs["test_cfg"]
    if train_cfg is not None:
        check_keys(train_cfg, {"rpn", "rpn_proposal", "rcnn"}, "train_cfg", "FasterRCNN training settings")
    check_keys(test_cfg, {"rpn", "rcnn"}, "test_cfg", "FasterRCNN test settings")
    preprocessor = kwargs.get("data_preprocessor")
    neck = kwargs.get("neck")
    return FasterRCNN(
        backbone=build_component(kwargs["backbone"], "backbone", "backbone"),
        neck=build_component(neck, "neck", "neck") if neck is not None else None,
        rpn_head=build_rpn_head(kwargs["rpn_head"], train_cfg, test_cfg),
        roi_head=build_roi_head(kwargs["roi_head"], train_cfg, test_cfg),
        data_preprocessor=build_data_preprocessor(preprocessor) if preprocessor is not None else None,
    )
