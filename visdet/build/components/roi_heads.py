"""RoI-head schemas: ``RoIAlign``, ``SingleRoIExtractor``, the ConvFC box heads and the RoI heads."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from visdet.build.component import Component, ComponentOf, InitConfig, Section, component_default, init_field
from visdet.build.components.train_settings import RCNNTrainSettings
from visdet.build.registry import registry
from visdet.models.roi_heads import (
    BBoxHead,
    CascadeRoIHead,
    ConvFCBBoxHead,
    RCNNTestConfig,
    RoIAlign,
    Shared2FCBBoxHead,
    Shared4Conv1FCBBoxHead,
    SingleRoIExtractor,
    StandardRoIHead,
)

NOT_IMPLEMENTED = "not implemented in visdet yet (must be null)"


@registry("roi_layer").register
class RoIAlignConfig(Component):
    """``RoIAlign`` layer of an RoI extractor (one per feature level)."""

    type: Literal["RoIAlign"]
    output_size: int | list[int] = 7
    sampling_ratio: int = Field(0, ge=0)
    pool_mode: Literal["avg", "max"] = "avg"
    aligned: bool = True
    use_torchvision: Literal[False] = False
    example: ClassVar[dict[str, Any]] = {"type": "RoIAlign", "output_size": 2}

    def build(self, *, featmap_strides: list[int]) -> list[RoIAlign]:
        """One layer per level, with ``spatial_scale = 1 / stride``."""
        return SingleRoIExtractor.build_roi_layers(featmap_strides=featmap_strides, **self.arguments("use_torchvision"))


@registry("roi_extractor").register
class SingleRoIExtractorConfig(Component):
    """``SingleRoIExtractor``: each RoI pooled from one FPN level chosen by its scale."""

    type: Literal["SingleRoIExtractor"]
    roi_layer: Annotated[Component, ComponentOf("roi_layer")]
    out_channels: int = Field(ge=1)
    featmap_strides: list[int] = Field(min_length=1)
    finest_scale: float = 56
    init_cfg: InitConfig = init_field()
    example: ClassVar[dict[str, Any]] = {"type": "SingleRoIExtractor", "roi_layer": {"type": "RoIAlign",
                                         "output_size": 2}, "out_channels": 4, "featmap_strides": [4, 8]}  # fmt: skip

    def build(self) -> SingleRoIExtractor:
        """The extractor and its per-level layers."""
        layers = self.roi_layer.build(featmap_strides=self.featmap_strides)
        return SingleRoIExtractor(roi_layers=layers, **self.arguments("roi_layer"))


class LinearConfig(Section):
    """``reg_predictor_cfg`` / ``cls_predictor_cfg``: only ``nn.Linear`` predictors exist."""

    type: Literal["Linear"] = "Linear"


class _BBoxHeadFields(Component):
    """The fields of mmdet's ``BBoxHead``, which the whole family takes."""

    with_avg_pool: bool = False
    with_cls: bool = True
    with_reg: bool = True
    roi_feat_size: int = Field(7, ge=1)
    in_channels: int = Field(256, ge=1)
    num_classes: int = Field(80, ge=1)
    bbox_coder: Annotated[Component, ComponentOf("bbox_coder")] = component_default(
        {"type": "DeltaXYWHBBoxCoder", "target_means": [0.0] * 4, "target_stds": [0.1, 0.1, 0.2, 0.2]}
    )
    predict_box_type: Literal["hbox"] = "hbox"
    reg_class_agnostic: bool = False
    reg_decoded_bbox: bool = False
    reg_predictor_cfg: LinearConfig = LinearConfig()
    cls_predictor_cfg: LinearConfig = LinearConfig()
    loss_cls: Annotated[Component, ComponentOf("loss")] = component_default(
        {"type": "CrossEntropyLoss", "use_sigmoid": False, "loss_weight": 1.0}
    )
    loss_bbox: Annotated[Component, ComponentOf("loss")] = component_default(
        {"type": "SmoothL1Loss", "beta": 1.0, "loss_weight": 1.0}
    )
    init_cfg: InitConfig = init_field()

    @model_validator(mode="after")
    def _softmax_classifier(self) -> _BBoxHeadFields:
        if getattr(self.loss_cls, "use_sigmoid", False):
            raise ValueError("loss_cls: the box head needs a softmax loss (use_sigmoid=False)")
        return self

    def head_arguments(self, *exclude: str) -> dict[str, Any]:
        """Constructor keywords with the coder and losses built."""
        built = ("bbox_coder", "loss_cls", "loss_bbox")
        kwargs = self.arguments(*built, "predict_box_type", "reg_predictor_cfg", "cls_predictor_cfg", *exclude)
        return {**kwargs, "bbox_coder": self.bbox_coder.build(), "loss_cls": self.loss_cls.build(),
                "loss_bbox": self.loss_bbox.build()}  # fmt: skip


