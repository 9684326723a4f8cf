"""``RandomChoice`` and ``RandomChoiceResize``: their draws, their results and their errors.

Parity with mmcv is the golden cases' job (``parity/cases/data_transforms_detr.py``); these
tests pin visdet's own behaviour: which numpy draws are made, what a branch returning
``None`` does, and how bad arguments are refused.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visdet.data.transforms import RandomChoice, RandomChoiceResize, RandomCrop, RandomFlip, Resize


def _results(h: int = 30, w: int = 40) -> dict:
    return {"img": np.arange(h * w * 3, dtype=np.uint8).reshape(h, w, 3), "img_shape": (h, w),
            "gt_bboxes": torch.tensor([[2.0, 3.0, 12.0, 20.0]]), "gt_bboxes_labels": np.array([1])}  # fmt: skip


class _Mark:
    """A transform that records its name in ``results['path']``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, results: dict) -> dict:
        results.setdefault("path", []).append(self.name)
        return results


def test_random_choice_draws_one_numpy_choice_per_item():
    choice = RandomChoice(transforms=[[_Mark("a")], [_Mark("b"), _Mark("c")], _Mark("d")], prob=[0.2, 0.5, 0.3])
    np.random.seed(7)
    paths = [choice({})["path"] for _ in range(20)]
    np.random.seed(7)
    drawn = [np.random.choice(np.arange(3), p=[0.2, 0.5, 0.3]) for _ in range(20)]
    assert paths == [[["a"], ["b", "c"], ["d"]][i] for i in drawn]
    assert {tuple(p) for p in paths} == {("a",), ("b", "c"), ("d",)}


def test_random_choice_without_prob_is_uniform_over_the_candidates():
    choice = RandomChoice(transforms=[[_Mark("a")], [_Mark("b")]])
    np.random.seed(0)
    picks = [choice({})["path"][0] for _ in range(400)]
    assert 150 < picks.count("a") < 250


def test_a_branch_rejecting_the_item_returns_none():
    after = _Mark("after")
    choice = RandomChoice(transforms=[[RandomCrop(crop_size=[2, 2]), after]], prob=[1.0])
    results = _results()
    results["gt_bboxes"] = torch.tensor([[100.0, 100.0, 110.0, 110.0]])  # outside every crop
    np.random.seed(0)
    assert choice(results) is None and "path" not in results  # the rest of the branch does not run


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"transforms": []}, "at least one candidate"),
        ({"transforms": [[_Mark("a")]], "prob": [0.5, 0.5]}, "2 probabilities for 1 candidates"),
        ({"transforms": [[_Mark("a")], [_Mark("b")]], "prob": [0.5, 0.6]}, "sum to 1"),
        ({"transforms": [[_Mark("a")], [_Mark("b")]], "prob": [1.5, -0.5]}, "non-negative"),
    ],
)
def test_random_choice_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomChoice(**kwargs)


def test_random_choice_accepts_a_sum_that_is_one_up_to_rounding():
    choice = RandomChoice(transforms=[[_Mark(str(k))] for k in range(3)], prob=[0.7, 0.2, 0.1])
    assert sum(choice.prob) != 1.0  # 0.9999999999999999: mmcv's plain `sum(prob) == 1` would refuse it
    np.random.seed(1)
    assert choice({})["path"][0] in "012"


def test_random_choice_resize_draws_randint_and_records_the_index():
    scales = [(20, 30), (36, 24), (28, 28)]
    transform = RandomChoiceResize(scales=scales, keep_ratio=False)
    np.random.seed(3)
    shapes = [(transform(_results())["scale_idx"], transform.resize.scale) for _ in range(10)]
    np.random.seed(3)
    assert [i for i, _ in shapes] == [np.random.randint(3) for _ in range(10)]
    np.random.seed(3)
    for _ in range(10):
        out = transform(_results())
        w, h = scales[out["scale_idx"]]
        assert out["img_shape"] == (h, w) and out["scale"] == (w, h)
        assert out["scale_factor"] == (w / 40, h / 30)


def test_random_choice_resize_keep_ratio_equals_resize_to_the_drawn_scale():
    transform = RandomChoiceResize(scales=[[48, 100], [64, 100]], keep_ratio=True)
    np.random.seed(0)
    out = transform(_results())
    expected = Resize(scale=transform.scales[out["scale_idx"]], keep_ratio=True)(_results())
    assert np.array_equal(out["img"], expected["img"]) and torch.equal(out["gt_bboxes"], expected["gt_bboxes"])
    assert np.array_equal(out["homography_matrix"], expected["homography_matrix"])


def test_one_pair_is_the_only_scale():
    for scales in ((26, 30), [26, 30]):
        transform = RandomChoiceResize(scales=scales, keep_ratio=False)
        assert transform.scales == [(26, 30)]
        assert transform(_results())["img_shape"] == (30, 26)


@pytest.mark.parametrize("scales", [800, [800, 1333, 600], [(800, 1333), 600], [(0, 10)], [], "ab"])
def test_random_choice_resize_refuses_anything_but_pairs(scales):
    with pytest.raises(ValueError, match="scale"):
        RandomChoiceResize(scales=scales)


def test_random_choice_resize_only_wraps_resize():
    with pytest.raises(ValueError, match="resize_type"):
        RandomChoiceResize(scales=[(10, 10)], resize_type="FixScaleResize")


def test_absolute_range_crop_with_no_box_left_is_kept_with_allow_negative_crop():
    results = _results(40, 40)
    results["gt_bboxes"] = torch.tensor([[0.0, 0.0, 3.0, 3.0]])
    crop = RandomCrop(crop_size=[8, 12], crop_type="absolute_range", allow_negative_crop=True)
    kept = 0
    for seed in range(20):
        np.random.seed(seed)
        out = crop({**results, "gt_bboxes": results["gt_bboxes"].clone()})
        assert out is not None and 8 <= out["img_shape"][0] <= 12 and 8 <= out["img_shape"][1] <= 12
        kept += len(out["gt_bboxes"]) == 0 and len(out["gt_bboxes_labels"]) == 0
    assert kept > 0


def test_flip_then_choice_composes_the_homography():
    np.random.seed(0)
    results = RandomFlip(prob=1.0)(_results())
    out = RandomChoiceResize(scales=[(20, 15)], keep_ratio=False)(results)
    flip = np.array([[-1, 0, 40], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    scale = np.diag([0.5, 0.5, 1.0]).astype(np.float32)
    assert np.allclose(out["homography_matrix"], scale @ flip)
