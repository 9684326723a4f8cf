"""Parity cases for DINOHead's ``loss_by_feat``: matching, encoder and denoising terms.

The machinery (inputs, the reference head, the visdet host) is in ``heads_detr_loss.py``.
The decoder outputs hold ``D = 2 * max_gts * groups`` denoising queries first (what
``CdnQueryGenerator`` makes), then the matching queries; ``dn_meta`` gives D and the
group count. Variants: three groups with an image without gt, one group without
``sync_cls_avg_factor``, and a batch without any gt (D = 0: mmdet's ``zeros(1)`` class
term and zero box terms).
"""

from __future__ import annotations

from parity.cases.heads_detr_loss import DEFORMABLE, SHAPES, register_cases

_DINO = dict(DEFORMABLE, head="dino", num_queries=9, num_gts=[3, 0, 2], dn_groups=3, enc=True, cls_weight=1.0)
register_cases("models/dense_heads/dino_loss", {
    "three_groups": _DINO,
    "one_group_nosync": dict(_DINO, img_shapes=SHAPES[1:], num_gts=[1, 5], dn_groups=1, sync=False),
    "batch_without_gt": dict(_DINO, img_shapes=SHAPES[:2], num_gts=[0, 0]),
}, "DINOHead loss_by_feat with dn_meta: every term, gradients, matching and denoising targets")  # fmt: skip
