"""The DETR-family loss mixins: clear errors for a bad host or bad input; mmdet's loss names and shapes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from visdet.build import build_component
from visdet.models.dense_heads.detr_loss import DeformableDETRLossMixin, DETRLossMixin
from visdet.models.dense_heads.dino_loss import DINOLossMixin
from visdet.structures import Instances

COSTS = [{"type": "FocalLossCost", "weight": 2.0}, {"type": "BBoxL1Cost", "weight": 5.0, "box_format": "xywh"},
         {"type": "IoUCost", "iou_mode": "giou", "weight": 2.0}]  # fmt: skip
METAS = [{"img_shape": (40, 50)}, {"img_shape": (32, 32)}]


class _Host(nn.Module):
    def __init__(self, *, sync: bool = True, skip: tuple[str, ...] = ()) -> None:
        super().__init__()
        values = {
            "num_classes": 4, "cls_out_channels": 4, "bg_cls_weight": 0.0, "sync_cls_avg_factor": sync,
            "loss_cls": build_component("loss", {"type": "FocalLoss", "use_sigmoid": True, "loss_weight": 2.0}),
            "loss_bbox": build_component("loss", {"type": "L1Loss", "loss_weight": 5.0}),
            "loss_iou": build_component("loss", {"type": "GIoULoss", "loss_weight": 2.0}),
            "assigner": build_component("assigner", {"type": "HungarianAssigner", "match_costs": COSTS}),
        }  # fmt: skip
        for name, value in values.items():
            if name not in skip:
                setattr(self, name, value)


class DeformableHost(DeformableDETRLossMixin, _Host):
    pass


class DinoHost(DINOLossMixin, _Host):
    pass


def _gts() -> list[Instances]:
    return [Instances(bboxes=torch.tensor([[1.0, 2, 20, 30], [5, 5, 10, 12]]), labels=torch.tensor([1, 3])),
            Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))]  # fmt: skip


def _preds(layers: int = 3, queries: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    boxes = torch.cat([torch.rand(layers, 2, queries, 2, generator=gen) * 0.6 + 0.2,
                       torch.rand(layers, 2, queries, 2, generator=gen) * 0.3 + 0.05], -1)  # fmt: skip
    return torch.randn(layers, 2, queries, 4, generator=gen), boxes


def test_missing_host_attributes_are_named():
    host = type("Bare", (DETRLossMixin, _Host), {})(skip=("assigner", "bg_cls_weight"))
    message = r"Bare uses DETRLossMixin but lacks the attribute\(s\) assigner, bg_cls_weight"
    with pytest.raises(AttributeError, match=message):
        host.loss_by_feat(*_preds(), _gts(), METAS)


def test_ignore_instances_and_bad_shapes_are_refused():
    host = DeformableHost()
    cls, boxes = _preds()
    with pytest.raises(ValueError, match="batch_gt_instances_ignore=None"):
        host.loss_by_feat(cls, boxes, None, None, _gts(), METAS, batch_gt_instances_ignore=_gts())
    with pytest.raises(ValueError, match=r"must be \[L, B, Q, C\]"):
        host.loss_by_feat(cls[0], boxes[0], None, None, _gts(), METAS)
    with pytest.raises(ValueError, match="metas for a batch of 2"):
        host.loss_by_feat(cls, boxes, None, None, _gts(), METAS[:1])
    with pytest.raises(KeyError, match="img_shape"):
        host.loss_by_feat(cls, boxes, None, None, _gts(), [{"pad_shape": (4, 4)}] * 2)
    with pytest.raises(ValueError, match="without enc_bbox_preds"):
        host.loss_by_feat(cls, boxes, cls[0], None, _gts(), METAS)


def test_deformable_loss_names_and_shapes():
    cls, boxes = _preds()
    losses = DeformableHost().loss_by_feat(cls, boxes, cls[0], boxes[0], _gts(), METAS)
    expected = [f"{prefix}loss_{part}" for prefix in ("", "d0.", "d1.") for part in ("cls", "bbox", "iou")]
    assert list(losses) == expected + ["enc_loss_cls", "enc_loss_bbox", "enc_loss_iou"]
    assert losses["loss_cls"].shape == (1,)  # synced avg factor: mmdet's [1] tensor
    assert DeformableHost(sync=False).loss_by_feat(cls, boxes, None, None, _gts(), METAS)["loss_cls"].shape == ()


def test_dino_dn_meta_errors_and_names():
    host = DinoHost()
    cls, boxes = _preds(queries=6 + 8)  # 2 groups of 2 * max 2 gts = 8 denoising queries, then 6 matching ones
    with pytest.raises(KeyError, match="num_denoising_groups"):
        host.loss_by_feat(cls, boxes, None, None, _gts(), METAS, {"num_denoising_queries": 8})
    with pytest.raises(TypeError, match="dn_meta must be a dict"):
        host.loss_by_feat(cls, boxes, None, None, _gts(), METAS, [8, 2])
    with pytest.raises(ValueError, match="num_denoising_groups must be >= 1"):
        host.loss_by_feat(cls, boxes, None, None, _gts(), METAS,
                          {"num_denoising_queries": 8, "num_denoising_groups": 0})  # fmt: skip
    losses = host.loss_by_feat(cls, boxes, None, None, _gts(), METAS,
                               {"num_denoising_queries": 8, "num_denoising_groups": 2})  # fmt: skip
    dn = [f"{prefix}dn_loss_{part}" for prefix in ("", "d0.", "d1.") for part in ("cls", "bbox", "iou")]
    assert list(losses)[9:] == dn
    # denoising targets: group g's first half holds the gts, in order
    labels, _, targets, weights, num_pos, num_neg = host.get_dn_targets(
        _gts(), METAS, {"num_denoising_queries": 8, "num_denoising_groups": 2})
    assert labels[0].tolist() == [1, 3, 4, 4, 1, 3, 4, 4] and labels[1].tolist() == [4] * 8
    assert (num_pos, num_neg) == (4, 4)
    assert weights[0][:, 0].tolist() == [1, 1, 0, 0, 1, 1, 0, 0]
    # without dn_meta: only the matching terms
    assert len(host.loss_by_feat(cls, boxes, None, None, _gts(), METAS, None)) == 9
