"""DINO's schemas: the ``DINOHead`` and the ``DINO`` detector.

mmdet's ``DINO`` takes Deformable DETR's keywords plus ``dn_cfg`` (the denoising settings:
``label_noise_scale``, ``box_noise_scale``, ``group_cfg``); it fills in the generator's
``num_classes`` (the head's), ``embed_dims`` (the encoder's) and ``num_matching_queries``
(``num_queries``) itself and refuses ``num_classes``, ``num_queries`` and ``hidden_dim`` in
``dn_cfg``; so does this schema. As mmdet asserts, DINO is two-stage with box refinement (both
must be given true); its encoder, decoder and positional encoding come without ``type``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, cast

from pydantic import Field, field_validator, model_validator

from visdet.build.component import Section
from visdet.build.components.detr import DeformableDETRConfig, DeformableDETRHeadConfig, _typed
from visdet.build.components.transformer import DinoTransformerDecoderConfig
from visdet.build.registry import registry
from visdet.models.dense_heads import DINOHead
from visdet.models.detectors import DINO

#: The generator keywords DINO sets itself (``num_queries`` and ``hidden_dim`` are the names mmdet refuses).
DETECTOR_SET_DN_KEYS = ("num_classes", "num_queries", "hidden_dim")


@registry("dense_head").register
class DINOHeadConfig(DeformableDETRHeadConfig):
    """``DINOHead``: Deformable DETR's head with DINO's matching, encoder and denoising losses."""

    type: Literal["DINOHead"]  # type: ignore[assignment]
    example: ClassVar[dict[str, Any]] = {**DeformableDETRHeadConfig.example, "type": "DINOHead", "num_pred_layer": 3,
                                         "as_two_stage": True}  # fmt: skip
    head_class: ClassVar[type[DINOHead]] = DINOHead


class DenoisingSettings(Section):
    """mmdet's ``dn_cfg`` of DINO: the contrastive denoising queries' noise and grouping."""

    label_noise_scale: float = Field(0.5, gt=0)
    box_noise_scale: float = Field(1.0, gt=0)
    group_cfg: dict[str, Any] | None = Field(None, description="{dynamic, num_dn_queries} or {dynamic: False, "
                                                                "num_groups}; None: dynamic with 100 queries")


_DINO_MSDA = {"embed_dims": 256, "num_heads": 8, "num_levels": 2, "num_points": 1, "value_proj_ratio": 0.125,
              "batch_first": True}  # fmt: skip
_DINO_FFN = {"embed_dims": 256, "feedforward_channels": 16}
TINY_DINO = {
    "type": "DINO", "num_queries": 5, "num_feature_levels": 2, "with_box_refine": True, "as_two_stage": True,
    "backbone": {"type": "ResNet", "depth": 18, "base_channels": 4, "num_stages": 4, "out_indices": [2, 3],
                 "init_cfg": None},
    "neck": {"type": "ChannelMapper", "in_channels": [16, 32], "kernel_size": 1, "out_channels": 256,
             "act_cfg": None, "norm_cfg": {"type": "GN", "num_groups": 32}, "num_outs": 2},
    "encoder": {"num_layers": 1, "layer_cfg": {"self_attn_cfg": _DINO_MSDA, "ffn_cfg": _DINO_FFN}},
    "decoder": {"num_layers": 2, "return_intermediate": True, "post_norm_cfg": None,
                "layer_cfg": {"self_attn_cfg": {"embed_dims": 256, "num_heads": 8, "batch_first": True},
                              "cross_attn_cfg": _DINO_MSDA, "ffn_cfg": _DINO_FFN}},
    "positional_encoding": {"num_feats": 128, "normalize": True, "offset": 0.0, "temperature": 20},
    "bbox_head": {"type": "DINOHead", "num_classes": 3, "num_reg_fcs": 0},
    "dn_cfg": {"label_noise_scale": 0.5, "box_noise_scale": 1.0,
               "group_cfg": {"dynamic": True, "num_groups": None, "num_dn_queries": 6}},
    "train_cfg": DeformableDETRHeadConfig.example["train_cfg"],
    "test_cfg": {"max_per_img": 5},
}  # fmt: skip


@registry("detector").register
class DINOConfig(DeformableDETRConfig):
    """``DINO``: two-stage Deformable DETR with mixed query selection, denoising queries and DINO's decoder."""

    type: Literal["DINO"]  # type: ignore[assignment]
    decoder: DinoTransformerDecoderConfig | None = None  # type: ignore[assignment]
    dn_cfg: DenoisingSettings | None = Field(None, description="required (mmdet's DINO fails without it)")
    example: ClassVar[dict[str, Any]] = TINY_DINO
    detector_class: ClassVar[type[DINO]] = DINO

    @field_validator("decoder", mode="before")
    @classmethod
    def _decoder_type(cls, value: Any) -> Any:
        return _typed(value, "DinoTransformerDecoder")

    @field_validator("dn_cfg", mode="before")
    @classmethod
    def _dn_keys(cls, value: Any) -> Any:
        given = [key for key in DETECTOR_SET_DN_KEYS if isinstance(value, dict) and key in value]
        if given:
            raise ValueError(
                f"dn_cfg must not set {', '.join(given)}: DINO sets the generator's num_classes, embed_dims and "
                "num_matching_queries from the head, the encoder and num_queries"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _dino_needs(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if data.get("as_two_stage") is not True or data.get("with_box_refine") is not True:
                raise ValueError("DINO needs as_two_stage: true and with_box_refine: true (as mmdet asserts)")
            if data.get("dn_cfg") is None:
                raise ValueError("DINO needs dn_cfg (the denoising settings; mmdet's DINO fails without it)")
        return data

    def _more_arguments(self) -> dict[str, Any]:
        """The denoising settings (built after the transformer's parts, as mmdet's)."""
        return {"dn_cfg": self.dn_cfg.plain()}

    def build(self) -> DINO:  # type: ignore[override]
        """The detector, built as Deformable DETR's with ``detector_class`` and ``dn_cfg`` (typed as DINO)."""
        return cast(DINO, super().build())
