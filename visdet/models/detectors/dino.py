"""``DINO`` (mmdet 3.3's detector of the name): Deformable DETR, two-stage with box refinement, plus denoising.

Shapes: B images, K memory positions, C class logits, Q matching queries (``num_queries``), D
denoising queries of the batch (training only, see :mod:`visdet.models.layers.cdn_query_generator`),
E channels.

What DINO changes in Deformable DETR's steps:

* mixed query selection (``pre_decoder``): every memory position is a proposal, as two-stage
  Deformable DETR; the top Q by their *best* class logit (not the first class's) give the
  reference boxes (detached), while the content queries are learned (``query_embedding``
  ``[Q, E]``, the same for every image) instead of being computed from the boxes. The top Q's
  class logits ``[B, Q, C]`` and sigmoid boxes ``[B, Q, 4]`` are the encoder outputs the loss
  reads (``enc_outputs_class`` / ``enc_outputs_coord``).
* contrastive denoising (training only): ``dn_query_generator`` puts D noisy copies of the ground
  truth before the Q matching queries (content and boxes), with the self-attention mask that keeps
  the groups apart; ``dn_meta`` tells the head where they end.
* the decoder is ``DinoTransformerDecoder``: query positions from the boxes, look forward twice.

Attribute and ``state_dict`` names as mmdet's: ``backbone``, ``neck``, ``bbox_head``,
``positional_encoding``, ``encoder``, ``decoder``, ``query_embedding``, ``level_embed``,
``memory_trans_fc``, ``memory_trans_norm``, ``dn_query_generator.label_embedding``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from visdet.models.detectors.deformable_detr import DeformableDETR
from visdet.models.layers import (
    CdnQueryGenerator,
    DeformableDetrTransformerEncoder,
    DinoTransformerDecoder,
    SinePositionalEncoding,
)
from visdet.structures import ImageMeta, Instances


class DINO(DeformableDETR):
    """DINO; see the module docstring.

    Args:
        backbone: Image -> multi-level features.
        neck: Features -> ``num_feature_levels`` maps of E channels (``ChannelMapper``).
        encoder: The deformable encoder stack.
        decoder: DINO's decoder.
        positional_encoding: Sine encoding with ``num_feats == E / 2``.
        bbox_head: ``DINOHead`` built with ``share_pred_layer=False``, ``num_pred_layer`` = decoder
            layers + 1 and ``as_two_stage=True`` (the config boundary sets these, as mmdet's detector).
        dn_cfg: The denoising settings (``label_noise_scale``, ``box_noise_scale``, ``group_cfg``):
            DINO builds ``dn_query_generator`` from them with the head's ``num_classes``, E and Q, as
            mmdet's detector does, and last (mmdet draws its ``label_embedding`` after the other
            layers, so the same seed gives the same weights only in that order).
        num_queries: Q.
        with_box_refine: Must be True (mmdet's default False, then its assertion, kept).
        as_two_stage: Must be True (as ``with_box_refine``).
        num_feature_levels: Rows of ``level_embed``.
        data_preprocessor: Optional ``DetDataPreprocessor``.
    """

    pre_decoder_reads_gt = True  # the denoising queries are drawn from the gt

    def __init__(
        self,
        *,
        backbone: nn.Module,
        encoder: DeformableDetrTransformerEncoder,
        decoder: DinoTransformerDecoder,
        positional_encoding: SinePositionalEncoding,
        bbox_head: nn.Module,
        dn_cfg: Mapping[str, Any],
        neck: nn.Module | None = None,
        num_queries: int = 100,
        with_box_refine: bool = False,
        as_two_stage: bool = False,
        num_feature_levels: int = 4,
        data_preprocessor: nn.Module | None = None,
    ) -> None:
        if not as_two_stage:
            raise ValueError("as_two_stage must be True for DINO (it is always two-stage)")
        if not with_box_refine:
            raise ValueError("with_box_refine must be True for DINO (its decoder refines the boxes)")
        super().__init__(backbone=backbone, encoder=encoder, decoder=decoder, positional_encoding=positional_encoding,
                         bbox_head=bbox_head, neck=neck, num_queries=num_queries, with_box_refine=True,
                         as_two_stage=True, num_feature_levels=num_feature_levels,
                         data_preprocessor=data_preprocessor)  # fmt: skip
        given = sorted(set(dn_cfg) & {"num_classes", "num_queries", "hidden_dim"})
        if given:
            raise ValueError(f"dn_cfg must not set {', '.join(given)}: DINO sets the generator's num_classes, "
                             "embed_dims and num_matching_queries itself")  # fmt: skip
        dn_settings = {**dn_cfg, "num_classes": int(bbox_head.num_classes), "embed_dims": self.embed_dims,
                       "num_matching_queries": num_queries}  # fmt: skip
        self.dn_query_generator = CdnQueryGenerator(**dn_settings)

    def _init_layers(self) -> None:
        """DINO's layers in mmdet's order: content-only ``query_embedding [Q, E]``, ``level_embed``, memory transform.

        Deformable DETR's one-stage ``reference_points_fc`` and two-stage ``pos_trans_*`` are not built.
        """
        self.query_embedding = nn.Embedding(self.num_queries, self.embed_dims)
        self._init_level_and_memory_layers()

    def init_weights(self) -> None:
        """DINO's init as mmdet's: the parts' own, Xavier on the transformer's matrices, MSDA's grid, the rest.

        As mmengine's ``BaseModule.init_weights``, the parts with an ``init_weights`` initialise
        themselves first in registration order (backbone, neck, head); nothing in the encoder and
        decoder draws there (mmcv's deformable attention initialised itself at construction and is
        marked done, the other layers have no init of their own). Then Xavier-uniform on every
        matrix of the encoder and decoder, MSDA's init, Xavier-uniform ``memory_trans_fc.weight``
        and ``query_embedding.weight``, and a standard normal ``level_embed``.
        """
        self._init_transformer_weights()
        nn.init.xavier_uniform_(self.memory_trans_fc.weight)
        nn.init.xavier_uniform_(self.query_embedding.weight)
        nn.init.normal_(self.level_embed)

    # ------------------------------------------------------------------ the steps DINO changes
    def pre_decoder(  # type: ignore[override]
        self,
        memory: Tensor,
        memory_mask: Tensor | None,
        spatial_shapes: Tensor,
        gt_instances: Sequence[Instances] | None = None,
        metas: Sequence[ImageMeta] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Mixed query selection, plus the denoising queries in training (see the module docstring).

        Returns:
            ``(decoder_inputs, head_inputs)``: ``query [B, D + Q, E]``, ``memory``, ``reference_points``
            ``[B, D + Q, 4]`` (sigmoid ``cx, cy, w, h``), ``dn_mask`` (``None`` outside training); and in
            training ``enc_outputs_class [B, Q, C]``, ``enc_outputs_coord [B, Q, 4]`` and ``dn_meta``.
        """
        batch_size = memory.shape[0]
        layer = self.decoder.num_layers
        num_logits = self.bbox_head.cls_branches[layer].out_features
        output_memory, output_proposals = self.gen_encoder_output_proposals(memory, memory_mask, spatial_shapes)
        enc_outputs_class = self.bbox_head.cls_branches[layer](output_memory)
        enc_outputs_coord_unact = self.bbox_head.reg_branches[layer](output_memory) + output_proposals
        # DINO ranks the proposals by their best class logit (Deformable DETR by the first class's)
        topk_indices = torch.topk(enc_outputs_class.max(-1)[0], k=self.num_queries, dim=1)[1]
        topk_score = torch.gather(enc_outputs_class, 1, topk_indices.unsqueeze(-1).repeat(1, 1, num_logits))
        topk_coords_unact = torch.gather(enc_outputs_coord_unact, 1, topk_indices.unsqueeze(-1).repeat(1, 1, 4))
        topk_coords = topk_coords_unact.sigmoid()
        topk_coords_unact = topk_coords_unact.detach()

        query = self.query_embedding.weight[:, None, :].repeat(1, batch_size, 1).transpose(0, 1)
        if self.training:
            if gt_instances is None or metas is None:
                raise ValueError("DINO in training mode needs gt_instances and metas (the denoising queries)")
            dn_label_query, dn_bbox_query, dn_mask, dn_meta = self.dn_query_generator(gt_instances, metas)
            query = torch.cat([dn_label_query, query], dim=1)
            reference_points = torch.cat([dn_bbox_query, topk_coords_unact], dim=1)
        else:
            reference_points = topk_coords_unact
            dn_mask, dn_meta = None, None
        decoder_inputs = {"query": query, "memory": memory, "reference_points": reference_points.sigmoid(),
                          "dn_mask": dn_mask}  # fmt: skip
        head_inputs = (
            {"enc_outputs_class": topk_score, "enc_outputs_coord": topk_coords, "dn_meta": dn_meta}
            if self.training
            else {}
        )
        return decoder_inputs, head_inputs

    def forward_decoder(  # type: ignore[override]
        self,
        query: Tensor,
        memory: Tensor,
        memory_mask: Tensor | None,
        reference_points: Tensor,
        spatial_shapes: Tensor,
        level_start_index: Tensor,
        valid_ratios: Tensor,
        dn_mask: Tensor | None = None,
    ) -> dict[str, Any]:
        """``hidden_states [L, B, D + Q, E]`` and ``references`` (the initial boxes, then each layer's)."""
        hidden_states, references = self.decoder(
            query=query, value=memory, key_padding_mask=memory_mask, self_attn_mask=dn_mask,
            reference_points=reference_points, spatial_shapes=spatial_shapes,
            level_start_index=level_start_index, valid_ratios=valid_ratios, reg_branches=self.bbox_head.reg_branches,
        )  # fmt: skip
        if len(query) == self.num_queries:
            # mmdet's quirk, kept: meant to involve label_embedding in the loss when no image has a
            # gt, it compares the *batch size* with num_queries; adding 0 changes no value but -0.0
            hidden_states[0] += self.dn_query_generator.label_embedding.weight[0, 0] * 0.0
        return {"hidden_states": hidden_states, "references": list(references)}
