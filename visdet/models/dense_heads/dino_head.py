"""``DINOHead`` (mmdet 3.3's head of the name): ``DeformableDETRHead`` with DINO's losses.

Shapes: L decoder layers, B images, D denoising queries (training), Q matching queries, K classes.

``forward`` and ``predict`` are Deformable DETR's (every layer's class logits and boxes; the last
layer's top ``max_per_img`` (query, class) pairs). In training the decoder's outputs hold the D
denoising queries before the Q matching ones (``dn_meta`` says where they end); the losses are
:class:`~visdet.models.dense_heads.dino_loss.DINOLossMixin`'s: the matching part scored as
Deformable DETR's (Hungarian matching per layer), the encoder's top-Q proposals (``enc_`` terms),
and the denoising part against the ground truth it was made from (``dn_`` terms, each layer's).

Built by DINO with ``share_pred_layer=False``, ``num_pred_layer`` = L + 1 and ``as_two_stage=True``
(the config boundary sets them). Attribute and ``state_dict`` names as mmdet's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor

from visdet.models.dense_heads.deformable_detr_head import DeformableDETRHead
from visdet.models.dense_heads.dino_loss import DINOLossMixin
from visdet.structures import ImageMeta, Instances, image_metas


class DINOHead(DINOLossMixin, DeformableDETRHead):
    """DINO's head; see the module docstring and :class:`DeformableDETRHead` for the arguments."""

    def loss(  # type: ignore[override]
        self,
        hidden_states: Tensor,
        references: Sequence[Tensor],
        enc_outputs_class: Tensor | None,
        enc_outputs_coord: Tensor | None,
        gt_instances: Sequence[Instances],
        metas: Sequence[ImageMeta | Mapping[str, Any]],
        dn_meta: Mapping[str, int] | None = None,
    ) -> dict[str, Tensor]:
        """Training losses with mmdet's names: ``loss_*``, ``d<i>.loss_*``, ``enc_loss_*``, ``[d<i>.]dn_loss_*``.

        Args:
            hidden_states: ``[L, B, D + Q, E]``.
            references: L + 1 tensors ``[B, D + Q, 4]`` (the initial boxes, then each layer's).
            enc_outputs_class: ``[B, Q, K]`` class logits of the encoder's top-Q proposals.
            enc_outputs_coord: ``[B, Q, 4]`` their sigmoid ``cx, cy, w, h``.
            gt_instances: B ``Instances`` with ``bboxes`` and ``labels``.
            metas: B metas with ``img_shape``.
            dn_meta: ``num_denoising_queries`` (D) and ``num_denoising_groups``; ``None``: no denoising
                queries, no ``dn_`` terms (mmdet fails on it).

        Raises:
            AttributeError: The head was built without an assigner (no ``train_cfg``).
        """
        self._require_assigner()
        cls_scores, bbox_preds = self(hidden_states, references)
        return self.loss_by_feat(cls_scores, bbox_preds, enc_outputs_class, enc_outputs_coord, list(gt_instances),
                                 image_metas(metas, None, ("img_shape",)), dn_meta)  # fmt: skip