class _SharedFCFields(_BBoxHeadFields):
    """What the ConvFC heads add: the widths and layers of their convs and fcs."""

    conv_out_channels: int = Field(256, ge=1)
    fc_out_channels: int = Field(1024, ge=1)
    conv_cfg: dict[str, Any] | None = None
    norm_cfg: dict[str, Any] | None = None


SMALL_BBOX_HEAD = {"in_channels": 4, "roi_feat_size": 2, "num_classes": 3}


@registry("bbox_head").register
class BBoxHeadConfig(_BBoxHeadFields):
    """``BBoxHead``: linear classifier and regressor straight on the RoI features."""

    type: Literal["BBoxHead"]
    example: ClassVar[dict[str, Any]] = {"type": "BBoxHead", **SMALL_BBOX_HEAD}

    def build(self) -> BBoxHead:
        """The box head."""
        return BBoxHead(**self.head_arguments())


@registry("bbox_head").register
class ConvFCBBoxHeadConfig(_SharedFCFields):
    """``ConvFCBBoxHead``: shared then per-branch convs and fcs."""

    type: Literal["ConvFCBBoxHead"]
    num_shared_convs: int = Field(0, ge=0)
    num_shared_fcs: int = Field(0, ge=0)
    num_cls_convs: int = Field(0, ge=0)
    num_cls_fcs: int = Field(0, ge=0)
    num_reg_convs: int = Field(0, ge=0)
    num_reg_fcs: int = Field(0, ge=0)
    example: ClassVar[dict[str, Any]] = {"type": "ConvFCBBoxHead", **SMALL_BBOX_HEAD, "num_shared_convs": 1,
                                         "num_cls_fcs": 1, "num_reg_fcs": 1, "conv_out_channels": 4,
                                         "fc_out_channels": 8}  # fmt: skip

    def build(self) -> ConvFCBBoxHead:
        """The box head."""
        return ConvFCBBoxHead(**self.head_arguments())


@registry("bbox_head").register
class Shared2FCBBoxHeadConfig(_SharedFCFields):
    """``Shared2FCBBoxHead``: two shared fcs (Faster R-CNN's box head)."""

    type: Literal["Shared2FCBBoxHead"]
    example: ClassVar[dict[str, Any]] = {"type": "Shared2FCBBoxHead", **SMALL_BBOX_HEAD, "fc_out_channels": 8}

    def build(self) -> Shared2FCBBoxHead:
        """The box head."""
        return Shared2FCBBoxHead(**self.head_arguments())


@registry("bbox_head").register
class Shared4Conv1FCBBoxHeadConfig(_SharedFCFields):
    """``Shared4Conv1FCBBoxHead``: four shared 3x3 convs and one shared fc."""

    type: Literal["Shared4Conv1FCBBoxHead"]
    example: ClassVar[dict[str, Any]] = {"type": "Shared4Conv1FCBBoxHead", **SMALL_BBOX_HEAD,
                                         "conv_out_channels": 4, "fc_out_channels": 8}  # fmt: skip

    def build(self) -> Shared4Conv1FCBBoxHead:
        """The box head."""
        return Shared4Conv1FCBBoxHead(**self.head_arguments())


