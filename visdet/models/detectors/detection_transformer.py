"""``DetectionTransformer``: what every DETR-like detector shares (mmdet 3.3's base of the name).

backbone -> neck (multi-level features) -> ``forward_transformer`` -> head. The transformer part
runs in four steps, each a method the concrete detector writes (mmdet's split, kept so that
DINO and the others override one step at a time):

* ``pre_transformer(feats, metas) -> (encoder_inputs, decoder_inputs)``: flatten the levels,
  padding masks and positions;
* ``forward_encoder(**encoder_inputs) -> encoder_outputs`` (``memory`` ...);
* ``pre_decoder(**encoder_outputs) -> (decoder_inputs_more, head_inputs)``: queries and reference
  points (and the two-stage proposals the head's loss needs);
* ``forward_decoder(**decoder_inputs) -> decoder_outputs`` (``hidden_states``, ``references``).

The head then gets ``head_inputs`` plus ``decoder_outputs`` as keywords, in ``loss`` with the
gt and in ``predict``. Shapes and metas as in :mod:`visdet.models.detectors.base`; DETRs need
``img_shape`` in every meta and read ``batch_input_shape`` (the padding masks); a meta without
``batch_input_shape`` gets the batch's ``(H, W)``, which is what the data preprocessor writes there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from torch import Tensor, nn

from visdet.models.detectors.base import check_gt_instances, check_inputs, extract_features
from visdet.structures import ImageMeta, Instances, image_metas


def detr_metas(
    inputs: Tensor, metas: Sequence[ImageMeta | Mapping[str, Any]] | None, required: Sequence[str] = ("img_shape",)
) -> list[ImageMeta]:
    """The batch's metas, checked, each with ``batch_input_shape`` (the batch's ``(H, W)`` where not given).

    ``metas=None`` stands for images that fill the batch (``img_shape`` = ``(H, W)``, no padding).
    """
    height, width = int(inputs.shape[-2]), int(inputs.shape[-1])
    if metas is None:
        metas = [ImageMeta(img_shape=(height, width))] * inputs.shape[0]
    checked = image_metas(metas, inputs.shape[0], required)
    return [meta if meta.batch_input_shape is not None else dataclasses.replace(meta, batch_input_shape=(height, width))
            for meta in checked]  # fmt: skip


class DetectionTransformer(nn.Module):
    """Backbone, neck, transformer steps and a DETR head; see the module docstring.

    Args:
        backbone: Image -> multi-level features.
        bbox_head: DETR head with ``forward``, ``loss`` and ``predict`` taking the decoder's outputs.
        neck: Features -> the levels the transformer reads (``ChannelMapper``), or ``None``.
        num_queries: Q, decoder queries per image.
        data_preprocessor: Optional ``DetDataPreprocessor``, kept as mmdet keeps it.
    """

    #: Whether ``pre_decoder`` takes ``gt_instances`` and ``metas`` (``None`` outside ``loss``) as well.
    pre_decoder_reads_gt: ClassVar[bool] = False

    def __init__(
        self,
        *,
        backbone: nn.Module,
        bbox_head: nn.Module,
        neck: nn.Module | None = None,
        num_queries: int = 100,
        data_preprocessor: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if num_queries < 1:
            raise ValueError(f"num_queries must be at least 1, got {num_queries}")
        if data_preprocessor is not None:
            self.data_preprocessor = data_preprocessor
        self.num_queries = num_queries
        self.backbone = backbone
        if neck is not None:
            self.neck = neck
        self.bbox_head = bbox_head
        self.dataset_meta: dict[str, Any] | None = None

    @property
    def num_classes(self) -> int:
        """Number of object classes K of the head."""
        return int(self.bbox_head.num_classes)

    def extract_feat(self, inputs: Tensor) -> tuple[Tensor, ...]:
        """Multi-level features of ``inputs [B, C, H, W]``."""
        return extract_features(self.backbone, getattr(self, "neck", None), inputs)

    # ------------------------------------------------------------------ the four steps
    def pre_transformer(
        self, feats: Sequence[Tensor], metas: Sequence[ImageMeta]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Encoder and decoder inputs from the features (subclasses)."""
        raise NotImplementedError

    def forward_encoder(self, **encoder_inputs: Any) -> dict[str, Any]:
        """The encoder's outputs (subclasses)."""
        raise NotImplementedError

    def pre_decoder(self, **encoder_outputs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """More decoder inputs and the head's extra inputs (subclasses)."""
        raise NotImplementedError

    def forward_decoder(self, **decoder_inputs: Any) -> dict[str, Any]:
        """The decoder's outputs, ``hidden_states`` and ``references`` (subclasses)."""
        raise NotImplementedError

    def forward_transformer(
        self,
        feats: Sequence[Tensor],
        metas: Sequence[ImageMeta],
        gt_instances: Sequence[Instances] | None = None,
    ) -> dict[str, Any]:
        """The head's inputs: pre_transformer -> encoder -> pre_decoder -> decoder (see the module docstring).

        ``gt_instances`` (given by ``loss``) reach ``pre_decoder`` together with ``metas`` only in a
        detector whose ``pre_decoder_reads_gt`` is set (DINO's denoising queries); the others ignore them.
        """
        encoder_inputs, decoder_inputs = self.pre_transformer(feats, metas)
        encoder_outputs = self.forward_encoder(**encoder_inputs)
        if self.pre_decoder_reads_gt:
            encoder_outputs = {**encoder_outputs, "gt_instances": gt_instances, "metas": metas}
        more_decoder_inputs, head_inputs = self.pre_decoder(**encoder_outputs)
        decoder_inputs.update(more_decoder_inputs)
        head_inputs.update(self.forward_decoder(**decoder_inputs))
        return head_inputs

    # ------------------------------------------------------------------ public API
    def loss(
        self,
        inputs: Tensor,
        metas: Sequence[ImageMeta | Mapping[str, Any]],
        gt_instances: Sequence[Instances],
        gt_instances_ignore: Sequence[Instances | None] | None = None,
    ) -> dict[str, Tensor]:
        """Training losses with mmdet's names (last layer, ``d<i>.`` layers, ``enc_`` two-stage, DINO's ``dn_``).

        Args:
            inputs: ``[B, C, H, W]`` preprocessed batch.
            metas: B metas with ``img_shape`` (and ``batch_input_shape``).
            gt_instances: B ``Instances`` with ``bboxes [G_i, 4]`` and ``labels [G_i]``.
            gt_instances_ignore: Must be ``None`` or all ``None`` (mmdet's DETR heads refuse ignored boxes).
        """
        check_inputs(inputs, self.backbone)
        batch_metas = detr_metas(inputs, metas)
        check_gt_instances(gt_instances, inputs.shape[0])
        if gt_instances_ignore is not None and any(item is not None for item in gt_instances_ignore):
            raise ValueError(f"{type(self.bbox_head).__name__} does not support ignored boxes (gt_instances_ignore)")
        head_inputs = self.forward_transformer(self.extract_feat(inputs), batch_metas, gt_instances)
        return self.bbox_head.loss(**head_inputs, gt_instances=gt_instances, metas=batch_metas)

    def predict(
        self, inputs: Tensor, metas: Sequence[ImageMeta | Mapping[str, Any]], rescale: bool = True
    ) -> list[Instances]:
        """Detections per image (``bboxes``, ``scores``, ``labels``).

        Args:
            inputs: ``[B, C, H, W]`` preprocessed batch.
            metas: B metas with ``img_shape``, ``batch_input_shape`` (and ``scale_factor`` if ``rescale``).
            rescale: Return boxes in the original image's pixels.
        """
        check_inputs(inputs, self.backbone)
        batch_metas = detr_metas(inputs, metas, ("img_shape", "scale_factor") if rescale else ("img_shape",))
        head_inputs = self.forward_transformer(self.extract_feat(inputs), batch_metas)
        return self.bbox_head.predict(**head_inputs, metas=batch_metas, rescale=rescale)

    def forward(
        self, inputs: Tensor, metas: Sequence[ImageMeta | Mapping[str, Any]] | None = None
    ) -> tuple[Tensor, ...]:
        """The head's raw outputs, one tensor per decoder layer: every layer's class logits, then its boxes.

        Args:
            inputs: ``[B, C, H, W]`` preprocessed batch.
            metas: B metas with ``img_shape`` and ``batch_input_shape`` (the padding masks); ``None``:
                every image fills the batch.
        """
        check_inputs(inputs, self.backbone)
        batch_metas = detr_metas(inputs, metas)
        head_inputs = self.forward_transformer(self.extract_feat(inputs), batch_metas)
        outputs = self.bbox_head(head_inputs["hidden_states"], head_inputs["references"])
        return tuple(layer for per_layer in outputs for layer in per_layer)
