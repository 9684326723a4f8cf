# Ported from mmdet tests/test_models/test_task_modules/test_assigners/test_dynamic_soft_label_assigner.py
# (mmdet 3.3.0), TestDynamicSoftLabelAssigner, rewritten for visdet. Priors are (x, y, stride_w,
# stride_h); the scores are one class's logits. Difference: visdet boxes are one type
# (Tensor[N, 4]), so the box-type test gives the gt boxes as a strided view of a wider tensor
# instead of mmdet's HorizontalBoxes.
import torch

from visdet.models.task_modules import DynamicSoftLabelAssigner
from visdet.structures import Instances


def _assigner() -> DynamicSoftLabelAssigner:
    return DynamicSoftLabelAssigner(soft_center_radius=3.0, topk=1, iou_weight=3.0)


def _two_priors(bboxes: list[list[float]], priors: list[list[float]]) -> Instances:
    return Instances(bboxes=torch.tensor(bboxes), scores=torch.tensor([[0.2], [0.8]]), priors=torch.tensor(priors))


def test_assign():
    # the first prior's centre (30, 30) is inside the gt and its box equals it; the second is far away
    pred = _two_priors([[23.0, 23, 43, 43], [4, 5, 6, 7]], [[30.0, 30, 8, 8], [4, 5, 6, 7]])
    gt = Instances(bboxes=torch.tensor([[23.0, 23, 43, 43]]), labels=torch.tensor([0]))
    result = _assigner().assign(pred_instances=pred, gt_instances=gt)
    assert result.gt_inds.tolist() == [1, 0]


def test_assign_with_no_valid_bboxes():
    # no prior centre lies inside the only gt: every prior is background, no error (as mmdet)
    pred = _two_priors([[123.0, 123, 143, 143], [114, 151, 161, 171]], [[30.0, 30, 8, 8], [55, 55, 8, 8]])
    gt = Instances(bboxes=torch.tensor([[0.0, 0, 1, 1]]), labels=torch.tensor([0]))
    result = _assigner().assign(pred_instances=pred, gt_instances=gt)
    assert result.gt_inds.tolist() == [0, 0]
    assert result.num_gts == 1


def test_assign_with_empty_gt():
    # upstream's predicted boxes are [2, 1, 4] and its empty labels float: kept, both are unread without gt
    pred = Instances(
        bboxes=torch.tensor([[[30.0, 40, 50, 60]], [[4, 5, 6, 7]]]),
        scores=torch.tensor([[0.2], [0.8]]),
        priors=torch.tensor([[0.0, 12, 23, 34], [4, 5, 6, 7]]),
    )
    gt = Instances(bboxes=torch.empty(0, 4), labels=torch.empty(0))
    result = _assigner().assign(pred_instances=pred, gt_instances=gt)
    assert result.gt_inds.tolist() == [0, 0]


def test_box_type_input():
    pred = _two_priors([[23.0, 23, 43, 43], [4, 5, 6, 7]], [[30.0, 30, 8, 8], [4, 5, 6, 7]])
    wide = torch.tensor([[-1.0, 23, -1, 23, -1, 43, -1, 43]])
    gt_boxes = wide[:, 1::2]  # a non-contiguous view holding [23, 23, 43, 43]
    assert not gt_boxes.is_contiguous()
    gt = Instances(bboxes=gt_boxes, labels=torch.tensor([0]))
    result = _assigner().assign(pred_instances=pred, gt_instances=gt)
    assert result.gt_inds.tolist() == [1, 0]
