"""RTMDet-Ins's dynamic mask convs and edge cases, checked by hand (the numbers against mmdet are in the goldens)."""

import pytest
import torch

from visdet.build import build_component
from visdet.build.components.dense_heads import RTMDetInsSepBNHeadConfig
from visdet.models.dense_heads.rtmdet_ins_masks import dynamic_mask_logits, dynamic_param_sizes, parse_dynamic_params
from visdet.models.task_modules import MlvlPointGenerator
from visdet.structures import Instances


def test_dynamic_param_sizes():
    # P=8 prototypes + 2 coordinates -> D=8 -> 8 -> 1
    assert dynamic_param_sizes(3, 8, 8) == ([80, 64, 8], [8, 8, 1])
    assert dynamic_param_sizes(2, 4, 3) == ([18, 3], [3, 1])
    with pytest.raises(ValueError, match="num_dyconvs"):
        dynamic_param_sizes(0, 8, 8)


def test_parse_dynamic_params_shapes():
    weights, biases = parse_dynamic_params(torch.randn(5, 80 + 64 + 8 + 17), [80, 64, 8], [8, 8, 1], 8)
    assert [tuple(w.shape) for w in weights] == [(40, 10, 1, 1), (40, 8, 1, 1), (5, 8, 1, 1)]
    assert [tuple(b.shape) for b in biases] == [(40,), (40,), (5,)]


def test_relative_coordinates_by_hand():
    # one dynamic layer whose weight picks channel 0 (relative x) with bias 0.5: the logit is
    # (prior_x - grid_x) / (stride * 8) + 0.5 at every grid point of level 0 (stride 4, offset 0)
    generator = MlvlPointGenerator(strides=[4, 8], offset=0.0)
    weight_nums, bias_nums = dynamic_param_sizes(1, 2, 1)  # (2 + 2) * 1 weights, 1 bias
    kernels = torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.5]])
    priors = torch.tensor([[12.0, 4.0, 8.0, 8.0]])  # a level-1 prior: stride 8
    logits = dynamic_mask_logits(torch.zeros(2, 3, 5), kernels, priors, prior_generator=generator,
                                 weight_nums=weight_nums, bias_nums=bias_nums, dyconv_channels=1)  # fmt: skip
    grid_x = torch.arange(5.0) * 4
    expected = ((12.0 - grid_x) / 64.0 + 0.5).expand(3, 5)
    torch.testing.assert_close(logits[0], expected)


def test_no_candidates_give_empty_masks_at_the_output_size():
    cfg = {**RTMDetInsSepBNHeadConfig.example}
    cfg["test_cfg"] = {**cfg["test_cfg"], "score_thr": 1.0}  # sigmoid scores never exceed 1
    head = build_component("dense_head", cfg).eval()
    meta = {"img_shape": (64, 64), "ori_shape": (32, 40), "scale_factor": (2.0, 1.6)}
    with torch.no_grad():
        results = head.predict([torch.randn(1, 4, 16, 16), torch.randn(1, 4, 8, 8)], [meta], rescale=True)
    assert results[0].masks.shape == (0, 32, 40) and results[0].masks.dtype == torch.bool


def test_loss_without_gt_masks_is_a_clear_error():
    head = build_component("dense_head", RTMDetInsSepBNHeadConfig.example)
    gt = Instances(bboxes=torch.tensor([[1.0, 1.0, 20.0, 20.0]]), labels=torch.tensor([0]))
    meta = {"img_shape": (64, 64), "pad_shape": (64, 64)}
    with pytest.raises(ValueError, match="masks"):
        head.loss([torch.randn(1, 4, 16, 16), torch.randn(1, 4, 8, 8)], [gt], [meta])
