"""``DeformableDETRHead``: per decoder layer class logits and refined boxes (mmdet 3.3's head of the name).

Shapes: D decoder layers, B images, Q queries, E channels, K classes. ``forward`` takes the
decoder's ``hidden_states [D, B, Q, E]`` and ``references`` (D + 1 tensors ``[B, Q, 2 | 4]``:
the initial reference and each layer's) and returns ``cls_scores [D, B, Q, K]`` (sigmoid logits;
``K + 1`` softmax logits with a softmax loss) and ``bbox_preds [D, B, Q, 4]``: normalised
``(cx, cy, w, h)`` in ``[0, 1]``, ``sigmoid(reg_branches[d](h) + inverse_sigmoid(reference))``
(for 2-d references only ``cx, cy`` get the reference).

Attribute and ``state_dict`` names as mmdet's: ``cls_branches.<d>`` (``Linear(E, K)``) and
``reg_branches.<d>`` (``num_reg_fcs`` x (Linear, ReLU), then ``Linear(E, 4)``). With
``share_pred_layer`` (no box refinement) every entry is the same module, so the state dict
repeats the shared weights under each index, as mmdet's does. With ``as_two_stage`` there is
one more branch of each kind (index D), used by the detector on the encoder's memory.

Training (``loss``): the DETR losses of :class:`~visdet.models.dense_heads.detr_loss.DeformableDETRLossMixin`
(Hungarian matching per layer; focal, L1 and GIoU terms; ``d<i>.`` auxiliary layers, ``enc_`` two-stage terms).

Prediction (``predict_by_feat``) reads the last layer only: sigmoid scores, the top
``max_per_img`` over all ``Q * K`` (query, class) pairs, boxes scaled to ``img_shape`` and
clamped to it, then divided by ``scale_factor`` with ``rescale``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from visdet.models.dense_heads.detr_loss import DeformableDETRLossMixin
from visdet.models.layers.sigmoid_mean import inverse_sigmoid
from visdet.models.layers.weight_init import bias_init_with_prob, constant_init
from visdet.structures import ImageMeta, Instances, image_metas
from visdet.structures.boxes import bbox_cxcywh_to_xyxy

#: mmdet's default ``test_cfg`` of the DETR heads.
DETR_TEST_CFG: Mapping[str, Any] = MappingProxyType({"max_per_img": 100})
#: Classifier bias init with a sigmoid loss: every class starts at this probability (as mmdet).
PRIOR_PROB = 0.01
#: mmdet's init of the first regression branch's ``(w, h)`` bias (boxes start small: sigmoid(-2) ~ 0.12).
FIRST_WH_BIAS = -2.0


class DeformableDETRHead(DeformableDETRLossMixin, nn.Module):
    """Class and box predictions of every decoder layer; see the module docstring.

    Args:
        num_classes: K object classes.
        loss_cls: Classification loss; its ``use_sigmoid`` picks K sigmoid outputs (else K + 1).
        loss_bbox: L1 loss on normalised ``cxcywh`` boxes (training).
        loss_iou: IoU loss on boxes in pixels (training).
        embed_dims: E, the decoder's width.
        num_reg_fcs: Hidden ``Linear(E, E) + ReLU`` pairs before each box regressor.
        sync_cls_avg_factor: Average the classification normaliser over processes (training).
        share_pred_layer: One classifier and one regressor shared by every layer (mmdet: set by
            the detector to ``not with_box_refine``).
        num_pred_layer: Number of branches (decoder layers, plus one with ``as_two_stage``).
        as_two_stage: The encoder proposals use the extra branches (changes the init).
        assigner: Query-to-gt matcher (``HungarianAssigner``; mmdet's ``train_cfg.assigner``).
        train_cfg: mmdet's training settings, kept for reference (the assigner is built from it).
        test_cfg: ``{"max_per_img": N}``.
        init_cfg: Accepted for mmdet compatibility.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        loss_cls: nn.Module,
        loss_bbox: nn.Module | None = None,
        loss_iou: nn.Module | None = None,
        embed_dims: int = 256,
        num_reg_fcs: int = 2,
        sync_cls_avg_factor: bool = False,
        share_pred_layer: bool = False,
        num_pred_layer: int = 6,
        as_two_stage: bool = False,
        assigner: Any | None = None,
        train_cfg: Mapping[str, Any] | None = None,
        test_cfg: Mapping[str, Any] | None = DETR_TEST_CFG,
        init_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if num_pred_layer < 1:
            raise ValueError(f"num_pred_layer must be at least 1, got {num_pred_layer}")
        self.num_classes = num_classes
        self.embed_dims = embed_dims
        self.num_reg_fcs = num_reg_fcs
        self.sync_cls_avg_factor = sync_cls_avg_factor
        self.share_pred_layer = share_pred_layer
        self.num_pred_layer = num_pred_layer
        self.as_two_stage = as_two_stage
        # mmdet's DETRHead weights the background class only for DETRHead itself (softmax loss)
        self.bg_cls_weight = 0
        self.loss_cls = loss_cls
        self.loss_bbox = loss_bbox
        self.loss_iou = loss_iou
        if assigner is not None:
            self.assigner = assigner
        self.train_cfg = dict(train_cfg) if train_cfg is not None else None
        self.test_cfg = dict(test_cfg) if test_cfg is not None else None
        self.init_cfg = init_cfg
        self.cls_out_channels = num_classes if self.use_sigmoid else num_classes + 1
        self._init_layers()

    @property
    def use_sigmoid(self) -> bool:
        """Whether the classifier has K sigmoid outputs (the loss's ``use_sigmoid``)."""
        return bool(getattr(self.loss_cls, "use_sigmoid", False))

    def _init_layers(self) -> None:
        """The branches, built in mmdet's order (the same seed draws the same weights)."""
        fc_cls = nn.Linear(self.embed_dims, self.cls_out_channels)
        layers: list[nn.Module] = []
        for _ in range(self.num_reg_fcs):
            layers += [nn.Linear(self.embed_dims, self.embed_dims), nn.ReLU()]
        layers.append(nn.Linear(self.embed_dims, 4))
        reg_branch = nn.Sequential(*layers)
        if self.share_pred_layer:
            self.cls_branches = nn.ModuleList([fc_cls] * self.num_pred_layer)
            self.reg_branches = nn.ModuleList([reg_branch] * self.num_pred_layer)
        else:
            self.cls_branches = nn.ModuleList(copy.deepcopy(fc_cls) for _ in range(self.num_pred_layer))
            self.reg_branches = nn.ModuleList(copy.deepcopy(reg_branch) for _ in range(self.num_pred_layer))

    def init_weights(self) -> None:
        """Mmdet's init: prior-probability class bias (sigmoid loss), zero last regressors, small first ``w, h``."""
        if self.use_sigmoid:
            bias = bias_init_with_prob(PRIOR_PROB)
            for branch in self.cls_branches:
                if branch.bias is not None:
                    nn.init.constant_(branch.bias, bias)
        for branch in self.reg_branches:
            constant_init(branch[-1], 0.0, bias=0.0)
        with torch.no_grad():
            self.reg_branches[0][-1].bias[2:] = FIRST_WH_BIAS
            if self.as_two_stage:
                for branch in self.reg_branches:
                    branch[-1].bias[2:] = 0.0

    def forward(self, hidden_states: Tensor, references: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        """Every layer's class logits ``[D, B, Q, C]`` and boxes ``[D, B, Q, 4]`` (see the module docstring).

        Args:
            hidden_states: ``[D, B, Q, E]``.
            references: D (or more) tensors ``[B, Q, 2 | 4]`` in ``[0, 1]``; layer d uses ``references[d]``.
        """
        if hidden_states.dim() != 4:
            raise ValueError(f"hidden_states must be [layers, batch, queries, dims], got {tuple(hidden_states.shape)}")
        if len(references) < hidden_states.shape[0]:
            raise ValueError(f"need a reference per decoder layer: {len(references)} for {hidden_states.shape[0]}")
        classes, coords = [], []
        for layer_id in range(hidden_states.shape[0]):
            reference = inverse_sigmoid(references[layer_id])
            hidden_state = hidden_states[layer_id]
            deltas = self.reg_branches[layer_id](hidden_state)
            if reference.shape[-1] == 4:
                deltas = deltas + reference
            elif reference.shape[-1] == 2:
                deltas = torch.cat([deltas[..., :2] + reference, deltas[..., 2:]], dim=-1)
            else:
                raise ValueError(f"references must end in 2 or 4 coordinates, got {reference.shape[-1]}")
            classes.append(self.cls_branches[layer_id](hidden_state))
            coords.append(deltas.sigmoid())
        return torch.stack(classes), torch.stack(coords)

    def loss(
        self,
        hidden_states: Tensor,
        references: Sequence[Tensor],
        enc_outputs_class: Tensor | None,
        enc_outputs_coord: Tensor | None,
        gt_instances: Sequence[Instances],
        metas: Sequence[ImageMeta | Mapping[str, Any]],
    ) -> dict[str, Tensor]:
        """Training losses with mmdet's names (``loss_cls``, ``d0.loss_cls``, ..., ``enc_loss_cls`` two-stage).

        Args:
            hidden_states: ``[D, B, Q, E]`` decoder outputs.
            references: D + 1 reference tensors (see :meth:`forward`).
            enc_outputs_class: ``[B, K, C]`` two-stage encoder proposal logits, or ``None``.
            enc_outputs_coord: ``[B, K, 4]`` two-stage proposals (normalised cxcywh), or ``None``.
            gt_instances: B ``Instances`` with ``bboxes [G_i, 4]`` xyxy and ``labels [G_i]``.
            metas: B metas with ``img_shape``.

        Raises:
            AttributeError: The head was built without an assigner (no ``train_cfg``).
        """
        self._require_assigner()
        cls_scores, bbox_preds = self(hidden_states, references)
        return self.loss_by_feat(cls_scores, bbox_preds, enc_outputs_class, enc_outputs_coord, list(gt_instances),
                                 image_metas(metas, None, ("img_shape",)))  # fmt: skip

    def _require_assigner(self) -> None:
        """Raise the "no assigner" error of :meth:`loss` (a head built without ``train_cfg``)."""
        if getattr(self, "assigner", None) is None:
            raise AttributeError(
                f"{type(self).__name__} has no assigner: give train_cfg.assigner (HungarianAssigner) to train it"
            )

    def predict(
        self,
        hidden_states: Tensor,
        references: Sequence[Tensor],
        metas: Sequence[ImageMeta | Mapping[str, Any]],
        rescale: bool = True,
    ) -> list[Instances]:
        """Detections per image from the decoder's outputs (see :meth:`predict_by_feat`)."""
        cls_scores, bbox_preds = self(hidden_states, references)
        return self.predict_by_feat(cls_scores, bbox_preds, metas, rescale=rescale)

    def predict_by_feat(
        self,
        all_layers_cls_scores: Tensor,
        all_layers_bbox_preds: Tensor,
        metas: Sequence[ImageMeta | Mapping[str, Any]],
        rescale: bool = False,
    ) -> list[Instances]:
        """Detections per image from the last layer's outputs.

        Args:
            all_layers_cls_scores: ``[D, B, Q, C]``.
            all_layers_bbox_preds: ``[D, B, Q, 4]`` normalised ``cxcywh``.
            metas: B metas with ``img_shape`` (and ``scale_factor`` if ``rescale``).
            rescale: Divide the boxes by ``scale_factor`` (boxes in the original image).

        Returns:
            B ``Instances`` with ``bboxes [N, 4]`` xyxy, ``scores [N]``, ``labels [N]``, best first.
        """
        required = ("img_shape", "scale_factor") if rescale else ("img_shape",)
        batch_metas = image_metas(metas, all_layers_cls_scores.shape[1], required)
        cls_scores, bbox_preds = all_layers_cls_scores[-1], all_layers_bbox_preds[-1]
        return [self._predict_single(cls_scores[i], bbox_preds[i], meta, rescale) for i, meta in enumerate(batch_metas)]

    def _predict_single(self, cls_score: Tensor, bbox_pred: Tensor, meta: ImageMeta, rescale: bool) -> Instances:
        """One image: ``cls_score [Q, C]``, ``bbox_pred [Q, 4]`` -> its top ``max_per_img`` detections."""
        test_cfg = self.test_cfg or {}
        max_per_img = int(test_cfg.get("max_per_img", len(cls_score)))
        img_h, img_w = meta.img_shape
        if self.use_sigmoid:
            # the best (query, class) pairs, a query possibly several times with different classes
            scores, indexes = cls_score.sigmoid().view(-1).topk(max_per_img)
            labels = indexes % self.num_classes
            bbox_pred = bbox_pred[indexes // self.num_classes]
        else:
            scores, labels = F.softmax(cls_score, dim=-1)[..., :-1].max(-1)
            scores, query_index = scores.topk(max_per_img)
            bbox_pred, labels = bbox_pred[query_index], labels[query_index]
        boxes = bbox_cxcywh_to_xyxy(bbox_pred)
        xs = (boxes[:, 0::2] * img_w).clamp(min=0, max=img_w)
        ys = (boxes[:, 1::2] * img_h).clamp(min=0, max=img_h)
        boxes = torch.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], dim=-1)
        if rescale:
            boxes = boxes / boxes.new_tensor(meta.scale_factor).repeat((1, 2))
        return Instances(bboxes=boxes, scores=scores, labels=labels)
