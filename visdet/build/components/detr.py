"""DETR-family schemas: ``DeformableDETRHead`` and the ``DeformableDETR`` detector.

mmdet's DETR detectors take ``encoder``, ``decoder`` and ``positional_encoding`` as plain dicts
without ``type`` (the detector knows the classes); they are validated here against the
registered transformer schemas. mmdet's detector also writes three of the head's keywords
(``share_pred_layer``, ``num_pred_layer``, ``as_two_stage``) from its own settings and refuses
them in the head's config; this schema refuses values that differ from what it writes (a config
that went through mmdet's constructor, which writes them into the dict in place, still builds).
``train_cfg`` (the ``HungarianAssigner``) and ``test_cfg`` (``max_per_img``) are routed onto the
head, as for every one-stage detector.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from visdet.build.component import Component, ComponentOf, InitConfig, Section, component_default, init_field
from visdet.build.components.detectors import _DetectorFields
from visdet.build.components.transformer import (
    DeformableDetrTransformerDecoderConfig,
    DeformableDetrTransformerEncoderConfig,
    SinePositionalEncodingConfig,
)
from visdet.build.registry import registry
from visdet.build.routing import SINGLE_STAGE_ROUTES, Route
from visdet.models.dense_heads import DeformableDETRHead
from visdet.models.detectors import DeformableDETR

#: The head keywords mmdet's DeformableDETR sets itself (a config must not give them).
DETECTOR_SET_HEAD_KEYS = ("share_pred_layer", "num_pred_layer", "as_two_stage")
SET_BY_DETECTOR = "set by a DETR detector from its own settings (a detector's bbox_head must leave it out)"


class DETRTrainSettings(Section):
    """A DETR head's training settings (mmdet's ``train_cfg`` of a DETR): the query-to-gt matcher."""

    assigner: Annotated[Component, ComponentOf("assigner")]
    sampler: None = Field(None, description="DETR heads build no sampler (mmdet raises if one is given)")


class DETRTestSettings(Section):
    """A DETR head's test settings: detections kept per image (top scores over queries and classes)."""

    max_per_img: int = Field(100, ge=1)


@registry("dense_head").register
class DeformableDETRHeadConfig(Component):
    """``DeformableDETRHead``: per decoder layer a classifier and a box regressor (shared without refinement)."""

    type: Literal["DeformableDETRHead"]
    num_classes: int = Field(ge=1)
    embed_dims: int = Field(256, ge=1)
    num_reg_fcs: int = Field(2, ge=0)
    sync_cls_avg_factor: bool = False
    loss_cls: Annotated[Component, ComponentOf("loss")] = component_default(
        {"type": "FocalLoss", "use_sigmoid": True, "gamma": 2.0, "alpha": 0.25, "loss_weight": 2.0}
    )
    loss_bbox: Annotated[Component, ComponentOf("loss")] = component_default({"type": "L1Loss", "loss_weight": 5.0})
    loss_iou: Annotated[Component, ComponentOf("loss")] = component_default({"type": "GIoULoss", "loss_weight": 2.0})
    # None: mmdet's defaults (False, 6, False); a DETR detector sets them from its own settings
    share_pred_layer: bool | None = Field(None, description=f"{SET_BY_DETECTOR} (mmdet's default: false)")
    num_pred_layer: int | None = Field(None, ge=1, description=f"{SET_BY_DETECTOR} (mmdet's default: 6)")
    as_two_stage: bool | None = Field(None, description=f"{SET_BY_DETECTOR} (mmdet's default: false)")
    train_cfg: DETRTrainSettings | None = Field(None, description="mmdet's train_cfg of a DETR (the assigner)")
    test_cfg: DETRTestSettings | None = Field(default_factory=DETRTestSettings)
    init_cfg: InitConfig = init_field()
    example: ClassVar[dict[str, Any]] = {"type": "DeformableDETRHead", "num_classes": 3, "embed_dims": 8,
                                         "num_pred_layer": 2, "test_cfg": {"max_per_img": 5},
                                         "train_cfg": {"assigner": {"type": "HungarianAssigner", "match_costs": [
                                             {"type": "FocalLossCost", "weight": 2.0},
                                             {"type": "BBoxL1Cost", "weight": 5.0, "box_format": "xywh"},
                                             {"type": "IoUCost", "iou_mode": "giou", "weight": 2.0}]}}}  # fmt: skip
    #: The class built (``DINOHead``'s schema reuses this one).
    head_class: ClassVar[type[DeformableDETRHead]] = DeformableDETRHead

    def build(self) -> DeformableDETRHead:
        """The head, with its assigner when ``train_cfg`` is given."""
        detector_set = {key: value for key in DETECTOR_SET_HEAD_KEYS if (value := getattr(self, key)) is not None}
        return self.head_class(
            **self.arguments("loss_cls", "loss_bbox", "loss_iou", "train_cfg", "test_cfg", *DETECTOR_SET_HEAD_KEYS),
            **detector_set,
            loss_cls=self.loss_cls.build(),
            loss_bbox=self.loss_bbox.build(),
            loss_iou=self.loss_iou.build(),
            assigner=self.train_cfg.assigner.build() if self.train_cfg is not None else None,
            train_cfg=self.train_cfg.model_dump(exclude_none=True) if self.train_cfg is not None else None,
            test_cfg=self.test_cfg.plain() if self.test_cfg is not None else None,
        )


