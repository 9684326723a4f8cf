import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visdet.models.task_modules import AssignResult, PseudoSampler, RandomSampler, Sampler
from visdet.structures import Instances


def _assignment(gen, n, g, pos_share=0.3):
    kind = torch.rand(n, generator=gen)
    gt_inds = torch.zeros(n, dtype=torch.long)
    if g:
        pos = kind < pos_share
        gt_inds[pos] = torch.randint(1, g + 1, (int(pos.sum()),), generator=gen)
    gt_inds[kind > 0.9] = -1
    gt_labels = torch.randint(0, 5, (g,), generator=gen)
    labels = torch.full((n,), -1, dtype=torch.long)
    labels[gt_inds > 0] = gt_labels[gt_inds[gt_inds > 0] - 1]
    priors = torch.rand(n, 4, generator=gen) * 10
    priors[:, 2:] += priors[:, :2]
    gts = torch.rand(g, 4, generator=gen) * 10
    gts[:, 2:] += gts[:, :2]
    return AssignResult(g, gt_inds, torch.rand(n, generator=gen), labels), priors, gts, gt_labels


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(0, 60),
    g=st.integers(0, 5),
    num=st.integers(1, 40),
    frac=st.sampled_from([0.25, 0.5, 1.0]),
    add_gt=st.booleans(),
    ub=st.sampled_from([-1, 0, 1, 3]),
)
def test_random_sampler_bounds(seed, n, g, num, frac, add_gt, ub):
    gen = torch.Generator().manual_seed(seed)
    assign, priors, gts, gt_labels = _assignment(gen, n, g)
    before = assign.gt_inds.clone()
    sampler = RandomSampler(num=num, pos_fraction=frac, neg_pos_ub=ub, add_gt_as_proposals=add_gt)
    res = sampler.sample(assign, Instances(priors=priors), Instances(bboxes=gts, labels=gt_labels))
    assert torch.equal(assign.gt_inds, before)  # the caller's assignment is not modified
    offset = g if add_gt and g > 0 else 0
    all_gt_inds = torch.cat([torch.arange(1, offset + 1), before])
    num_pos_avail = int((all_gt_inds > 0).sum())
    num_neg_avail = int((all_gt_inds == 0).sum())
    p, q = res.pos_inds.numel(), res.neg_inds.numel()
    assert p == min(num_pos_avail, int(num * frac))
    expected_neg = num - p if ub < 0 else min(num - p, int(ub * max(1, p)))
    assert q == min(num_neg_avail, expected_neg)
    assert p + q <= num
    assert (all_gt_inds[res.pos_inds] > 0).all() and (all_gt_inds[res.neg_inds] == 0).all()
    assert torch.equal(res.pos_inds, res.pos_inds.unique()) and torch.equal(
        res.neg_inds, res.neg_inds.unique()
    )
    assert torch.equal(res.pos_assigned_gt_inds, all_gt_inds[res.pos_inds] - 1)
    if g:
        torch.testing.assert_close(res.pos_gt_bboxes, gts[res.pos_assigned_gt_inds])
        assert torch.equal(res.pos_gt_labels, gt_labels[res.pos_assigned_gt_inds])
    assert torch.equal(res.pos_is_gt.bool(), res.pos_inds < offset)
    assert res.avg_factor == max(p, 1) + max(q, 1)
    assert res.priors.shape == (p + q, 4)


def test_random_sampler_is_reproducible_under_manual_seed():
    gen = torch.Generator().manual_seed(0)
    assign, priors, gts, gt_labels = _assignment(gen, 200, 4, pos_share=0.5)
    sampler = RandomSampler(num=32, pos_fraction=0.25)
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        runs.append(
            sampler.sample(
                assign, Instances(priors=priors), Instances(bboxes=gts, labels=gt_labels)
            )
        )
    assert torch.equal(runs[0].pos_inds, runs[1].pos_inds) and torch.equal(
        runs[0].neg_inds, runs[1].neg_inds
    )


def test_pseudo_sampler_takes_everything_and_skips_ignored():
    gen = torch.Generator().manual_seed(1)
    assign, priors, gts, gt_labels = _assignment(gen, 50, 3)
    res = PseudoSampler().sample(
        assign, Instances(priors=priors), Instances(bboxes=gts, labels=gt_labels)
    )
    assert torch.equal(res.pos_inds, (assign.gt_inds > 0).nonzero().squeeze(1))
    assert torch.equal(res.neg_inds, (assign.gt_inds == 0).nonzero().squeeze(1))
    assert res.avg_factor == max(res.pos_inds.numel(), 1)
    assert not res.pos_is_gt.any()


def test_empty_gt_and_empty_priors():
    gen = torch.Generator().manual_seed(2)
    assign, priors, gts, gt_labels = _assignment(gen, 10, 0)
    res = RandomSampler(num=8, pos_fraction=0.5).sample(
        assign, Instances(priors=priors), Instances(bboxes=gts, labels=gt_labels)
    )
    assert res.pos_inds.numel() == 0 and res.pos_gt_bboxes.shape == (0, 4)
    assign, priors, gts, gt_labels = _assignment(gen, 0, 2)
    res = RandomSampler(num=8, pos_fraction=0.5).sample(
        assign, Instances(priors=priors), Instances(bboxes=gts, labels=gt_labels)
    )
    assert res.pos_inds.tolist() == [0, 1] and res.pos_is_gt.tolist() == [1, 1]


def test_bad_arguments_and_protocol():
    with pytest.raises(ValueError, match="pos_fraction"):
        RandomSampler(num=4, pos_fraction=1.5)
    with pytest.raises(ValueError, match="num"):
        RandomSampler(num=-1, pos_fraction=0.5)
    with pytest.raises(ValueError, match="gallery"):
        RandomSampler.random_choice(torch.arange(3), 4)
    assert isinstance(RandomSampler(num=4, pos_fraction=0.5), Sampler)
    assert isinstance(PseudoSampler(), Sampler)
    with pytest.raises(ValueError, match="max_overlaps"):
        AssignResult(
            1, torch.zeros(3, dtype=torch.long), torch.zeros(2), torch.zeros(3, dtype=torch.long)
        )
