import numpy as np
import pytest
import torch

from visdet.build import build_component
from visdet.config import ConfigError
from visdet.models.roi_heads.mask_paste import paste_masks_in_image
from visdet.models.roi_heads.mask_target import as_instance_masks, mask_target
from visdet.structures import BitmapMasks, Instances

HEAD = {"type": "FCNMaskHead", "num_convs": 1, "in_channels": 4, "conv_out_channels": 4, "num_classes": 3}


def test_output_shapes_for_every_upsampling():
    x = torch.randn(2, 4, 7, 7)
    for upsample, size in (({"type": "deconv", "scale_factor": 2}, 14), ({"type": "bilinear", "scale_factor": 3}, 21),
                           ({"type": None}, 7)):  # fmt: skip
        head = build_component("mask_head", {**HEAD, "upsample_cfg": upsample})
        assert head(x).shape == (2, 3, size, size)
    assert build_component("mask_head", {**HEAD, "class_agnostic": True})(x).shape == (2, 1, 14, 14)


def test_bad_configs_are_named():
    with pytest.raises(ConfigError, match="upsample_cfg.type"):
        build_component("mask_head", {**HEAD, "upsample_cfg": {"type": "carafe", "scale_factor": 2}})
    with pytest.raises(ConfigError, match="use_mask=True"):
        build_component("mask_head", {**HEAD, "loss_mask": {"type": "CrossEntropyLoss"}})
    roi_head = {"type": "StandardRoIHead",
                "bbox_roi_extractor": {"type": "SingleRoIExtractor", "out_channels": 4, "featmap_strides": [4],
                                       "roi_layer": {"type": "RoIAlign", "output_size": 2}},
                "bbox_head": {"type": "Shared2FCBBoxHead", "in_channels": 4, "roi_feat_size": 2, "num_classes": 5,
                              "fc_out_channels": 8},
                "mask_head": HEAD}  # fmt: skip
    with pytest.raises(ConfigError, match=r"mask_head.num_classes \(3\) differs from bbox_head.num_classes \(5\)"):
        build_component("roi_head", roi_head)


def test_mask_target_accepts_tensors_and_rejects_other_masks():
    masks = np.zeros((2, 10, 12), dtype=np.uint8)
    masks[0, 2:8, 3:9] = 1
    boxes = torch.tensor([[3.0, 2.0, 9.0, 8.0]])
    from_tensor = mask_target([boxes], [torch.tensor([0])], [torch.from_numpy(masks)], 6)
    from_bitmaps = mask_target([boxes], [torch.tensor([0])], [BitmapMasks(masks, 10, 12)], 6)
    assert torch.equal(from_tensor, from_bitmaps) and bool((from_tensor == 1).all())
    with pytest.raises(TypeError, match="gt masks must be"):
        as_instance_masks([[0, 1]])
    with pytest.raises(ValueError, match="one of each per image"):
        mask_target([boxes], [], [], 6)


def test_loss_needs_gt_masks():
    head = build_component("mask_head", HEAD)
    from visdet.models.task_modules import AssignResult, SamplingResult

    assign = AssignResult(1, torch.tensor([1]), torch.ones(1), torch.tensor([0]))
    result = SamplingResult(torch.tensor([0]), torch.zeros(0, dtype=torch.long), torch.tensor([[0.0, 0, 4, 4]]),
                            torch.tensor([[0.0, 0, 4, 4]]), assign, torch.zeros(1, dtype=torch.uint8))
    gt = Instances(bboxes=torch.tensor([[0.0, 0, 4, 4]]), labels=torch.tensor([0]))
    with pytest.raises(ValueError, match="has no 'masks'"):
        head.loss_and_target(head(torch.randn(1, 4, 7, 7)), [result], [gt], mask_size=14)


def test_paste_uint8_and_whole_box():
    probs = torch.full((1, 1, 4, 4), 0.75)
    boxes = torch.tensor([[2.0, 1.0, 6.0, 5.0]])
    binary = paste_masks_in_image(probs, boxes, 8, 9, 0.5)
    assert binary.dtype == torch.bool and binary[0, 1:5, 2:6].all() and binary.sum() == 16
    maps = paste_masks_in_image(probs, boxes, 8, 9, -1)
    assert maps.dtype == torch.uint8 and maps[0, 2, 3] == 191
