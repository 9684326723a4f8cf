# Ported from mmcv 2.1.0 tests/test_transforms/test_transforms_wrapper.py (test_random_choice) and
# tests/test_transforms/test_transforms_processing.py (TestRandomChoiceResize). Rewritten for visdet:
# transforms are built from configs at visdet's config boundary (or constructed with keywords), boxes
# are Tensor[N, 4], errors are visdet's (ConfigError / ValueError instead of AssertionError). Upstream
# reads its color.jpg (300 x 400); a seeded random image of that size stands in, and mmcv's
# semantic-map parts are out of scope. The TransformBroadcaster part of test_random_choice has no
# counterpart (visdet has no TransformBroadcaster).
import copy

import numpy as np
import pytest
import torch

from visdet.build import build_component
from visdet.config import ConfigError
from visdet.data.transforms import RandomChoice


class _AddToValue:
    """Adds ``addend`` to ``results['value']`` (upstream's dummy transform)."""

    def __init__(self, addend: float) -> None:
        self.addend = addend

    def __call__(self, results: dict) -> dict:
        results["value"] = results["value"] + self.addend
        return results


def test_random_choice():
    # candidate probabilities given: only the first candidate can run
    pipeline = RandomChoice(transforms=[[_AddToValue(1.0)], [_AddToValue(2.0)]], prob=[1.0, 0.0])
    assert pipeline({"value": 1})["value"] == 2.0
    # default: uniform; either candidate
    pipeline = RandomChoice(transforms=[[_AddToValue(1.0)], [_AddToValue(2.0)]])
    assert pipeline({"value": 1})["value"] in (2.0, 3.0)


IMAGE = np.random.RandomState(0).randint(0, 256, (300, 400, 3)).astype(np.uint8)


def _results() -> dict:
    return {"img": copy.deepcopy(IMAGE), "img_shape": IMAGE.shape[:2]}


def test_random_choice_resize_repr():
    transform = build_component("transform", {"type": "RandomChoiceResize", "scales": [[1333, 800], [1333, 600]]})
    assert isinstance(repr(transform), str) and "(1333, 600)" in repr(transform)


def test_random_choice_resize_error():
    with pytest.raises(ConfigError, match="scales"):
        build_component("transform", {"type": "RandomChoiceResize", "scales": [0.5, 1, 2]})


def test_random_multiscale_resize():
    # one scale: that size exactly (keep_ratio off)
    transform = build_component("transform", {"type": "RandomChoiceResize", "scales": [[1333, 800]]})
    assert transform(_results())["img"].shape == (800, 1333, 3)

    # several scales: one of them
    choices = [(1333, 800), (1333, 600)]
    transform = build_component("transform", {"type": "RandomChoiceResize", "scales": [list(s) for s in choices]})
    out = transform(_results())
    assert (out["img"].shape[1], out["img"].shape[0]) in choices

    # keep_ratio: the aspect ratio survives
    transform = build_component(
        "transform", {"type": "RandomChoiceResize", "scales": [[900, 600]], "resize_type": "Resize", "keep_ratio": True}
    )
    out = transform(_results())
    np.testing.assert_array_almost_equal(out["img"].shape[0] / out["img"].shape[1], 300 / 400)

    # clip_object_border: boxes clipped to the resized image, or not
    for clip, expected in ((True, [[100, 75, 200, 150]]), (False, [[100, 75, 300, 225]])):
        transform = build_component(
            "transform",
            {"type": "RandomChoiceResize", "scales": [[200, 150]], "resize_type": "Resize", "clip_object_border": clip},
        )
        results = _results()
        results["gt_bboxes"] = torch.tensor([[200.0, 150.0, 600.0, 450.0]])
        out = transform(results)
        assert out["img"].shape == (150, 200, 3)
        assert torch.equal(out["gt_bboxes"], torch.tensor(expected, dtype=torch.float32))
