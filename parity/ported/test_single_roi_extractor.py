# Ported from mmdet tests/test_models/test_roi_heads/test_roi_extractors/
# test_single_level_roi_extractor.py (mmdet 3.3.0), rewritten for visdet.
import torch

from visdet.build import build_component


def test_forward():
    cfg = {"type": "SingleRoIExtractor", "roi_layer": {"type": "RoIAlign", "output_size": 7, "sampling_ratio": 2},
           "out_channels": 16, "featmap_strides": [4, 8, 16, 32]}
    extractor = build_component("roi_extractor", cfg)
    feats = (torch.rand(1, 16, 200, 336),)
    assert len(extractor(feats, torch.empty(0, 5))) == 0
    rois = torch.tensor([[0.0000, 587.8285, 52.1405, 886.2484, 341.5644]])
    assert extractor(feats, rois).shape == (1, 16, 7, 7)
    feats = (torch.rand(1, 16, 200, 336), torch.rand(1, 16, 100, 168), torch.rand(1, 16, 50, 84),
             torch.rand(1, 16, 25, 42))
    assert extractor(feats, rois).shape == (1, 16, 7, 7)
    assert extractor(feats, rois, roi_scale_factor=2.0).shape == (1, 16, 7, 7)
