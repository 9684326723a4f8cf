# Ported from mmdet tests/test_models/test_dense_heads/test_fcos_head.py (mmdet 3.3.0), rewritten for
# visdet: the head is built with keyword arguments and built losses (visdet's constructors take built
# parts), ground truth is visdet's Instances. The checks are upstream's: with no gt the classification
# loss is positive and the box and centerness losses are zero; with one gt all three are positive,
# also after switching on center sampling and then norm_on_bbox on the same head.
import torch

from visdet.models.dense_heads import FCOSHead
from visdet.models.losses import CrossEntropyLoss, FocalLoss, IoULoss
from visdet.models.task_modules import DistancePointBBoxCoder
from visdet.structures import Instances


def _head() -> FCOSHead:
    return FCOSHead(num_classes=4, in_channels=1, feat_channels=1, stacked_convs=1, norm_cfg=None,
                    loss_cls=FocalLoss(), loss_bbox=IoULoss(), loss_centerness=CrossEntropyLoss(use_sigmoid=True),
                    bbox_coder=DistancePointBBoxCoder())  # fmt: skip


def _losses(head, outs, gt, metas):
    losses = head.loss_by_feat(*outs, [gt], metas)
    return losses["loss_cls"].item(), losses["loss_bbox"].item(), losses["loss_centerness"].item()


def test_fcos_head_loss():
    s = 256
    metas = [{"img_shape": (s, s, 3), "pad_shape": (s, s, 3), "scale_factor": 1}]
    head = _head()
    feats = [torch.rand(1, 1, s // stride[1], s // stride[0]) for stride in head.prior_generator.strides]
    outs = head(feats)

    empty = Instances(bboxes=torch.empty((0, 4)), labels=torch.LongTensor([]))
    cls_loss, box_loss, ctr_loss = _losses(head, outs, empty, metas)
    assert cls_loss > 0
    assert box_loss == 0
    assert ctr_loss == 0

    one = Instances(bboxes=torch.Tensor([[23.6667, 23.8757, 238.6326, 151.8874]]), labels=torch.LongTensor([2]))
    assert all(loss > 0 for loss in _losses(head, outs, one, metas))

    head.center_sampling = True
    assert all(loss > 0 for loss in _losses(head, outs, one, metas))

    head.norm_on_bbox = True
    assert all(loss > 0 for loss in _losses(head, outs, one, metas))
