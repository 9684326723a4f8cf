import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visdet.models.task_modules import BoxCoder, DeltaXYWHBBoxCoder


def _boxes(gen, n, scale=50.0):
    xy = torch.rand(n, 2, generator=gen) * scale
    wh = torch.rand(n, 2, generator=gen) * scale + 1.0
    return torch.cat([xy, xy + wh], 1)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 20), normalised=st.booleans())
def test_decode_inverts_encode(seed, n, normalised):
    gen = torch.Generator().manual_seed(seed)
    kwargs = (
        dict(target_means=(0.1, -0.2, 0.05, 0.0), target_stds=(0.1, 0.1, 0.2, 0.2))
        if normalised
        else {}
    )
    coder = DeltaXYWHBBoxCoder(**kwargs)
    priors = _boxes(gen, n)
    # targets within the wh ratio clip (|log(w ratio)| < log(1000/16))
    gts = _boxes(gen, n)
    deltas = coder.encode(priors, gts)
    torch.testing.assert_close(coder.decode(priors, deltas), gts, atol=1e-3, rtol=1e-4)


def test_encode_known_values():
    coder = DeltaXYWHBBoxCoder()
    priors = torch.tensor([[0.0, 0.0, 10.0, 20.0]])
    gts = torch.tensor([[5.0, 0.0, 25.0, 20.0]])  # centre +10 in x, width doubled
    expected = torch.tensor([[1.0, 0.0, math.log(2.0), 0.0]])
    torch.testing.assert_close(coder.encode(priors, gts), expected)


def test_decode_clips_to_max_shape_and_wh_ratio():
    coder = DeltaXYWHBBoxCoder()
    priors = torch.tensor([[10.0, 10.0, 20.0, 20.0]])
    out = coder.decode(priors, torch.tensor([[0.0, 0.0, 10.0, -10.0]]))
    # dw clamped at |log(16/1000)| -> width 10 * 1000/16 = 625
    torch.testing.assert_close(out[0, 2] - out[0, 0], torch.tensor(625.0))
    torch.testing.assert_close(out[0, 3] - out[0, 1], torch.tensor(10 * 16 / 1000))
    clipped = coder.decode(priors, torch.tensor([[0.0, 0.0, 3.0, 3.0]]), max_shape=(30, 40))
    assert clipped[0, 0] == 0 and clipped[0, 1] == 0 and clipped[0, 2] == 40 and clipped[0, 3] == 30
    unclipped = DeltaXYWHBBoxCoder(clip_border=False).decode(
        priors, torch.tensor([[0.0, 0.0, 3.0, 3.0]]), max_shape=(30, 40)
    )
    assert unclipped[0, 0] < 0


def test_ctr_clamp_limits_centre_shift():
    coder = DeltaXYWHBBoxCoder(add_ctr_clamp=True, ctr_clamp=2)
    priors = torch.tensor([[0.0, 0.0, 6.0, 6.0]])
    out = coder.decode(priors, torch.tensor([[5.0, -5.0, 0.0, 0.0]]))
    torch.testing.assert_close((out[0, :2] + out[0, 2:]) / 2, torch.tensor([5.0, 1.0]))


def test_multiclass_and_batched_agree_with_single():
    gen = torch.Generator().manual_seed(0)
    coder = DeltaXYWHBBoxCoder(target_stds=(0.1, 0.1, 0.2, 0.2))
    priors = _boxes(gen, 7)
    deltas = torch.randn(7, 12, generator=gen)
    multi = coder.decode(priors, deltas, max_shape=(40, 60))
    assert multi.shape == (7, 12)
    for c in range(3):
        torch.testing.assert_close(
            multi[:, 4 * c : 4 * c + 4],
            coder.decode(priors, deltas[:, 4 * c : 4 * c + 4], (40, 60)),
        )
    batched = coder.decode(
        torch.stack([priors, priors]), torch.stack([deltas, deltas]), max_shape=[(40, 60), (20, 30)]
    )
    torch.testing.assert_close(batched[0], multi)
    torch.testing.assert_close(batched[1], coder.decode(priors, deltas, max_shape=(20, 30)))


def test_empty_and_bad_shapes():
    coder = DeltaXYWHBBoxCoder()
    assert coder.decode(torch.zeros(0, 4), torch.zeros(0, 4), max_shape=(32, 32)).shape == (0, 4)
    with pytest.raises(ValueError, match="deltas"):
        coder.decode(torch.zeros(3, 4), torch.zeros(3, 5))
    with pytest.raises(ValueError, match="rois"):
        coder.decode(torch.zeros(3, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="max_shape"):
        coder.decode(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), max_shape=[(3, 3)] * 3)
    with pytest.raises(ValueError, match="gt_bboxes"):
        coder.encode(torch.zeros(3, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="target_means"):
        DeltaXYWHBBoxCoder(target_means=(0.0, 0.0))


def test_is_a_box_coder_and_gradients_flow():
    coder = DeltaXYWHBBoxCoder()
    assert isinstance(coder, BoxCoder)
    deltas = torch.zeros(2, 4, requires_grad=True)
    coder.decode(torch.tensor([[0.0, 0, 4, 4], [1, 1, 3, 5]]), deltas).sum().backward()
    assert deltas.grad is not None and deltas.grad.abs().sum() > 0
