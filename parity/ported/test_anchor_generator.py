# Ported from mmdet (3.3.0)
# tests/test_models/test_task_modules/test_prior_generators/test_anchor_generator.py:
# the AnchorGenerator parts, rewritten for visdet. The expected anchors and valid-pixel
# counts are upstream's numbers. Heads (RetinaSepBNHead, GARetinaHead) are not built;
# their anchor generator configs are used directly. MlvlPointGenerator, SSD and YOLO
# generators are not part of visdet (see parity/upstream/task_modules_losses.yaml).
import pytest
import torch

from visdet.models.task_modules import AnchorGenerator

RETINA_BASE_ANCHORS = [
    [
        [-22.6274, -11.3137, 22.6274, 11.3137],
        [-28.5088, -14.2544, 28.5088, 14.2544],
        [-35.9188, -17.9594, 35.9188, 17.9594],
        [-16.0000, -16.0000, 16.0000, 16.0000],
        [-20.1587, -20.1587, 20.1587, 20.1587],
        [-25.3984, -25.3984, 25.3984, 25.3984],
        [-11.3137, -22.6274, 11.3137, 22.6274],
        [-14.2544, -28.5088, 14.2544, 28.5088],
        [-17.9594, -35.9188, 17.9594, 35.9188],
    ],
    [
        [-45.2548, -22.6274, 45.2548, 22.6274],
        [-57.0175, -28.5088, 57.0175, 28.5088],
        [-71.8376, -35.9188, 71.8376, 35.9188],
        [-32.0000, -32.0000, 32.0000, 32.0000],
        [-40.3175, -40.3175, 40.3175, 40.3175],
        [-50.7968, -50.7968, 50.7968, 50.7968],
        [-22.6274, -45.2548, 22.6274, 45.2548],
        [-28.5088, -57.0175, 28.5088, 57.0175],
        [-35.9188, -71.8376, 35.9188, 71.8376],
    ],
    [
        [-90.5097, -45.2548, 90.5097, 45.2548],
        [-114.0350, -57.0175, 114.0350, 57.0175],
        [-143.6751, -71.8376, 143.6751, 71.8376],
        [-64.0000, -64.0000, 64.0000, 64.0000],
        [-80.6349, -80.6349, 80.6349, 80.6349],
        [-101.5937, -101.5937, 101.5937, 101.5937],
        [-45.2548, -90.5097, 45.2548, 90.5097],
        [-57.0175, -114.0350, 57.0175, 114.0350],
        [-71.8376, -143.6751, 71.8376, 143.6751],
    ],
    [
        [-181.0193, -90.5097, 181.0193, 90.5097],
        [-228.0701, -114.0350, 228.0701, 114.0350],
        [-287.3503, -143.6751, 287.3503, 143.6751],
        [-128.0000, -128.0000, 128.0000, 128.0000],
        [-161.2699, -161.2699, 161.2699, 161.2699],
        [-203.1873, -203.1873, 203.1873, 203.1873],
        [-90.5097, -181.0193, 90.5097, 181.0193],
        [-114.0350, -228.0701, 114.0350, 228.0701],
        [-143.6751, -287.3503, 143.6751, 287.3503],
    ],
    [
        [-362.0387, -181.0193, 362.0387, 181.0193],
        [-456.1401, -228.0701, 456.1401, 228.0701],
        [-574.7006, -287.3503, 574.7006, 287.3503],
        [-256.0000, -256.0000, 256.0000, 256.0000],
        [-322.5398, -322.5398, 322.5398, 322.5398],
        [-406.3747, -406.3747, 406.3747, 406.3747],
        [-181.0193, -362.0387, 181.0193, 362.0387],
        [-228.0701, -456.1401, 228.0701, 456.1401],
        [-287.3503, -574.7006, 287.3503, 574.7006],
    ],
]


def _retina_generator() -> AnchorGenerator:
    return AnchorGenerator(
        octave_base_scale=4,
        scales_per_octave=3,
        ratios=[0.5, 1.0, 2.0],
        strides=[8, 16, 32, 64, 128],
    )


def test_standard_anchor_generator():
    gen = AnchorGenerator(scales=[8], ratios=[0.5, 1.0, 2.0], strides=[4, 8])
    assert gen.num_base_priors == gen.num_base_anchors == [3, 3]


