import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visdet.models.data_preprocessors import DetDataPreprocessor

MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def test_list_inputs_flip_normalise_and_pad_bottom_right():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (3, 5, 7), generator=g, dtype=torch.uint8)
    b = torch.randint(0, 256, (3, 9, 4), generator=g, dtype=torch.uint8)
    pre = DetDataPreprocessor(mean=MEAN, std=STD, bgr_to_rgb=True, pad_size_divisor=4, pad_value=-1.0)
    batch, metas = pre([a, b], [{"img_shape": (5, 7)}, {"img_shape": (9, 4)}])
    assert batch.shape == (2, 3, 12, 8) and batch.dtype == torch.float32
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    # channel 0 of the output is channel 2 (R of BGR) of the input
    expected_a = (a[[2, 1, 0]].float() - mean) / std
    assert torch.equal(batch[0, :, :5, :7], expected_a)
    assert torch.all(batch[0, :, 5:, :] == -1.0) and torch.all(batch[0, :, :, 7:] == -1.0)
    assert torch.equal(batch[1, :, :9, :4], (b[[2, 1, 0]].float() - mean) / std)
    # pad_shape is each image's own size rounded up; batch_input_shape the batch's
    assert metas[0]["pad_shape"] == (8, 8) and metas[1]["pad_shape"] == (12, 4)
    assert metas[0]["batch_input_shape"] == (12, 8) == metas[1]["batch_input_shape"]
    assert metas[0]["img_shape"] == (5, 7)


def test_tensor_batch_and_no_normalisation():
    x = torch.arange(2 * 3 * 3 * 5, dtype=torch.float32).view(2, 3, 3, 5)
    batch, metas = DetDataPreprocessor(pad_size_divisor=4)(x)
    assert metas is None
    assert batch.shape == (2, 3, 4, 8)
    assert torch.equal(batch[:, :, :3, :5], x) and batch[:, :, 3:].abs().sum() == 0


def test_inputs_are_not_modified_and_metas_are_copies():
    x = torch.full((3, 4, 4), 7, dtype=torch.uint8)
    meta = {"img_shape": (4, 4)}
    DetDataPreprocessor(mean=MEAN, std=STD, bgr_to_rgb=True)([x], [meta])
    assert torch.all(x == 7) and "pad_shape" not in meta


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mean": MEAN}, "both"),
        ({"mean": [1, 2], "std": [1, 2]}, "1 or 3"),
        ({"bgr_to_rgb": True, "rgb_to_bgr": True}, "cannot both"),
        ({"pad_size_divisor": 0}, "pad_size_divisor"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DetDataPreprocessor(**kwargs)


def test_bad_inputs_name_the_shape():
    pre = DetDataPreprocessor(mean=MEAN, std=STD)
    with pytest.raises(ValueError, match=r"\(1, 4, 4\)"):
        pre([torch.zeros(1, 4, 4)])
    with pytest.raises(ValueError, match=r"inputs\[0\]"):
        pre([torch.zeros(4, 4)])
    with pytest.raises(ValueError, match=r"\(3, 4, 4\)"):
        pre(torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="metas"):
        pre([torch.zeros(3, 4, 4)], [{}, {}])
    with pytest.raises(ValueError, match="3 channels"):
        DetDataPreprocessor(bgr_to_rgb=True)([torch.zeros(1, 4, 4)])


def test_no_state_dict_entries():
    assert DetDataPreprocessor(mean=MEAN, std=STD).state_dict() == {}


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.tuples(st.integers(1, 40), st.integers(1, 40)), min_size=1, max_size=4),
    divisor=st.integers(1, 16),
)
def test_padding_properties(sizes, divisor):
    images = [torch.ones(3, h, w) for h, w in sizes]
    batch, metas = DetDataPreprocessor(pad_size_divisor=divisor)(images, [{} for _ in sizes])
    bh, bw = batch.shape[-2:]
    assert bh % divisor == 0 and bw % divisor == 0
    assert bh - divisor < max(h for h, _ in sizes) <= bh and bw - divisor < max(w for _, w in sizes) <= bw
    for (h, w), meta, image in zip(sizes, metas, batch):
        ph, pw = meta["pad_shape"]
        assert ph % divisor == 0 and h <= ph < h + divisor and w <= pw < w + divisor
        assert image[:, :h, :w].sum() == 3 * h * w and image.sum() == 3 * h * w  # padding is zero
