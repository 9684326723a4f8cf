import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visdet.models.task_modules import Assigner, BboxOverlaps2D, MaxIoUAssigner
from visdet.structures import Instances


def _random_boxes(gen, n, scale=40.0, integer=False):
    xy = torch.rand(n, 2, generator=gen) * scale
    wh = torch.rand(n, 2, generator=gen) * scale / 2 + 1
    boxes = torch.cat([xy, xy + wh], 1)
    return boxes.round() if integer else boxes


def _assign(assigner, priors, gts, labels=None, ignore=None):
    labels = torch.arange(len(gts)) if labels is None else labels
    return assigner.assign(
        Instances(priors=priors),
        Instances(bboxes=gts, labels=labels),
        None if ignore is None else Instances(bboxes=ignore),
    )


def test_known_assignment_and_labels():
    assigner = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5)
    priors = torch.tensor(
        [[0, 0, 10, 10], [10, 10, 20, 20], [5, 5, 15, 15], [32, 32, 38, 42]], dtype=torch.float32
    )
    gts = torch.tensor([[0, 0, 10, 9], [0, 10, 10, 19]], dtype=torch.float32)
    result = _assign(assigner, priors, gts, torch.tensor([2, 3]))
    # prior 2 is gt 1's best match (IoU 1/6.6 > 0) -> low-quality positive
    assert result.gt_inds.tolist() == [1, 0, 2, 0]
    assert result.labels.tolist() == [2, -1, 3, -1]
    torch.testing.assert_close(result.max_overlaps[0], torch.tensor(0.9))
    assert result.num_gts == 2 and result.num_preds == 4


def test_empty_gt_is_all_background_and_empty_priors_is_empty():
    assigner = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5)
    priors = torch.tensor([[0, 0, 10, 10], [5, 5, 15, 15]], dtype=torch.float32)
    result = _assign(assigner, priors, torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))
    assert result.gt_inds.tolist() == [0, 0] and result.labels.tolist() == [-1, -1]
    result = _assign(assigner, torch.zeros(0, 4), priors, ignore=torch.tensor([[0.0, 0, 5, 5]]))
    assert (
        result.gt_inds.shape == (0,)
        and result.labels.shape == (0,)
        and result.max_overlaps.shape == (0,)
    )


def test_ignore_boxes_mark_priors_ignored():
    assigner = MaxIoUAssigner(
        pos_iou_thr=0.5, neg_iou_thr=0.5, ignore_iof_thr=0.5, ignore_wrt_candidates=False
    )
    priors = torch.tensor(
        [[0, 0, 10, 10], [10, 10, 20, 20], [5, 5, 15, 15], [30, 32, 40, 42]], dtype=torch.float32
    )
    gts = torch.tensor([[0, 0, 10, 9], [0, 10, 10, 19]], dtype=torch.float32)
    result = _assign(assigner, priors, gts, ignore=torch.tensor([[30.0, 30, 40, 40]]))
    assert result.gt_inds.tolist() == [1, 0, 2, -1]


def test_neg_iou_range_leaves_low_iou_priors_ignored():
    assigner = MaxIoUAssigner(pos_iou_thr=0.9, neg_iou_thr=(0.1, 0.5), match_low_quality=False)
    priors = torch.tensor([[0, 0, 10, 10], [50, 50, 60, 60], [3, 0, 13, 10]], dtype=torch.float32)
    result = _assign(assigner, priors, torch.tensor([[0.0, 0, 10, 10]]))
    # IoU: 1.0 (pos), 0.0 (below range -> ignored), 70/130 = 0.54 (between neg and pos -> ignored)
    assert result.gt_inds.tolist() == [1, -1, -1]


def test_gt_max_assign_all_takes_every_tied_prior():
    priors = torch.tensor([[0, 0, 4, 4], [0, 0, 4, 4], [20, 20, 30, 30]], dtype=torch.float32)
    gts = torch.tensor([[0.0, 0, 8, 8]])  # IoU 0.25 with the two identical priors
    kwargs = dict(pos_iou_thr=0.5, neg_iou_thr=0.1, min_pos_iou=0.2)
    assert _assign(MaxIoUAssigner(**kwargs), priors, gts).gt_inds.tolist() == [1, 1, 0]
    assert _assign(
        MaxIoUAssigner(gt_max_assign_all=False, **kwargs), priors, gts
    ).gt_inds.tolist() == [1, -1, 0]
    # below min_pos_iou nothing is claimed
    assert _assign(
        MaxIoUAssigner(**{**kwargs, "min_pos_iou": 0.3}), priors, gts
    ).gt_inds.tolist() == [-1, -1, 0]


def test_later_gt_wins_a_prior_claimed_twice():
    priors = torch.tensor([[0, 0, 10, 10], [100, 100, 110, 110]], dtype=torch.float32)
    gts = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 11]], dtype=torch.float32)
    result = _assign(MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.3), priors, gts)
    assert result.gt_inds.tolist() == [2, 0]


def test_cpu_fallback_gives_same_result():
    gen = torch.Generator().manual_seed(3)
    priors, gts = _random_boxes(gen, 30), _random_boxes(gen, 5)
    base = _assign(MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.4), priors, gts)
    fallback = _assign(
        MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.4, gpu_assign_thr=2), priors, gts
    )
    assert torch.equal(base.gt_inds, fallback.gt_inds) and torch.equal(base.labels, fallback.labels)


def test_bad_arguments():
    with pytest.raises(ValueError, match="neg_iou_thr"):
        MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=(0.1, 0.2, 0.3))
    with pytest.raises(TypeError, match="neg_iou_thr"):
        MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr="0.5")
    with pytest.raises(ValueError, match="dtype"):
        BboxOverlaps2D(dtype="bf16")
    assert isinstance(MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5), Assigner)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(1, 40),
    g=st.integers(1, 6),
    integer=st.booleans(),
    min_pos_iou=st.sampled_from([0.0, 0.1, 0.3]),
)
def test_every_gt_with_enough_overlap_gets_a_positive(seed, n, g, integer, min_pos_iou):
    gen = torch.Generator().manual_seed(seed)
    priors, gts = _random_boxes(gen, n, integer=integer), _random_boxes(gen, g, integer=integer)
    assigner = MaxIoUAssigner(pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=min_pos_iou)
    result = _assign(assigner, priors, gts)
    overlaps = BboxOverlaps2D()(gts, priors)
    best = overlaps.max(dim=1).values
    for i in range(g):
        if best[i] >= min_pos_iou and best[i] > 0:
            # some prior at gt i's best IoU is positive (maybe won by a later tied gt)
            tied = overlaps[i] == best[i]
            assert (result.gt_inds[tied] > 0).all()
    # positives above the threshold point at a gt they overlap by >= pos_iou_thr or were claimed
    pos = result.gt_inds > 0
    assigned_iou = overlaps[result.gt_inds[pos] - 1, pos.nonzero().squeeze(1)]
    assert (assigned_iou >= min(0.7, min_pos_iou)).all()
    assert ((result.gt_inds >= -1) & (result.gt_inds <= g)).all()
    # negatives have best IoU below neg_iou_thr
    assert (result.max_overlaps[result.gt_inds == 0] < 0.3).all()
