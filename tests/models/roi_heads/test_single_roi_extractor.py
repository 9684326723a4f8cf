import math

import pytest
import torch

from visdet.models.roi_heads.single_roi_extractor import SingleRoIExtractor, map_roi_levels, rescale_rois


def _square_rois(sides):
    return torch.tensor([[0.0, 10.0, 10.0, 10.0 + s, 10.0 + s] for s in sides])


def test_level_boundaries_follow_the_fpn_rule():
    # scale = side; level = floor(log2(scale / 56)) clamped to [0, 3]
    sides = [8, 55.9, 56, 111.9, 112, 223.9, 224, 447.9, 448, 2000]
    levels = map_roi_levels(_square_rois(sides), num_levels=4, finest_scale=56).tolist()
    expected = [0 if s < 112 else min(3, int(math.floor(math.log2(s / 56)))) for s in sides]
    assert levels == expected == [0, 0, 0, 0, 1, 1, 2, 2, 3, 3]


def test_finest_scale_shifts_levels():
    levels = map_roi_levels(_square_rois([56, 112]), num_levels=4, finest_scale=28).tolist()
    assert levels == [1, 2]


def test_rescale_rois_keeps_centre_and_scales_size():
    rois = torch.tensor([[1.0, 10.0, 20.0, 30.0, 60.0]])
    out = rescale_rois(rois, 1.5)
    assert out[0, 0] == 1.0
    assert torch.allclose(out[0, 1:], torch.tensor([5.0, 10.0, 35.0, 70.0]))


def _extractor(strides=(4, 8, 16, 32), channels=2):
    layers = SingleRoIExtractor.build_roi_layers(featmap_strides=list(strides), output_size=3, sampling_ratio=2)
    return SingleRoIExtractor(roi_layers=layers, out_channels=channels, featmap_strides=list(strides))


def test_each_roi_reads_only_its_level():
    extractor = _extractor()
    feats = [torch.full((1, 2, 256 // s, 256 // s), float(level + 1)) for level, s in enumerate((4, 8, 16, 32))]
    rois = torch.tensor([[0.0, 0.0, 0.0, 20.0, 20.0], [0.0, 0.0, 0.0, 60.0, 60.0]])  # levels 0 and 0
    rois = torch.cat([rois, torch.tensor([[0.0, 0.0, 0.0, 250.0, 250.0]])])  # level 2 (scale 250)
    out = extractor(feats, rois)
    assert out.shape == (3, 2, 3, 3)
    assert torch.all(out[0] == 1.0) and torch.all(out[1] == 1.0) and torch.all(out[2] == 3.0)


def test_layers_get_inverse_stride_scale_and_names():
    extractor = _extractor()
    assert [layer.spatial_scale for layer in extractor.roi_layers] == [0.25, 0.125, 0.0625, 0.03125]
    assert extractor.state_dict() == {}
    assert extractor.num_inputs == 4


def test_no_rois_gives_empty_output_with_grad_path():
    extractor = _extractor()
    feats = [torch.randn(1, 2, 8, 8, requires_grad=True) for _ in range(4)]
    out = extractor(feats, torch.zeros(0, 5))
    assert out.shape == (0, 2, 3, 3)
    out.sum().backward()
    assert all(f.grad is not None and f.grad.abs().sum() == 0 for f in feats)


def test_bad_rois_shape():
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        _extractor()([torch.zeros(1, 2, 8, 8)] * 4, torch.zeros(3, 4))


def test_layer_count_must_match_strides():
    with pytest.raises(ValueError, match="one roi layer per stride"):
        SingleRoIExtractor(roi_layers=[], out_channels=2, featmap_strides=[4])
