import pytest
import torch

from visdet.build import build_component
from visdet.models.losses import CrossEntropyLoss, L1Loss
from visdet.models.roi_heads import BBoxHead, RCNNTestConfig
from visdet.models.task_modules import DeltaXYWHBBoxCoder


def _cfg(**over):
    cfg = {"type": "Shared2FCBBoxHead", "in_channels": 256, "fc_out_channels": 1024, "roi_feat_size": 7,
           "num_classes": 80,
           "bbox_coder": {"type": "DeltaXYWHBBoxCoder", "target_means": [0.0] * 4, "target_stds": [0.1, 0.1, 0.2, 0.2]},
           "reg_class_agnostic": False,
           "loss_cls": {"type": "CrossEntropyLoss", "use_sigmoid": False, "loss_weight": 1.0},
           "loss_bbox": {"type": "L1Loss", "loss_weight": 1.0}}
    cfg.update(over)
    return cfg


def test_shared2fc_state_dict_matches_mmdet_layout():
    shapes = {k: tuple(v.shape) for k, v in build_component("bbox_head", _cfg()).state_dict().items()}
    assert shapes == {
        "fc_cls.weight": (81, 1024), "fc_cls.bias": (81,),
        "fc_reg.weight": (320, 1024), "fc_reg.bias": (320,),
        "shared_fcs.0.weight": (1024, 256 * 7 * 7), "shared_fcs.0.bias": (1024,),
        "shared_fcs.1.weight": (1024, 1024), "shared_fcs.1.bias": (1024,),
    }
    agnostic = build_component("bbox_head", _cfg(reg_class_agnostic=True))
    assert agnostic.fc_reg.out_features == 4


def _small_head(**over):
    torch.manual_seed(0)
    return build_component("bbox_head", _cfg(in_channels=2, fc_out_channels=8, num_classes=3, **over))


def test_forward_shapes_and_empty_input():
    head = _small_head()
    cls, reg = head(torch.randn(5, 2, 7, 7))
    assert cls.shape == (5, 4) and reg.shape == (5, 12)
    cls, reg = head(torch.zeros(0, 2, 7, 7))
    assert cls.shape == (0, 4) and reg.shape == (0, 12)
    with pytest.raises(ValueError, match=r"\(5, 3, 7, 7\)"):
        head(torch.randn(5, 3, 7, 7))


def test_plain_bbox_head_with_avg_pool_has_only_predictors():
    head = BBoxHead(with_avg_pool=True, in_channels=2, roi_feat_size=7, num_classes=3,
                    bbox_coder=DeltaXYWHBBoxCoder(), loss_cls=CrossEntropyLoss(), loss_bbox=L1Loss())
    assert set(head.state_dict()) == {"fc_cls.weight", "fc_cls.bias", "fc_reg.weight", "fc_reg.bias"}
    x = torch.randn(4, 2, 7, 7)
    cls, _ = head(x)
    assert torch.allclose(cls, head.fc_cls(x.mean(dim=(2, 3))), atol=1e-6)
    with pytest.raises(TypeError, match="num_shared_fcs"):
        BBoxHead(num_shared_fcs=1, bbox_coder=DeltaXYWHBBoxCoder(), loss_cls=CrossEntropyLoss(), loss_bbox=L1Loss())


class _Sampled:
    def __init__(self, pos_priors, neg_priors, pos_gt_bboxes, pos_gt_labels):
        self.pos_priors, self.neg_priors = pos_priors, neg_priors
        self.pos_gt_bboxes, self.pos_gt_labels = pos_gt_bboxes, pos_gt_labels


def test_loss_without_positives_keeps_box_loss_zero_and_in_graph():
    head = _small_head()
    negs = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 20.0, 30.0]])
    res = _Sampled(torch.zeros(0, 4), negs, torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))
    rois = torch.cat([torch.zeros(2, 1), negs], 1)
    cls, reg = head(torch.randn(2, 2, 7, 7))
    losses = head.loss_and_target(cls, reg, rois, [res])
    assert losses["loss_bbox"] == 0 and losses["loss_bbox"].requires_grad
    expected = torch.nn.functional.cross_entropy(cls, torch.tensor([3, 3]))
    assert torch.allclose(losses["loss_cls"], expected)
    assert losses["acc"].item() == pytest.approx(100.0 * (cls.argmax(1) == 3).float().mean().item())


def test_loss_regresses_only_the_positive_class_slot():
    head = _small_head()
    pos = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    gt = torch.tensor([[1.0, 1.0, 11.0, 12.0]])
    res = _Sampled(pos, torch.zeros(0, 4), gt, torch.tensor([2]))
    cls, reg = head(torch.randn(1, 2, 7, 7))
    losses = head.loss_and_target(cls, reg, torch.cat([torch.zeros(1, 1), pos], 1), [res])
    target = head.bbox_coder.encode(pos, gt)
    assert torch.allclose(losses["loss_bbox"], (reg[:, 8:12] - target).abs().sum() / 1)


def test_predict_rescales_and_handles_no_rois():
    head = _small_head()
    rois = torch.tensor([[0.0, 10.0, 10.0, 50.0, 40.0], [0.0, 30.0, 5.0, 60.0, 60.0]])
    cls, reg = head(torch.randn(2, 2, 7, 7))
    meta = {"img_shape": (64, 64), "scale_factor": (2.0, 4.0)}
    cfg = RCNNTestConfig(score_thr=0.0, max_per_img=100)
    (plain,) = head.predict_by_feat([rois], [cls], [reg], [meta], test_cfg=cfg)
    (scaled,) = head.predict_by_feat([rois], [cls], [reg], [meta], test_cfg=cfg, rescale=True)
    assert len(plain) > 0 and torch.equal(plain.labels, scaled.labels)
    assert torch.allclose(scaled.bboxes * torch.tensor([2.0, 4.0, 2.0, 4.0]), plain.bboxes)
    assert torch.all(plain.bboxes <= 64) and torch.all(plain.labels < 3)
    (empty,) = head.predict_by_feat([rois[:0]], [cls[:0]], [reg[:0]], [meta], test_cfg=cfg)
    assert empty.bboxes.shape == (0, 4) and empty.labels.dtype == torch.long