def test_strides():
    gen = AnchorGenerator(strides=[10], ratios=[1.0], scales=[1.0], base_sizes=[10])
    anchors = gen.grid_priors([(2, 2)])
    expected = torch.tensor(
        [
            [-5.0, -5.0, 5.0, 5.0],
            [5.0, -5.0, 15.0, 5.0],
            [-5.0, 5.0, 5.0, 15.0],
            [5.0, 5.0, 15.0, 15.0],
        ]
    )
    assert torch.equal(anchors[0], expected)

    gen = AnchorGenerator(strides=[(10, 20)], ratios=[1.0], scales=[1.0], base_sizes=[10])
    anchors = gen.grid_priors([(2, 2)])
    expected = torch.tensor(
        [
            [-5.0, -5.0, 5.0, 5.0],
            [5.0, -5.0, 15.0, 5.0],
            [-5.0, 15.0, 5.0, 25.0],
            [5.0, 15.0, 15.0, 25.0],
        ]
    )
    assert torch.equal(anchors[0], expected)


def test_retina_anchor():
    gen = _retina_generator()
    featmap_sizes = [(80, 80), (40, 40), (20, 20), (10, 10), (5, 5)]
    for base, expected in zip(gen.base_anchors, RETINA_BASE_ANCHORS, strict=True):
        assert base.allclose(torch.tensor(expected))
    flags = gen.valid_flags(featmap_sizes, (640, 640))
    assert [int(f.sum()) for f in flags] == [57600, 14400, 3600, 900, 225]
    assert gen.num_base_anchors == [9, 9, 9, 9, 9]
    assert len(gen.grid_priors(featmap_sizes)) == 5


def test_guided_anchor():
    # the approx / square anchor generators of GARetinaHead's config
    approx = _retina_generator()
    featmap_sizes = [(100, 152), (50, 76), (25, 38), (13, 19), (7, 10)]
    for base, expected in zip(approx.base_anchors, RETINA_BASE_ANCHORS, strict=True):
        assert base.allclose(torch.tensor(expected))
    flags = approx.valid_flags(featmap_sizes, (800, 1216))
    assert [int(f.sum()) for f in flags] == [136800, 34200, 8550, 2223, 630]
    assert approx.num_base_anchors == [9, 9, 9, 9, 9]

    square = AnchorGenerator(ratios=[1.0], scales=[4], strides=[8, 16, 32, 64, 128])
    for i, base in enumerate(square.base_anchors):
        half = 16.0 * 2**i
        assert base.allclose(torch.tensor([[-half, -half, half, half]]))
    assert square.num_base_anchors == [1, 1, 1, 1, 1]
    assert len(square.grid_priors(featmap_sizes)) == 5


def test_sparse_prior():
    gen = AnchorGenerator(strides=[16, 32], ratios=[1.0], scales=[1.0], base_sizes=[4, 8])
    prior_indexs = torch.tensor([0, 2, 4, 5, 6, 9])
    featmap_sizes = [(3, 5), (6, 4)]
    grid = gen.grid_priors(featmap_sizes)
    for level in range(2):
        sparse = gen.sparse_priors(
            prior_idxs=prior_indexs, featmap_size=featmap_sizes[level], level_idx=level
        )
        assert (sparse == grid[level][prior_indexs]).all()

    # upstream runs this part on CUDA only; it is device-independent, so it runs on CPU here
    gen = AnchorGenerator(strides=[16, 32], ratios=[1.0, 2.5], scales=[1.0, 5.0], base_sizes=[4, 8])
    prior_indexs = torch.tensor([4, 5, 6, 7, 0, 2, 50, 4, 5, 6, 9])
    featmap_sizes = [(13, 5), (16, 4)]
    grid = gen.grid_priors(featmap_sizes)
    for level in range(2):
        sparse = gen.sparse_priors(
            prior_idxs=prior_indexs, featmap_size=featmap_sizes[level], level_idx=level
        )
        assert (sparse == grid[level][prior_indexs]).all()


def test_grid_priors_level_mismatch():
    # upstream asserts len(featmap_sizes) == num_levels (checked for the point generator)
    with pytest.raises(ValueError, match="levels"):
        _retina_generator().grid_priors([(2, 2)])
