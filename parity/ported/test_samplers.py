# Ported from mmdetection's sampler tests. mmdet 3.3.0's
# tests/test_models/test_task_modules/test_samplers/test_pesudo_sampler.py is a stub
# ("TODO: follow up"); the RandomSampler cases here (test_random_sampler,
# test_random_sampler_empty_gt, test_random_sampler_empty_pred) are the ones mmdetection
# 2.x's test suite carried, rewritten for visdet and mmdet 3.x's pos_priors / neg_priors
# names. A pseudo-sampler check covers the stub's subject.
import torch

from visdet.models.task_modules import MaxIoUAssigner, PseudoSampler, RandomSampler
from visdet.structures import Instances

PRIORS = torch.tensor(
    [[0, 0, 10, 10], [10, 10, 20, 20], [5, 5, 15, 15], [32, 32, 38, 42]], dtype=torch.float32
)
GT_BBOXES = torch.tensor([[0, 0, 10, 9], [0, 10, 10, 19]], dtype=torch.float32)
GT_LABELS = torch.tensor([1, 2])


def _assigner() -> MaxIoUAssigner:
    return MaxIoUAssigner(
        pos_iou_thr=0.5, neg_iou_thr=0.5, ignore_iof_thr=0.5, ignore_wrt_candidates=False
    )


def _sample(priors, gt_bboxes, gt_labels, ignore=None):
    pred = Instances(priors=priors)
    gt = Instances(bboxes=gt_bboxes, labels=gt_labels)
    assign = _assigner().assign(pred, gt, None if ignore is None else Instances(bboxes=ignore))
    sampler = RandomSampler(num=10, pos_fraction=0.5, neg_pos_ub=-1, add_gt_as_proposals=True)
    return sampler.sample(assign, pred, gt)


def test_random_sampler():
    result = _sample(PRIORS, GT_BBOXES, GT_LABELS, ignore=torch.tensor([[30.0, 30.0, 40.0, 40.0]]))
    assert len(result.pos_priors) == len(result.pos_inds)
    assert len(result.neg_priors) == len(result.neg_inds)


def test_random_sampler_empty_gt():
    result = _sample(PRIORS, torch.empty(0, 4), torch.empty(0).long())
    assert len(result.pos_priors) == len(result.pos_inds)
    assert len(result.neg_priors) == len(result.neg_inds)


def test_random_sampler_empty_pred():
    result = _sample(torch.empty(0, 4), GT_BBOXES, GT_LABELS)
    assert len(result.pos_priors) == len(result.pos_inds)
    assert len(result.neg_priors) == len(result.neg_inds)


def test_pseudo_sampler():
    pred = Instances(priors=PRIORS)
    gt = Instances(bboxes=GT_BBOXES, labels=GT_LABELS)
    assign = _assigner().assign(pred, gt)
    result = PseudoSampler().sample(assign, pred, gt)
    assert result.pos_inds.tolist() == [0, 2] and result.neg_inds.tolist() == [1, 3]
    assert result.avg_factor == 2
