import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visdet.data.transforms import Pad, RandomCrop, RandomFlip, RandomResize, Resize
from visdet.data.transforms.image_geometry import imflip, impad, rescale_size


def _results(h=40, w=56, n=4, seed=0):
    g = np.random.default_rng(seed)
    img = g.integers(0, 256, (h, w, 3), dtype=np.uint8)
    xy = g.uniform(0, [w * 0.8, h * 0.8], (n, 2))
    boxes = np.concatenate([xy, xy + g.uniform(2, 12, (n, 2))], 1).astype(np.float32)
    return {
        "img": img, "img_shape": (h, w), "ori_shape": (h, w),
        "gt_bboxes": torch.from_numpy(boxes),
        "gt_bboxes_labels": np.arange(n, dtype=np.int64),
        "gt_ignore_flags": np.zeros(n, dtype=bool),
        "gt_masks": (g.random((n, h, w)) < 0.5).astype(np.uint8),
    }  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(st.integers(4, 300), st.integers(4, 300), st.integers(8, 400), st.integers(8, 400))
def test_rescale_size_fits_the_bound(w, h, long_edge, short_edge):
    (new_w, new_h), factor = rescale_size((w, h), (long_edge, short_edge))
    lo, hi = min(long_edge, short_edge), max(long_edge, short_edge)
    assert max(new_w, new_h) <= hi + 1 and min(new_w, new_h) <= lo + 1
    assert (new_w, new_h) == (int(w * factor + 0.5), int(h * factor + 0.5))
    assert max(new_w, new_h) >= hi - 1 or min(new_w, new_h) >= lo - 1


def test_resize_keep_ratio_scales_everything_consistently():
    r = Resize(scale=(100, 70), keep_ratio=True)(_results())
    h, w = r["img"].shape[:2]
    assert (w, h) == rescale_size((56, 40), (100, 70))[0]
    assert r["img_shape"] == (h, w) and r["gt_masks"].shape[1:] == (h, w)
    assert r["scale_factor"] == (w / 56, h / 40)
    ref = _results()["gt_bboxes"] * torch.tensor([w / 56, h / 40] * 2, dtype=torch.float32)
    ref[:, 0::2] = ref[:, 0::2].clamp(0, w)
    ref[:, 1::2] = ref[:, 1::2].clamp(0, h)
    assert torch.equal(r["gt_bboxes"], ref)
    np.testing.assert_allclose(np.diag(r["homography_matrix"])[:2], [w / 56, h / 40], rtol=1e-6)
    assert r["keep_ratio"] is True


def test_resize_fixed_and_factor_sizes():
    r = Resize(scale=(33, 21))(_results())
    assert r["img"].shape == (21, 33, 3) and r["scale_factor"] == (33 / 56, 21 / 40)
    r = Resize(scale_factor=1.7)(_results())
    assert r["img"].shape[:2] == (int(40 * 1.7 + 0.5), int(56 * 1.7 + 0.5))
    r = Resize(scale=30)(_results())
    assert r["img"].shape[:2] == (30, 30)


def test_resize_without_clip_keeps_outside_boxes():
    res = _results()
    res["gt_bboxes"][0] = torch.tensor([50.0, 30.0, 70.0, 50.0])
    r = Resize(scale=(112, 80), clip_object_border=False)(res)
    assert torch.equal(r["gt_bboxes"][0], torch.tensor([100.0, 60.0, 140.0, 100.0]))


def test_resize_errors():
    with pytest.raises(ValueError, match="scale"):
        Resize()
    with pytest.raises(ValueError, match="interpolation"):
        Resize(scale=(10, 10), interpolation="cubic-ish")(_results())


def test_random_resize_draws_within_range():
    np.random.seed(0)
    t = RandomResize(scale=[(40, 30), (80, 60)], keep_ratio=False)
    for _ in range(5):
        h, w = t(_results())["img"].shape[:2]
        assert 40 <= w <= 80 and 30 <= h <= 60
    with pytest.raises(ValueError, match="ratio_range"):
        RandomResize(scale=(40, 30))(_results())