@registry("roi_head").register
class StandardRoIHeadConfig(Component):
    """``StandardRoIHead``: RoI pooling plus a box head, with its train and test settings."""

    type: Literal["StandardRoIHead"]
    bbox_roi_extractor: Annotated[Component, ComponentOf("roi_extractor")]
    bbox_head: Annotated[Component, ComponentOf("bbox_head")]
    mask_roi_extractor: Annotated[Component, ComponentOf("roi_extractor")] | None = Field(
        None, description="mask branch RoI extractor; null with a mask_head shares the box extractor"
    )
    mask_head: Annotated[Component, ComponentOf("mask_head")] | None = None
    shared_head: None = Field(None, description=NOT_IMPLEMENTED)
    train_cfg: RCNNTrainSettings | None = Field(None, description="mmdet's train_cfg.rcnn")
    test_cfg: RCNNTestConfig | None = Field(None, description="mmdet's test_cfg.rcnn")
    init_cfg: InitConfig = init_field()
    example: ClassVar[dict[str, Any]] = {
        "type": "StandardRoIHead",
        "bbox_roi_extractor": SingleRoIExtractorConfig.example,
        "bbox_head": Shared2FCBBoxHeadConfig.example,
        "train_cfg": {"assigner": {"type": "MaxIoUAssigner", "pos_iou_thr": 0.5, "neg_iou_thr": 0.5},
                      "sampler": {"type": "RandomSampler", "num": 16, "pos_fraction": 0.25}},
        "test_cfg": {"score_thr": 0.0},
    }  # fmt: skip

    @model_validator(mode="after")
    def _mask_branch(self) -> StandardRoIHeadConfig:
        if self.mask_roi_extractor is not None and self.mask_head is None:
            raise ValueError("mask_roi_extractor is given but mask_head is not")
        if self.mask_head is not None:
            mask_classes = getattr(self.mask_head, "num_classes", None)
            bbox_classes = getattr(self.bbox_head, "num_classes", None)
            if mask_classes != bbox_classes:
                raise ValueError(
                    f"mask_head.num_classes ({mask_classes}) differs from bbox_head.num_classes ({bbox_classes})"
                )
        return self

    def build(self) -> StandardRoIHead:
        """The RoI head, with its training parts when ``train_cfg`` is given."""
        train = self.train_cfg
        return StandardRoIHead(
            bbox_roi_extractor=self.bbox_roi_extractor.build(),
            bbox_head=self.bbox_head.build(),
            bbox_assigner=train.assigner.build() if train is not None else None,
            bbox_sampler=train.build_sampler() if train is not None else None,
            pos_weight=train.pos_weight if train is not None else -1.0,
            test_cfg=self.test_cfg,
            mask_roi_extractor=self.mask_roi_extractor.build() if self.mask_roi_extractor is not None else None,
            mask_head=self.mask_head.build() if self.mask_head is not None else None,
            mask_size=train.mask_size if train is not None else None,
            soft_mask_target=train.soft_mask_target if train is not None else False,
        )


RoIExtractorField = Annotated[Component, ComponentOf("roi_extractor")]
BBoxHeadField = Annotated[Component, ComponentOf("bbox_head")]
MaskHeadField = Annotated[Component, ComponentOf("mask_head")]


def _stages(value: Any, num_stages: int) -> list[Any]:
    """One config for all stages (mmdet builds a copy per stage), or a list of S configs."""
    return list(value) if isinstance(value, list) else [value] * num_stages


