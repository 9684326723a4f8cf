# Ported from mmdet tests/test_models/test_task_modules/test_prior_generators/test_anchor_generator.py
# (mmdet 3.3.0), the MlvlPointGenerator parts of test_standard_points_generator and test_sparse_prior,
# rewritten for visdet (built through visdet.build; a wrong level count raises ValueError where
# upstream expects AssertionError). Upstream's CUDA-only repeats run on CPU here.
import pytest
import torch

from visdet.build import build_component
from visdet.models.task_modules import MlvlPointGenerator


def test_standard_points_generator():
    built = build_component("prior_generator", {"type": "MlvlPointGenerator", "strides": [4, 8], "offset": 0})
    assert built.num_base_priors == [1, 1]

    points = MlvlPointGenerator(strides=[4, 10], offset=0)
    half = MlvlPointGenerator(strides=[4, 10], offset=0.5)
    assert points.num_levels == 2
    with pytest.raises(ValueError, match="levels"):
        points.grid_priors(featmap_sizes=[(2, 2)], device="cpu")
    priors = points.grid_priors(featmap_sizes=[(2, 2), (4, 8)], device="cpu")
    with_stride = points.grid_priors(featmap_sizes=[(2, 2), (4, 8)], with_stride=True, device="cpu")
    assert len(priors) == 2
    # the last dimension is (x, y, stride_w, stride_h)
    assert with_stride[0].size(1) == 4
    assert with_stride[0][0][2] == 4 and with_stride[0][0][3] == 4
    assert with_stride[1][0][2] == 10 and with_stride[1][0][3] == 10

    level0 = priors[0]
    assert (level0[1] - level0[0]).sum() == 4
    assert level0.shape == (4, 2)
    level1 = priors[1]
    assert (level1[1] - level1[0]).sum() == 10
    assert level1.shape == (4 * 8, 2)

    # an offset of 0.5 moves every point by half a stride in x and y
    half_priors = half.grid_priors(featmap_sizes=[(2, 2), (4, 8)], device="cpu")
    assert (half_priors[0][0] - priors[0][0]).sum() == 4 * 0.5 * 2
    assert (half_priors[1][0] - priors[1][0]).sum() == 10 * 0.5 * 2


@pytest.mark.parametrize(
    ("idxs", "featmap_sizes"),
    [([0, 2, 4, 5, 6, 9], [(3, 5), (6, 4)]), ([0, 3, 4, 5, 6, 7, 1, 2, 4, 5, 6, 9], [(6, 8), (6, 4)])],
)
def test_sparse_prior(idxs, featmap_sizes):
    points = MlvlPointGenerator(strides=[4, 10], offset=0)
    prior_idxs = torch.tensor(idxs)
    grid = points.grid_priors(featmap_sizes=featmap_sizes, with_stride=False, device="cpu")
    for level in (0, 1):
        sparse = points.sparse_priors(prior_idxs=prior_idxs, featmap_size=featmap_sizes[level], level_idx=level,
                                      device="cpu")  # fmt: skip
        assert not sparse.is_cuda
        assert (sparse == grid[level][prior_idxs]).all()