@pytest.mark.parametrize("direction", ["horizontal", "vertical", "diagonal"])
def test_flip_twice_is_identity_and_boxes_follow_pixels(direction):
    orig = _results()
    once = RandomFlip(prob=1.0, direction=direction)(_results())
    assert once["flip"] is True and once["flip_direction"] == direction
    box = orig["gt_bboxes"][0]
    x1, y1, x2, y2 = box.tolist()
    h, w = 40, 56
    exp = {"horizontal": [w - x2, y1, w - x1, y2], "vertical": [x1, h - y2, x2, h - y1],
           "diagonal": [w - x2, h - y2, w - x1, h - y1]}[direction]  # fmt: skip
    assert torch.allclose(once["gt_bboxes"][0], torch.tensor(exp))
    np.testing.assert_array_equal(once["gt_masks"][1], imflip(orig["gt_masks"][1], direction))
    once.pop("flip")
    twice = RandomFlip(prob=1.0, direction=direction)(once)
    np.testing.assert_array_equal(twice["img"], orig["img"])
    assert torch.allclose(twice["gt_bboxes"], orig["gt_bboxes"])
    np.testing.assert_allclose(twice["homography_matrix"], np.eye(3), atol=1e-6)


def test_flip_probability_zero_and_recorded_direction():
    r = RandomFlip(prob=0.0)(_results())
    assert r["flip"] is False and r["flip_direction"] is None
    res = _results()
    res.update(flip=True, flip_direction="vertical")
    r = RandomFlip(prob=0.0)(res)  # test-time: apply the recorded direction
    np.testing.assert_array_equal(r["img"], _results()["img"][::-1])


def test_flip_argument_errors():
    with pytest.raises(ValueError, match="direction"):
        RandomFlip(prob=0.5, direction="sideways")
    with pytest.raises(ValueError, match="2 probabilities for 1"):
        RandomFlip(prob=[0.2, 0.2])
    with pytest.raises(TypeError):
        RandomFlip(prob=1)


@pytest.mark.parametrize("kwargs,shape", [
    ({"size_divisor": 32}, (64, 64)), ({"size": (60, 45)}, (45, 60)),
    ({"pad_to_square": True}, (56, 56)), ({"pad_to_square": True, "size_divisor": 24}, (72, 72)),
])  # fmt: skip
def test_pad_shapes_keep_content(kwargs, shape):
    orig = _results()
    r = Pad(pad_val={"img": 7, "masks": 0}, **kwargs)(_results())
    assert r["img"].shape[:2] == shape and r["pad_shape"] == (*shape, 3) and r["img_shape"] == shape
    np.testing.assert_array_equal(r["img"][:40, :56], orig["img"])
    assert (r["img"][40:] == 7).all() and (r["img"][:, 56:] == 7).all()
    assert r["gt_masks"].shape[1:] == shape and r["gt_masks"][:, 40:].sum() == 0
    assert torch.equal(r["gt_bboxes"], orig["gt_bboxes"])


def test_pad_never_crops_and_validates():
    assert impad(np.zeros((5, 9), np.uint8), shape=(3, 3)).shape == (5, 9)
    with pytest.raises(ValueError, match="exactly one"):
        Pad()
    with pytest.raises(ValueError, match="one value per channel"):
        impad(np.zeros((5, 5, 3), np.uint8), shape=(6, 6), pad_val=(1, 2))


def test_random_crop_keeps_consistent_instances():
    np.random.seed(3)
    res = _results(n=6)
    out = RandomCrop(crop_size=(20, 24), allow_negative_crop=True)(res)
    # absolute crop_size is (w, h), as in mmdet
    assert out["img"].shape[:2] == (24, 20) and out["gt_masks"].shape[1:] == (24, 20)
    n = len(out["gt_bboxes"])
    assert len(out["gt_bboxes_labels"]) == n == len(out["gt_ignore_flags"]) == len(out["gt_masks"])
    b = out["gt_bboxes"]
    assert (b[:, 0::2] >= 0).all() and (b[:, 0::2] <= 20).all() and (b[:, 1::2] <= 24).all()
    # the translation in the homography matches a box that was kept
    tx, ty = out["homography_matrix"][0, 2], out["homography_matrix"][1, 2]
    np.testing.assert_array_equal(out["img"], _results(n=6)["img"][int(-ty):int(-ty) + 24, int(-tx):int(-tx) + 20])


def test_random_crop_rejects_crop_without_boxes():
    np.random.seed(0)
    crop = RandomCrop(crop_size=(3, 3))
    box = {"gt_bboxes": torch.tensor([[50.0, 35.0, 55.0, 39.0]])}
    outs = [crop(_results(n=1) | box) for _ in range(10)]
    assert any(o is None for o in outs)
    for o in outs:
        if o is not None:  # a kept crop overlaps the box
            assert len(o["gt_bboxes"]) == 1
    kept = RandomCrop(crop_size=(3, 3), allow_negative_crop=True)
    assert all(kept(_results(n=1) | box) is not None for _ in range(5))
    with pytest.raises(ValueError, match="crop_type"):
        RandomCrop(crop_size=(3, 3), crop_type="weird")