_SMALL_MSDA = {"embed_dims": 8, "num_heads": 2, "num_levels": 2, "num_points": 2, "batch_first": True}
_SMALL_FFN = {"embed_dims": 8, "feedforward_channels": 16}
TINY_DEFORMABLE_DETR = {
    "type": "DeformableDETR", "num_queries": 5, "num_feature_levels": 2,
    "backbone": {"type": "ResNet", "depth": 18, "base_channels": 4, "num_stages": 4, "out_indices": [2, 3],
                 "init_cfg": None},
    "neck": {"type": "ChannelMapper", "in_channels": [16, 32], "kernel_size": 1, "out_channels": 8,
             "act_cfg": None, "norm_cfg": {"type": "GN", "num_groups": 4}, "num_outs": 2},
    "encoder": {"num_layers": 1, "layer_cfg": {"self_attn_cfg": _SMALL_MSDA, "ffn_cfg": _SMALL_FFN}},
    "decoder": {"num_layers": 2, "return_intermediate": True, "post_norm_cfg": None,
                "layer_cfg": {"self_attn_cfg": {"embed_dims": 8, "num_heads": 2, "batch_first": True},
                              "cross_attn_cfg": _SMALL_MSDA, "ffn_cfg": _SMALL_FFN}},
    "positional_encoding": {"num_feats": 4, "normalize": True, "offset": -0.5},
    "bbox_head": {"type": "DeformableDETRHead", "num_classes": 3, "embed_dims": 8},
    "train_cfg": DeformableDETRHeadConfig.example["train_cfg"],
    "test_cfg": {"max_per_img": 5},
}  # fmt: skip


def _typed(value: Any, type_name: str) -> Any:
    """Mmdet's untyped part config with its ``type`` added (a given ``type`` must be that one)."""
    if isinstance(value, dict):
        return {"type": type_name, **value}
    return value


@registry("detector").register
class DeformableDETRConfig(_DetectorFields):
    """``DeformableDETR``: backbone, ChannelMapper, deformable encoder/decoder and a ``DeformableDETRHead``."""

    type: Literal["DeformableDETR"]
    routes: ClassVar[tuple[Route, ...]] = SINGLE_STAGE_ROUTES
    num_classes_paths: ClassVar[tuple[str, ...]] = ("bbox_head.num_classes",)
    encoder: DeformableDetrTransformerEncoderConfig | None = None
    decoder: DeformableDetrTransformerDecoderConfig | None = None
    bbox_head: Annotated[Component, ComponentOf("dense_head")] | None = None
    positional_encoding: SinePositionalEncodingConfig | None = None
    num_queries: int = Field(100, ge=1)
    with_box_refine: bool = False
    as_two_stage: bool = False
    num_feature_levels: int = Field(4, ge=1)
    example: ClassVar[dict[str, Any]] = TINY_DEFORMABLE_DETR
    #: The class built (``DINO``'s schema reuses this one).
    detector_class: ClassVar[type[DeformableDETR]] = DeformableDETR

    @field_validator("encoder", mode="before")
    @classmethod
    def _encoder_type(cls, value: Any) -> Any:
        return _typed(value, "DeformableDetrTransformerEncoder")

    @field_validator("decoder", mode="before")
    @classmethod
    def _decoder_type(cls, value: Any) -> Any:
        return _typed(value, "DeformableDetrTransformerDecoder")

    @field_validator("positional_encoding", mode="before")
    @classmethod
    def _encoding_type(cls, value: Any) -> Any:
        return _typed(value, "SinePositionalEncoding")

    @model_validator(mode="after")
    def _parts_given(self) -> DeformableDETRConfig:
        missing = [name for name in ("encoder", "decoder", "positional_encoding", "bbox_head")
                   if getattr(self, name) is None]  # fmt: skip
        if missing:
            raise ValueError(f"{self.type} needs {', '.join(missing)}")
        expected = self._head_settings()
        wrong = {key: value for key in DETECTOR_SET_HEAD_KEYS
                 if (value := getattr(self.bbox_head, key, None)) is not None and value != expected[key]}  # fmt: skip
        if wrong:
            given = ", ".join(f"{key}={value!r}" for key, value in wrong.items())
            raise ValueError(
                f"bbox_head sets {given}, but {self.type} sets share_pred_layer, num_pred_layer and as_two_stage "
                f"itself from with_box_refine, as_two_stage and the decoder's num_layers (here {expected}); "
                "leave them out of bbox_head"
            )
        return self

    def _head_settings(self) -> dict[str, Any]:
        """The head keywords mmdet's DeformableDETR writes into its bbox_head config."""
        layers = self.decoder.num_layers
        return {
            "share_pred_layer": not self.with_box_refine,
            "num_pred_layer": layers + 1 if self.as_two_stage else layers,
            "as_two_stage": self.as_two_stage,
        }

    def _more_arguments(self) -> dict[str, Any]:
        """Keywords of ``detector_class`` beyond Deformable DETR's (DINO's ``dn_cfg``)."""
        return {}

    def build(self) -> DeformableDETR:
        """The detector; parts built in mmdet's order (backbone, neck, head, then the transformer)."""
        parts = self.parts()
        head = self.bbox_head.model_copy(update=self._head_settings()).build()
        return self.detector_class(
            **parts,
            bbox_head=head,
            positional_encoding=self.positional_encoding.build(),
            encoder=self.encoder.build(),
            decoder=self.decoder.build(),
            num_queries=self.num_queries,
            with_box_refine=self.with_box_refine,
            as_two_stage=self.as_two_stage,
            num_feature_levels=self.num_feature_levels,
            **self._more_arguments(),
        )
