"""``DeformableDETR`` (mmdet 3.3's detector of the name): multi-scale deformable encoder and decoder.

Shapes: B images, L levels ``[B, E, H_l, W_l]`` from the neck, K = sum(H_l * W_l) memory
positions, Q queries, E channels (``embed_dims``, twice the positional encoding's ``num_feats``).

* ``pre_transformer``: a padding mask per image (1 outside its ``img_shape`` inside the batch's
  ``batch_input_shape``, resized to each level by nearest interpolation) unless every image fills
  the batch, then none; sine positions plus ``level_embed[l]``; levels flattened and
  concatenated; ``valid_ratios [B, L, 2]`` (the unpadded ``(w, h)`` share of each level).
* one stage: queries and their positions from ``query_embedding`` (``[Q, 2E]`` split in two),
  reference points ``sigmoid(reference_points_fc(query_pos))`` ``[B, Q, 2]``.
* ``as_two_stage``: every memory position becomes a proposal (``gen_encoder_output_proposals``:
  a box of side ``0.05 * 2**l`` at the position, in logit space; positions near the border or
  in padding are masked), scored by the head's extra classifier ``cls_branches[D]`` and
  refined by ``reg_branches[D]``; the top Q by their first class logit become reference boxes
  ``[B, Q, 4]`` (detached), and the queries come from ``pos_trans_fc`` /``pos_trans_norm`` on
  the boxes' sine encoding (``get_proposal_pos_embed``).
* ``with_box_refine``: the decoder refines the references with the head's ``reg_branches``.

Attribute and ``state_dict`` names as mmdet's: ``backbone``, ``neck``, ``encoder``, ``decoder``,
``bbox_head``, ``level_embed``, ``query_embedding`` / ``reference_points_fc`` (one stage) or
``memory_trans_fc``, ``memory_trans_norm``, ``pos_trans_fc``, ``pos_trans_norm`` (two stage).
mmdet's spelling of the arithmetic is kept where the rounding depends on it: the grids and
valid ratios in float32 whatever the model's dtype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from visdet.models.detectors.detection_transformer import DetectionTransformer
from visdet.models.layers import (
    DeformableDetrTransformerDecoder,
    DeformableDetrTransformerEncoder,
    MultiScaleDeformableAttention,
    SinePositionalEncoding,
    xavier_init,
)
from visdet.structures import ImageMeta

#: Side of a level-0 two-stage proposal, relative to the image (doubled per level), as mmdet's.
PROPOSAL_SIZE = 0.05
#: Two-stage proposals whose ``cx, cy, w, h`` leave ``(low, high)`` are dropped, as mmdet's.
PROPOSAL_VALID_RANGE = (0.01, 0.99)
#: Sine features per proposal coordinate in the two-stage query encoding (mmdet's fixed default).
PROPOSAL_POS_FEATS = 128


class DeformableDETR(DetectionTransformer):
    """Deformable DETR; see the module docstring.

    Args:
        backbone: Image -> multi-level features.
        neck: Features -> ``num_feature_levels`` maps of ``E`` channels (``ChannelMapper``).
        encoder: The deformable encoder stack.
        decoder: The deformable decoder stack.
        positional_encoding: Sine encoding with ``num_feats == E / 2``.
        bbox_head: ``DeformableDETRHead`` built with ``share_pred_layer = not with_box_refine``,
            ``num_pred_layer`` = decoder layers (+1 with ``as_two_stage``) and ``as_two_stage``
            (the config boundary sets these, as mmdet's detector does).
        num_queries: Q.
        with_box_refine: Refine the references layer by layer with the head's regressors.
        as_two_stage: Reference boxes from the encoder's top proposals.
        num_feature_levels: L, rows of ``level_embed``.
        data_preprocessor: Optional ``DetDataPreprocessor``.
    """

    def __init__(
        self,
        *,
        backbone: nn.Module,
        encoder: DeformableDetrTransformerEncoder,
        decoder: DeformableDetrTransformerDecoder,
        positional_encoding: SinePositionalEncoding,
        bbox_head: nn.Module,
        neck: nn.Module | None = None,
        num_queries: int = 100,
        with_box_refine: bool = False,
        as_two_stage: bool = False,
        num_feature_levels: int = 4,
        data_preprocessor: nn.Module | None = None,
    ) -> None:
        super().__init__(backbone=backbone, bbox_head=bbox_head, neck=neck, num_queries=num_queries,
                         data_preprocessor=data_preprocessor)  # fmt: skip
        self.with_box_refine = with_box_refine
        self.as_two_stage = as_two_stage
        self.num_feature_levels = num_feature_levels
        _check_head(bbox_head, decoder.num_layers, with_box_refine, as_two_stage)
        self.positional_encoding = positional_encoding
        self.encoder = encoder
        self.decoder = decoder
        self.embed_dims = encoder.embed_dims
        if positional_encoding.num_feats * 2 != self.embed_dims:
            raise ValueError(
                f"embed_dims should be exactly 2 times of num_feats. Found {self.embed_dims} "
                f"and {positional_encoding.num_feats}."
            )
        self._init_layers()

    def _init_layers(self) -> None:
        """The layers mmdet's ``_init_layers`` adds, in its order (the same seed draws the same weights)."""
        if self.as_two_stage and self.embed_dims * 2 != 4 * PROPOSAL_POS_FEATS:
            raise ValueError(
                f"as_two_stage needs embed_dims {2 * PROPOSAL_POS_FEATS} (mmdet encodes the proposals with "
                f"{PROPOSAL_POS_FEATS} sine features per coordinate into pos_trans_fc), got {self.embed_dims}"
            )
        if not self.as_two_stage:
            self.query_embedding = nn.Embedding(self.num_queries, self.embed_dims * 2)
        self._init_level_and_memory_layers()
        if self.as_two_stage:
            self.pos_trans_fc = nn.Linear(self.embed_dims * 2, self.embed_dims * 2)
            self.pos_trans_norm = nn.LayerNorm(self.embed_dims * 2)
        else:
            self.reference_points_fc = nn.Linear(self.embed_dims, 2)

    def _init_level_and_memory_layers(self) -> None:
        """``level_embed``, then (two-stage) ``memory_trans_fc`` / ``memory_trans_norm``: DINO's too."""
        # mmdet allocates it uninitialised (init_weights draws it); zeros until then
        self.level_embed = nn.Parameter(torch.zeros(self.num_feature_levels, self.embed_dims))
        if self.as_two_stage:
            self.memory_trans_fc = nn.Linear(self.embed_dims, self.embed_dims)
            self.memory_trans_norm = nn.LayerNorm(self.embed_dims)

    def init_weights(self) -> None:
        """Mmdet's init after the parts' own: Xavier on the transformer's matrices, MSDA's grid, level embeddings.

        The parts (backbone, neck, head) initialise themselves with their ``init_weights``
        first, in registration order, as mmengine's ``BaseModule.init_weights`` does.
        """
        self._init_transformer_weights()
        if self.as_two_stage:
            nn.init.xavier_uniform_(self.memory_trans_fc.weight)
            nn.init.xavier_uniform_(self.pos_trans_fc.weight)
        else:
            xavier_init(self.reference_points_fc, distribution="uniform", bias=0.0)
        nn.init.normal_(self.level_embed)

    def _init_transformer_weights(self) -> None:
        """The parts' own init, Xavier-uniform on the encoder's and decoder's matrices, then MSDA's init.

        The first steps of both DeformableDETR's and DINO's ``init_weights``.
        """
        for part in self.children():
            if part is not self.encoder and part is not self.decoder and hasattr(part, "init_weights"):
                part.init_weights()
        for stack in (self.encoder, self.decoder):
            for param in stack.parameters():
                if param.dim() > 1:
                    nn.init.xavier_uniform_(param)
        for module in self.modules():
            if isinstance(module, MultiScaleDeformableAttention):
                module.init_weights()

    # ------------------------------------------------------------------ the four steps
    def pre_transformer(
        self, feats: Sequence[Tensor], metas: Sequence[ImageMeta]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Flattened features, masks, positions and level geometry (see the module docstring)."""
        if len(feats) != self.num_feature_levels:
            raise ValueError(f"{type(self).__name__} has {self.num_feature_levels} feature levels, got {len(feats)}")
        batch_size = feats[0].size(0)
        input_h, input_w = metas[0].batch_input_shape
        img_shapes = [meta.img_shape for meta in metas]
        if all(h == input_h and w == input_w for h, w in img_shapes):
            masks: list[Tensor | None] = [None] * len(feats)
            positions = [self.positional_encoding(None, input=feat) for feat in feats]
        else:
            image_mask = feats[0].new_ones((batch_size, input_h, input_w))
            for img_id, (img_h, img_w) in enumerate(img_shapes):
                image_mask[img_id, :img_h, :img_w] = 0
            masks = [F.interpolate(image_mask[None], size=feat.shape[-2:]).to(torch.bool).squeeze(0) for feat in feats]
            positions = [self.positional_encoding(mask) for mask in masks]

        feat_flat, pos_flat, mask_flat, shapes = [], [], [], []
        for level, (feat, mask, pos) in enumerate(zip(feats, masks, positions)):
            _, channels, height, width = feat.shape
            shapes.append(torch._shape_as_tensor(feat)[2:].to(feat.device))
            feat_flat.append(feat.view(batch_size, channels, -1).permute(0, 2, 1))
            pos = pos.view(batch_size, channels, -1).permute(0, 2, 1)
            pos_flat.append(pos + self.level_embed[level].view(1, 1, -1))
            mask_flat.append(mask.flatten(1) if mask is not None else None)
        memory_mask = torch.cat(mask_flat, 1) if masks[0] is not None else None
        spatial_shapes = torch.cat(shapes).view(-1, 2)
        level_start_index = torch.cat((spatial_shapes.new_zeros((1,)), spatial_shapes.prod(1).cumsum(0)[:-1]))
        if masks[0] is not None:
            valid_ratios = torch.stack([self.get_valid_ratio(mask) for mask in masks], 1)
        else:
            valid_ratios = feats[0].new_ones(batch_size, len(feats), 2)
        geometry = {"spatial_shapes": spatial_shapes, "level_start_index": level_start_index,
                    "valid_ratios": valid_ratios}  # fmt: skip
        encoder_inputs = {"feat": torch.cat(feat_flat, 1), "feat_mask": memory_mask,
                          "feat_pos": torch.cat(pos_flat, 1), **geometry}  # fmt: skip
        return encoder_inputs, {"memory_mask": memory_mask, **geometry}

    def forward_encoder(
        self,
        feat: Tensor,
        feat_mask: Tensor | None,
        feat_pos: Tensor,
        spatial_shapes: Tensor,
        level_start_index: Tensor,
        valid_ratios: Tensor,
    ) -> dict[str, Any]:
        """``memory [B, K, E]`` (with its mask and the level shapes, for ``pre_decoder``)."""
        memory = self.encoder(query=feat, query_pos=feat_pos, key_padding_mask=feat_mask,
                              spatial_shapes=spatial_shapes, level_start_index=level_start_index,
                              valid_ratios=valid_ratios)  # fmt: skip
        return {"memory": memory, "memory_mask": feat_mask, "spatial_shapes": spatial_shapes}

    def pre_decoder(
        self, memory: Tensor, memory_mask: Tensor | None, spatial_shapes: Tensor
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Queries, their positions and the initial references; the two-stage encoder outputs for the loss.

        Returns:
            ``(decoder_inputs, head_inputs)``: ``query``, ``query_pos`` ``[B, Q, E]``, ``memory``,
            ``reference_points`` (``[B, Q, 2]``, or ``[B, Q, 4]`` two-stage); and, in training only,
            ``enc_outputs_class [B, K, C]`` / ``enc_outputs_coord [B, K, 4]`` (``None`` one-stage).
        """
        batch_size, _, channels = memory.shape
        if self.as_two_stage:
            output_memory, output_proposals = self.gen_encoder_output_proposals(memory, memory_mask, spatial_shapes)
            layer = self.decoder.num_layers
            enc_outputs_class = self.bbox_head.cls_branches[layer](output_memory)
            enc_outputs_coord_unact = self.bbox_head.reg_branches[layer](output_memory) + output_proposals
            enc_outputs_coord = enc_outputs_coord_unact.sigmoid()
            topk_index = torch.topk(enc_outputs_class[..., 0], self.num_queries, dim=1)[1]
            topk_coords_unact = torch.gather(enc_outputs_coord_unact, 1, topk_index.unsqueeze(-1).repeat(1, 1, 4))
            topk_coords_unact = topk_coords_unact.detach()
            reference_points = topk_coords_unact.sigmoid()
            pos_trans_out = self.pos_trans_norm(self.pos_trans_fc(self.get_proposal_pos_embed(topk_coords_unact)))
            query_pos, query = torch.split(pos_trans_out, channels, dim=2)
        else:
            enc_outputs_class, enc_outputs_coord = None, None
            query_pos, query = torch.split(self.query_embedding.weight, channels, dim=1)
            query_pos = query_pos.unsqueeze(0).expand(batch_size, -1, -1)
            query = query.unsqueeze(0).expand(batch_size, -1, -1)
            reference_points = self.reference_points_fc(query_pos).sigmoid()
        decoder_inputs = {"query": query, "query_pos": query_pos, "memory": memory,
                          "reference_points": reference_points}  # fmt: skip
        head_inputs = (
            {"enc_outputs_class": enc_outputs_class, "enc_outputs_coord": enc_outputs_coord} if self.training else {}
        )
        return decoder_inputs, head_inputs

    def forward_decoder(
        self,
        query: Tensor,
        query_pos: Tensor,
        memory: Tensor,
        memory_mask: Tensor | None,
        reference_points: Tensor,
        spatial_shapes: Tensor,
        level_start_index: Tensor,
        valid_ratios: Tensor,
    ) -> dict[str, Any]:
        """``hidden_states [D, B, Q, E]`` and ``references`` (the initial reference, then each layer's)."""
        hidden_states, inter_references = self.decoder(
            query=query, value=memory, query_pos=query_pos, key_padding_mask=memory_mask,
            reference_points=reference_points, spatial_shapes=spatial_shapes,
            level_start_index=level_start_index, valid_ratios=valid_ratios,
            reg_branches=self.bbox_head.reg_branches if self.with_box_refine else None,
        )  # fmt: skip
        return {"hidden_states": hidden_states, "references": [reference_points, *inter_references]}

    # ------------------------------------------------------------------ geometry helpers
    @staticmethod
    def get_valid_ratio(mask: Tensor) -> Tensor:
        """``[B, 2]`` unpadded ``(w, h)`` share of a padding mask ``[B, H, W]`` (True at padding), float32."""
        _, height, width = mask.shape
        valid_h = torch.sum(~mask[:, :, 0], 1)
        valid_w = torch.sum(~mask[:, 0, :], 1)
        return torch.stack([valid_w.float() / width, valid_h.float() / height], -1)

    def gen_encoder_output_proposals(
        self, memory: Tensor, memory_mask: Tensor | None, spatial_shapes: Tensor
    ) -> tuple[Tensor, Tensor]:
        """One proposal per memory position, and the memory that scores them (two-stage only).

        Position ``(i, j)`` of level l gives the box ``((j + 0.5) / W_valid, (i + 0.5) / H_valid,
        s, s)`` with ``s = 0.05 * 2**l`` (the valid size per image from the mask; the level's size
        without one), in logit space; proposals with a coordinate outside ``(0.01, 0.99)`` or at
        padding become ``inf`` and their memory zero.

        Returns:
            ``output_memory [B, K, E]`` (after ``memory_trans_fc`` and ``memory_trans_norm``) and
            ``output_proposals [B, K, 4]`` ``(cx, cy, w, h)`` logits.
        """
        batch_size = memory.size(0)
        proposals = []
        start = 0
        for level, shape in enumerate(spatial_shapes):
            height, width = shape
            if memory_mask is not None:
                level_mask = memory_mask[:, start : start + height * width].view(batch_size, height, width, 1)
                valid_h = torch.sum(~level_mask[:, :, 0, 0], 1).unsqueeze(-1)
                valid_w = torch.sum(~level_mask[:, 0, :, 0], 1).unsqueeze(-1)
                scale = torch.cat([valid_w, valid_h], 1).view(batch_size, 1, 1, 2)
            else:
                scale = shape.unsqueeze(0).flip(dims=[0, 1]).view(1, 1, 1, 2)
            grid_y, grid_x = torch.meshgrid(
                torch.linspace(0, height - 1, height, dtype=torch.float32, device=memory.device),
                torch.linspace(0, width - 1, width, dtype=torch.float32, device=memory.device),
                indexing="ij",
            )
            grid = torch.cat([grid_x.unsqueeze(-1), grid_y.unsqueeze(-1)], -1)
            grid = (grid.unsqueeze(0).expand(batch_size, -1, -1, -1) + 0.5) / scale
            wh = torch.ones_like(grid) * PROPOSAL_SIZE * (2.0**level)
            proposals.append(torch.cat((grid, wh), -1).view(batch_size, -1, 4))
            start += height * width
        output_proposals = torch.cat(proposals, 1)
        low, high = PROPOSAL_VALID_RANGE
        valid = ((output_proposals > low) & (output_proposals < high)).sum(-1, keepdim=True) == 4
        output_proposals = torch.log(output_proposals / (1 - output_proposals))
        output_memory = memory
        if memory_mask is not None:
            output_proposals = output_proposals.masked_fill(memory_mask.unsqueeze(-1), float("inf"))
        output_proposals = output_proposals.masked_fill(~valid, float("inf"))
        if memory_mask is not None:
            output_memory = output_memory.masked_fill(memory_mask.unsqueeze(-1), 0.0)
        output_memory = output_memory.masked_fill(~valid, 0.0)
        output_memory = self.memory_trans_norm(self.memory_trans_fc(output_memory))
        return output_memory, output_proposals

    @staticmethod
    def get_proposal_pos_embed(
        proposals: Tensor, num_pos_feats: int = PROPOSAL_POS_FEATS, temperature: int = 10000
    ) -> Tensor:
        """Sine encoding of proposal logits ``[B, Q, 4]`` -> ``[B, Q, 4 * num_pos_feats]``.

        Each of ``sigmoid(cx, cy, w, h) * 2 pi`` divided by ``temperature ** (2 (i // 2) / num_pos_feats)``
        (float32 frequencies), channel pairs ``sin, cos``; coordinates in ``cx, cy, w, h`` order.
        """
        dim_t = torch.arange(num_pos_feats, dtype=torch.float32, device=proposals.device)
        dim_t = temperature ** (2 * (dim_t // 2) / num_pos_feats)
        angles = proposals.sigmoid() * (2 * math.pi)
        pos = angles[:, :, :, None] / dim_t
        return torch.stack((pos[:, :, :, 0::2].sin(), pos[:, :, :, 1::2].cos()), dim=4).flatten(2)


def _check_head(bbox_head: nn.Module, num_layers: int, with_box_refine: bool, as_two_stage: bool) -> None:
    """The head must be built as mmdet's detector configures it (see ``DeformableDETR``'s ``bbox_head``)."""
    expected = {
        "share_pred_layer": not with_box_refine,
        "num_pred_layer": num_layers + 1 if as_two_stage else num_layers,
        "as_two_stage": as_two_stage,
    }
    for name, value in expected.items():
        if getattr(bbox_head, name, value) != value:
            raise ValueError(
                f"bbox_head.{name} is {getattr(bbox_head, name)!r}; DeformableDETR(with_box_refine={with_box_refine}, "
                f"as_two_stage={as_two_stage}) with {num_layers} decoder layers needs {value!r}"
            )
