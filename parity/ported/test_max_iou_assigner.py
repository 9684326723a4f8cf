# Ported from mmdet tests/test_models/test_task_modules/test_assigners/test_max_iou_assigner.py
# (mmdet 3.3.0), rewritten for visdet (Instances instead of mmengine's InstanceData).
import pytest
import torch

from visdet.models.task_modules import MaxIoUAssigner
from visdet.structures import Instances

PRIORS = torch.tensor(
    [[0, 0, 10, 10], [10, 10, 20, 20], [5, 5, 15, 15], [32, 32, 38, 42]], dtype=torch.float32
)
GT_BBOXES = torch.tensor([[0, 0, 10, 9], [0, 10, 10, 19]], dtype=torch.float32)
GT_LABELS = torch.tensor([2, 3])


@pytest.mark.parametrize("neg_iou_thr", [0.5, (0, 0.5)])
def test_max_iou_assigner(neg_iou_thr):
    assigner = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=neg_iou_thr)
    result = assigner.assign(
        Instances(priors=PRIORS), Instances(bboxes=GT_BBOXES, labels=GT_LABELS)
    )
    assert len(result.gt_inds) == 4
    assert len(result.labels) == 4
    assert torch.equal(result.gt_inds, torch.tensor([1, 0, 2, 0]))


def test_max_iou_assigner_with_ignore():
    assigner = MaxIoUAssigner(
        pos_iou_thr=0.5, neg_iou_thr=0.5, ignore_iof_thr=0.5, ignore_wrt_candidates=False
    )
    priors = torch.tensor(
        [[0, 0, 10, 10], [10, 10, 20, 20], [5, 5, 15, 15], [30, 32, 40, 42]], dtype=torch.float32
    )
    result = assigner.assign(
        Instances(priors=priors),
        Instances(bboxes=GT_BBOXES, labels=GT_LABELS),
        gt_instances_ignore=Instances(bboxes=torch.tensor([[30.0, 30.0, 40.0, 40.0]])),
    )
    assert torch.equal(result.gt_inds, torch.tensor([1, 0, 2, -1]))


def test_max_iou_assigner_with_empty_gt():
    assigner = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5)
    result = assigner.assign(
        Instances(priors=PRIORS), Instances(bboxes=torch.empty(0, 4), labels=torch.empty(0))
    )
    assert torch.equal(result.gt_inds, torch.tensor([0, 0, 0, 0]))


def test_max_iou_assigner_with_empty_priors():
    assigner = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5)
    result = assigner.assign(
        Instances(priors=torch.empty(0, 4)), Instances(bboxes=GT_BBOXES, labels=GT_LABELS)
    )
    assert len(result.gt_inds) == 0
    assert tuple(result.labels.shape) == (0,)


def test_max_iou_assigner_with_empty_boxes_and_ignore():
    assigner = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5, ignore_iof_thr=0.5)
    result = assigner.assign(
        Instances(priors=torch.empty(0, 4)),
        Instances(bboxes=GT_BBOXES, labels=GT_LABELS),
        gt_instances_ignore=Instances(bboxes=torch.tensor([[30.0, 30.0, 40.0, 40.0]])),
    )
    assert len(result.gt_inds) == 0
    assert tuple(result.labels.shape) == (0,)


def test_max_iou_assigner_with_empty_priors_and_gt():
    assigner = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5)
    result = assigner.assign(
        Instances(priors=torch.empty(0, 4)),
        Instances(bboxes=torch.empty(0, 4), labels=torch.empty(0)),
    )
    assert len(result.gt_inds) == 0