@registry("roi_head").register
class CascadeRoIHeadConfig(Component):
    """``CascadeRoIHead``: S box stages (optionally with mask heads), each refining the last one's boxes.

    ``bbox_roi_extractor``, ``bbox_head``, ``mask_roi_extractor`` and ``mask_head`` take
    one config (built once per stage) or a list of S; ``train_cfg`` is mmdet's
    ``train_cfg.rcnn`` list, one assigner/sampler setting per stage.
    """

    type: Literal["CascadeRoIHead"]
    num_stages: int = Field(ge=1)
    stage_loss_weights: list[float]
    bbox_roi_extractor: RoIExtractorField | list[RoIExtractorField]
    bbox_head: BBoxHeadField | list[BBoxHeadField]
    mask_roi_extractor: RoIExtractorField | list[RoIExtractorField] | None = Field(
        None, description="mask RoI extractor(s); null with mask heads shares the box extractors"
    )
    mask_head: MaskHeadField | list[MaskHeadField] | None = None
    shared_head: None = Field(None, description="not supported by mmdet's CascadeRoIHead either (must be null)")
    train_cfg: list[RCNNTrainSettings] | None = Field(None, description="mmdet's train_cfg.rcnn: one entry per stage")
    test_cfg: RCNNTestConfig | None = Field(None, description="mmdet's test_cfg.rcnn")
    init_cfg: InitConfig = init_field()
    example: ClassVar[dict[str, Any]] = {
        "type": "CascadeRoIHead",
        "num_stages": 2,
        "stage_loss_weights": [1.0, 0.5],
        "bbox_roi_extractor": SingleRoIExtractorConfig.example,
        "bbox_head": {**Shared2FCBBoxHeadConfig.example, "reg_class_agnostic": True},
        "train_cfg": [{"assigner": {"type": "MaxIoUAssigner", "pos_iou_thr": iou, "neg_iou_thr": iou},
                       "sampler": {"type": "RandomSampler", "num": 16, "pos_fraction": 0.25}} for iou in (0.5, 0.6)],
        "test_cfg": {"score_thr": 0.0},
    }  # fmt: skip

    @model_validator(mode="after")
    def _per_stage(self) -> CascadeRoIHeadConfig:
        stages = self.num_stages
        lists = {"stage_loss_weights": self.stage_loss_weights, "train_cfg": self.train_cfg}
        for name in ("bbox_roi_extractor", "bbox_head", "mask_roi_extractor", "mask_head"):
            if isinstance(getattr(self, name), list):
                lists[name] = getattr(self, name)
        for name, value in lists.items():
            if value is not None and len(value) != stages:
                raise ValueError(f"{name} has {len(value)} entries; num_stages is {stages}")
        if self.mask_roi_extractor is not None and self.mask_head is None:
            raise ValueError("mask_roi_extractor is given but mask_head is not")
        if self.mask_head is not None:
            bbox_classes = {getattr(h, "num_classes", None) for h in _stages(self.bbox_head, stages)}
            for i, head in enumerate(_stages(self.mask_head, stages)):
                if {getattr(head, "num_classes", None)} != bbox_classes:
                    raise ValueError(
                        f"mask_head[{i}].num_classes ({getattr(head, 'num_classes', None)}) differs from "
                        f"bbox_head.num_classes ({', '.join(str(c) for c in sorted(bbox_classes, key=str))})"
                    )
        return self

    def build(self) -> CascadeRoIHead:
        """The cascade, with its per-stage training parts when ``train_cfg`` is given."""
        stages = self.num_stages
        train = self.train_cfg
        masks = self.mask_head is not None
        return CascadeRoIHead(
            num_stages=stages,
            stage_loss_weights=self.stage_loss_weights,
            bbox_roi_extractor=[c.build() for c in _stages(self.bbox_roi_extractor, stages)],
            bbox_head=[c.build() for c in _stages(self.bbox_head, stages)],
            bbox_assigner=[t.assigner.build() for t in train] if train is not None else None,
            bbox_sampler=[t.build_sampler() for t in train] if train is not None else None,
            pos_weight=[t.pos_weight for t in train] if train is not None else None,
            test_cfg=self.test_cfg,
            mask_head=[c.build() for c in _stages(self.mask_head, stages)] if masks else None,
            mask_roi_extractor=(
                [c.build() for c in _stages(self.mask_roi_extractor, stages)]
                if self.mask_roi_extractor is not None
                else None
            ),
            mask_size=[t.mask_size for t in train] if train is not None else None,
            soft_mask_target=[t.soft_mask_target for t in train] if train is not None else None,
        )
