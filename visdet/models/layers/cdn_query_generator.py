"""``CdnQueryGenerator``: DINO's contrastive denoising queries, as mmdet 3.3's.

Shapes: B images, G_i ground-truth boxes in image i, T = sum G_i, M = max G_i, g denoising
groups, D = 2 * g * M denoising queries (each group holds M positive then M negative
queries), Q matching queries, E embedding channels.

From the ground truth of a batch the generator makes, per group, one noisy copy of every
box close to it (positive) and one farther away (negative), each with a label that is
replaced by a random class with probability ``label_noise_scale / 2``:

* content queries ``[B, D, E]``: ``label_embedding`` of the noisy labels;
* reference boxes ``[B, D, 4]``: ``inverse_sigmoid`` of the noisy normalised ``(cx, cy, w, h)``;
* the self-attention mask ``[D + Q, D + Q]`` (True = cannot see): the matching queries do
  not see the denoising ones, and no group sees another;
* ``dn_meta``: ``{"num_denoising_queries": D, "num_denoising_groups": g}``.

Images with fewer than M boxes leave zero rows (padding) in their queries.

The noise draws from torch's global RNG with mmdet's calls, in mmdet's order and dtypes
(``rand_like`` of the labels as float32, ``randint_like`` of the chosen positions, then
``randint_like(..., dtype=float32)`` for the signs and ``rand_like`` of the boxes), so the
same seed gives the same noise.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from visdet.models.layers.sigmoid_mean import inverse_sigmoid
from visdet.structures import ImageMeta, Instances, image_metas
from visdet.structures.boxes import bbox_xyxy_to_cxcywh

#: mmdet's ``num_dn_queries`` when ``group_cfg`` asks for dynamic groups without giving it.
DEFAULT_NUM_DN_QUERIES = 100
#: ``inverse_sigmoid`` eps of the noisy boxes (mmdet's).
DN_BOX_INVERSE_SIGMOID_EPS = 1e-3


class CdnQueryGenerator(nn.Module):
    """Contrastive denoising queries from the ground truth (see the module docstring).

    Args:
        num_classes: Number of object classes K (``label_embedding`` has K rows; mmdet keeps no
            "unknown" row).
        embed_dims: Channels E of the content queries.
        num_matching_queries: Q, the decoder's matching queries (only the mask's size uses it).
        label_noise_scale: Twice the share of labels chosen to be replaced by a random class
            (> 0).
        box_noise_scale: Scale of the box noise relative to the box size (> 0); positive
            corners move by less than ``box_noise_scale / 2`` of the width or height, negative
            ones by between that and twice that.
        group_cfg: ``{"dynamic": True, "num_dn_queries": n}`` (default: dynamic, n = 100 with a
            warning as mmdet): ``max(1, n // M)`` groups per batch; or ``{"dynamic": False,
            "num_groups": g}``: always ``max(1, g)`` groups.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        embed_dims: int,
        num_matching_queries: int,
        label_noise_scale: float = 0.5,
        box_noise_scale: float = 1.0,
        group_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.embed_dims = embed_dims
        self.num_matching_queries = num_matching_queries
        self.label_noise_scale = label_noise_scale
        self.box_noise_scale = box_noise_scale
        group_cfg = {} if group_cfg is None else dict(group_cfg)
        unknown = sorted(set(group_cfg) - {"dynamic", "num_dn_queries", "num_groups"})
        if unknown:
            raise ValueError(f"CdnQueryGenerator group_cfg: unknown keys {unknown} "
                             "(known: dynamic, num_dn_queries, num_groups)")  # fmt: skip
        self.dynamic_dn_groups = bool(group_cfg.get("dynamic", True))
        if self.dynamic_dn_groups:
            if "num_dn_queries" not in group_cfg:
                warnings.warn(f"CdnQueryGenerator: dynamic dn groups without 'num_dn_queries'; using "
                              f"{DEFAULT_NUM_DN_QUERIES} as mmdet does", stacklevel=2)  # fmt: skip
            self.num_dn_queries = group_cfg.get("num_dn_queries", DEFAULT_NUM_DN_QUERIES)
            if not isinstance(self.num_dn_queries, int) or isinstance(self.num_dn_queries, bool):
                raise TypeError(f"CdnQueryGenerator group_cfg.num_dn_queries must be an int, "
                                f"got {self.num_dn_queries!r} ({type(self.num_dn_queries).__name__})")  # fmt: skip
        else:
            if "num_groups" not in group_cfg:
                raise ValueError("CdnQueryGenerator group_cfg: 'num_groups' must be set with dynamic=False")
            self.num_groups = group_cfg["num_groups"]
            if not isinstance(self.num_groups, int) or isinstance(self.num_groups, bool):
                raise TypeError(f"CdnQueryGenerator group_cfg.num_groups must be an int, "
                                f"got {self.num_groups!r} ({type(self.num_groups).__name__})")  # fmt: skip
        self.label_embedding = nn.Embedding(num_classes, embed_dims)

    def forward(
        self,
        batch_gt_instances: Sequence[Instances],
        batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]],
    ) -> tuple[Tensor, Tensor, Tensor, dict[str, int]]:
        """The denoising queries of one batch.

        Args:
            batch_gt_instances: B ``Instances`` with ``bboxes [G_i, 4]`` (absolute ``x1, y1, x2, y2``)
                and ``labels [G_i]`` (int64).
            batch_img_metas: B metas with ``img_shape`` ``(h, w)``, which normalises the boxes.

        Returns:
            ``dn_label_query [B, D, E]``, ``dn_bbox_query [B, D, 4]`` (inverse-sigmoid
            ``cx, cy, w, h``), ``attn_mask [D + Q, D + Q]`` bool, and ``dn_meta``.
        """
        if len(batch_gt_instances) == 0:
            raise ValueError("CdnQueryGenerator needs at least one image")
        metas = image_metas(batch_img_metas, len(batch_gt_instances), require=("img_shape",))
        labels_list, boxes_list = [], []
        for gt, meta in zip(batch_gt_instances, metas):
            img_h, img_w = meta.img_shape[:2]
            boxes = gt.bboxes
            factor = boxes.new_tensor([img_w, img_h, img_w, img_h]).unsqueeze(0)
            boxes_list.append(boxes / factor)
            labels_list.append(gt.labels)
        gt_labels = torch.cat(labels_list)
        gt_bboxes = torch.cat(boxes_list)
        max_num_target = max(len(boxes) for boxes in boxes_list)
        num_groups = self.get_num_groups(max_num_target)

        dn_label_query = self.generate_dn_label_query(gt_labels, num_groups)
        dn_bbox_query = self.generate_dn_bbox_query(gt_bboxes, num_groups)
        batch_idx = torch.cat([torch.full_like(labels.long(), i) for i, labels in enumerate(labels_list)])
        dn_label_query, dn_bbox_query = self.collate_dn_queries(
            dn_label_query, dn_bbox_query, batch_idx, len(batch_gt_instances), num_groups
        )
        attn_mask = self.generate_dn_mask(max_num_target, num_groups, device=dn_label_query.device)
        dn_meta = {"num_denoising_queries": int(max_num_target * 2 * num_groups), "num_denoising_groups": num_groups}
        return dn_label_query, dn_bbox_query, attn_mask, dn_meta

    def get_num_groups(self, max_num_target: int | None = None) -> int:
        """The number of groups g for a batch whose largest image has ``max_num_target`` boxes (at least 1)."""
        if self.dynamic_dn_groups:
            if max_num_target is None:
                raise ValueError("CdnQueryGenerator.get_num_groups needs max_num_target with dynamic groups")
            num_groups = 1 if max_num_target == 0 else self.num_dn_queries // max_num_target
        else:
            num_groups = self.num_groups
        return int(max(num_groups, 1))

    def generate_dn_label_query(self, gt_labels: Tensor, num_groups: int) -> Tensor:
        """``[2 g T, E]`` embeddings of the labels repeated ``2 g`` times, some replaced by random classes.

        Each position is chosen with probability ``label_noise_scale / 2`` (a ``rand_like`` draw
        in float32); the chosen ones get ``randint_like(0, num_classes)`` labels, which may
        equal the true ones.
        """
        if self.label_noise_scale <= 0:
            raise ValueError(f"CdnQueryGenerator: label_noise_scale must be > 0, got {self.label_noise_scale}")
        labels_expand = gt_labels.repeat(2 * num_groups, 1).view(-1)
        chance = torch.rand_like(labels_expand.float())
        chosen = torch.nonzero(chance < (self.label_noise_scale * 0.5)).view(-1)
        new_labels = torch.randint_like(chosen, 0, self.num_classes)
        noisy_labels = labels_expand.scatter(0, chosen, new_labels)
        return self.label_embedding(noisy_labels)

    def generate_dn_bbox_query(self, gt_bboxes: Tensor, num_groups: int) -> Tensor:
        """``[2 g T, 4]`` inverse-sigmoid ``(cx, cy, w, h)`` of noisy copies of normalised xyxy boxes.

        Copy ``k`` of group ``j`` is positive for ``k < T`` and negative after: every corner
        coordinate moves by ``s * u * size * box_noise_scale / 2`` with a random sign ``s``
        (``randint_like`` in float32) and ``u`` uniform in ``[0, 1)`` (positive) or ``[1, 2)``
        (negative), ``size`` the box's width or height; the result is clamped to ``[0, 1]``.
        """
        if self.box_noise_scale <= 0:
            raise ValueError(f"CdnQueryGenerator: box_noise_scale must be > 0, got {self.box_noise_scale}")
        device = gt_bboxes.device
        num_targets = len(gt_bboxes)
        boxes_expand = gt_bboxes.repeat(2 * num_groups, 1)
        positive_idx = torch.arange(num_targets, dtype=torch.long, device=device).unsqueeze(0).repeat(num_groups, 1)
        positive_idx += 2 * num_targets * torch.arange(num_groups, dtype=torch.long, device=device)[:, None]
        negative_idx = positive_idx.flatten() + num_targets
        rand_sign = torch.randint_like(boxes_expand, low=0, high=2, dtype=torch.float32) * 2.0 - 1.0
        rand_part = torch.rand_like(boxes_expand)
        rand_part[negative_idx] += 1.0
        rand_part *= rand_sign
        sizes = bbox_xyxy_to_cxcywh(boxes_expand)[:, 2:].repeat(1, 2)
        noisy = boxes_expand + torch.mul(rand_part, sizes) * self.box_noise_scale / 2
        noisy = bbox_xyxy_to_cxcywh(noisy.clamp(min=0.0, max=1.0))
        return inverse_sigmoid(noisy, eps=DN_BOX_INVERSE_SIGMOID_EPS)

    def collate_dn_queries(
        self,
        input_label_query: Tensor,
        input_bbox_query: Tensor,
        batch_idx: Tensor,
        batch_size: int,
        num_groups: int,
    ) -> tuple[Tensor, Tensor]:
        """Scatter ``[2 g T, E]`` and ``[2 g T, 4]`` queries into ``[B, D, E]`` and ``[B, D, 4]``.

        Image b's copy number ``c`` of its ``n``-th box goes to row ``c * M + n``; the rest stay
        zero. The outputs have the default dtype (as mmdet's ``torch.zeros``).
        """
        device = input_label_query.device
        counts = [int((batch_idx == index).sum()) for index in range(batch_size)]
        max_num_target = max(counts)
        num_denoising_queries = int(max_num_target * 2 * num_groups)
        index_in_image = torch.cat([torch.arange(count, device=device) for count in counts])
        query_index = torch.cat([index_in_image + max_num_target * i for i in range(2 * num_groups)]).long()
        batch_idx_expand = batch_idx.repeat(2 * num_groups, 1).view(-1)
        label_query = torch.zeros(batch_size, num_denoising_queries, self.embed_dims, device=device)
        bbox_query = torch.zeros(batch_size, num_denoising_queries, 4, device=device)
        label_query[batch_idx_expand, query_index] = input_label_query
        bbox_query[batch_idx_expand, query_index] = input_bbox_query
        return label_query, bbox_query

    def generate_dn_mask(self, max_num_target: int, num_groups: int, device: torch.device | str) -> Tensor:
        """``[D + Q, D + Q]`` bool, True where a query may not attend (see the module docstring)."""
        group_size = max_num_target * 2
        num_denoising_queries = int(group_size * num_groups)
        total = num_denoising_queries + self.num_matching_queries
        attn_mask = torch.zeros(total, total, device=device, dtype=torch.bool)
        attn_mask[num_denoising_queries:, :num_denoising_queries] = True
        for group in range(num_groups):
            rows = slice(group_size * group, group_size * (group + 1))
            attn_mask[rows, : group_size * group] = True
            attn_mask[rows, group_size * (group + 1) : num_denoising_queries] = True
        return attn_mask
