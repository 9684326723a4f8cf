import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from visdet.models.losses import CrossEntropyLoss, binary_cross_entropy, cross_entropy


def _data(seed, n=10, c=5):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=gen), torch.randint(0, c, (n,), generator=gen)


def test_softmax_matches_torch_and_loss_weight():
    pred, label = _data(0)
    torch.testing.assert_close(CrossEntropyLoss()(pred, label), F.cross_entropy(pred, label))
    torch.testing.assert_close(
        CrossEntropyLoss(loss_weight=3.0)(pred, label), 3 * F.cross_entropy(pred, label)
    )
    cw = [0.5, 1.0, 2.0, 1.0, 0.1]
    expected = F.cross_entropy(pred, label, weight=torch.tensor(cw), reduction="none").mean()
    torch.testing.assert_close(CrossEntropyLoss(class_weight=cw)(pred, label), expected)


def test_avg_factor_and_sample_weight():
    pred, label = _data(1)
    weight = torch.rand(10, generator=torch.Generator().manual_seed(5))
    per_sample = F.cross_entropy(pred, label, reduction="none")
    out = CrossEntropyLoss()(pred, label, weight, avg_factor=4.0)
    torch.testing.assert_close(out, (per_sample * weight).sum() / 4.0)
    with pytest.raises(ValueError, match="sum"):
        CrossEntropyLoss()(pred, label, avg_factor=4.0, reduction_override="sum")


@pytest.mark.parametrize("use_sigmoid", [False, True])
def test_ignore_index_with_avg_non_ignore_equals_dropping(use_sigmoid):
    pred, label = _data(2)
    label[[1, 4, 7]] = 255
    loss = CrossEntropyLoss(use_sigmoid=use_sigmoid, ignore_index=255, avg_non_ignore=True)
    keep = label != 255
    torch.testing.assert_close(loss(pred, label), loss(pred[keep], label[keep]))
    all_ignored = torch.full((10,), 255)
    assert loss(pred, all_ignored) == 0


def test_ignore_index_without_avg_non_ignore_averages_over_all_and_warns():
    pred, label = _data(3)
    label[:4] = 2
    with pytest.warns(UserWarning, match="avg_non_ignore"):
        loss = CrossEntropyLoss(ignore_index=2)
    expected = F.cross_entropy(pred, label, ignore_index=2, reduction="sum") / 10
    torch.testing.assert_close(loss(pred, label), expected)


def test_sigmoid_onehot_background_is_all_negative():
    pred = torch.randn(4, 3, generator=torch.Generator().manual_seed(4))
    label = torch.tensor([0, 3, 2, 3])  # 3 == num_classes: background
    target = torch.zeros(4, 3)
    target[0, 0] = 1
    target[2, 2] = 1
    expected = F.binary_cross_entropy_with_logits(pred, target)
    torch.testing.assert_close(binary_cross_entropy(pred, label), expected)


def test_mask_loss_selects_label_channel():
    gen = torch.Generator().manual_seed(6)
    pred = torch.randn(3, 4, 5, 5, generator=gen)
    target = (torch.rand(3, 5, 5, generator=gen) > 0.5).float()
    labels = torch.tensor([3, 0, 2])
    out = CrossEntropyLoss(use_mask=True)(pred, target, labels)
    expected = F.binary_cross_entropy_with_logits(pred[torch.arange(3), labels], target)
    assert out.shape == (1,)
    torch.testing.assert_close(out[0], expected)


def test_bad_options():
    with pytest.raises(ValueError, match="use_sigmoid"):
        CrossEntropyLoss(use_sigmoid=True, use_mask=True)
    with pytest.raises(ValueError, match="'avg'"):
        CrossEntropyLoss(reduction="avg")
    pred, label = _data(7)
    with pytest.raises(ValueError, match="reduction_override"):
        CrossEntropyLoss()(pred, label, reduction_override="max")


def test_empty_input_is_zero_or_nan_free_with_avg_factor():
    pred, label = torch.zeros(0, 5), torch.zeros(0, dtype=torch.long)
    assert CrossEntropyLoss()(pred, label, avg_factor=1.0) == 0
    assert CrossEntropyLoss(use_sigmoid=True)(pred, label, reduction_override="sum") == 0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), use_sigmoid=st.booleans())
def test_zero_weights_give_zero_loss(seed, use_sigmoid):
    pred, label = _data(seed)
    assert CrossEntropyLoss(use_sigmoid=use_sigmoid)(pred, label, torch.zeros(10)) == 0
    assert cross_entropy(pred, label, torch.zeros(10), reduction="sum") == 0
