# Ported from mmdet tests/test_models/test_data_preprocessors/test_data_preprocessor.py
# (mmdet 3.3.0), TestDetDataPreprocessor image parts, rewritten for visdet (metas are
# plain dicts; pad_shape is reported through them instead of a get_pad_shape method).
import numpy as np
import pytest
import torch

from visdet.models.data_preprocessors import DetDataPreprocessor


def test_init():
    processor = DetDataPreprocessor()
    assert not hasattr(processor, "mean") and processor.normalize is False
    processor = DetDataPreprocessor(mean=[0, 0, 0], std=[1, 1, 1])
    assert hasattr(processor, "mean") and hasattr(processor, "std") and processor.normalize
    with pytest.raises(ValueError):
        DetDataPreprocessor(mean=[0, 0, 0])
    with pytest.raises(ValueError):
        DetDataPreprocessor(bgr_to_rgb=True, rgb_to_bgr=True)


def _pad_shapes(processor, inputs):
    n = inputs.shape[0] if isinstance(inputs, torch.Tensor) else len(inputs)
    _, metas = processor(inputs, [{} for _ in range(n)])
    return [m["pad_shape"] for m in metas]


def test_pad_shape():
    processor = DetDataPreprocessor()
    assert _pad_shapes(processor, torch.randint(0, 256, (2, 3, 10, 15))) == [(10, 15), (10, 15)]
    assert _pad_shapes(processor, [torch.randint(0, 256, (3, 11, 10))]) == [(11, 10)]
    assert _pad_shapes(processor, [torch.randint(0, 256, (3, 10, 16)), torch.randint(0, 256, (3, 15, 20))]) == [
        (10, 16), (15, 20)]
    processor = DetDataPreprocessor(pad_size_divisor=10)
    assert _pad_shapes(processor, torch.randint(0, 256, (2, 3, 52, 65))) == [(60, 70), (60, 70)]


def test_forward():
    processor = DetDataPreprocessor(mean=[0, 0, 0], std=[1, 1, 1])
    batch, metas = processor([torch.randint(0, 256, (3, 11, 10))], [{}])
    assert batch.shape == (1, 3, 11, 10) and len(metas) == 1
    processor = DetDataPreprocessor(mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0], bgr_to_rgb=True)
    batch, metas = processor([torch.randint(0, 256, (3, 11, 10))], [{}])
    assert batch.shape == (1, 3, 11, 10) and len(metas) == 1
    batch, metas = processor([torch.randint(0, 256, (3, 10, 11)), torch.randint(0, 256, (3, 9, 14))])
    assert batch.shape == (2, 3, 10, 14) and metas is None
    processor = DetDataPreprocessor(mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0], pad_size_divisor=5)
    batch, metas = processor([torch.randint(0, 256, (3, 10, 11)), torch.randint(0, 256, (3, 9, 24))], [{}, {}])
    assert batch.shape == (2, 3, 10, 25) and len(metas) == 2
    assert [m["pad_shape"] for m in metas] == [(10, 15), (10, 25)]
    # pad_mask: the training step pads the ground-truth masks to the batch (pad_seg is not in visdet)
    from visdet.structures import BitmapMasks, Instances

    processor = DetDataPreprocessor(pad_mask=True, mask_pad_value=0, pad_size_divisor=2)
    batch, metas = processor([torch.randint(0, 256, (3, 10, 11)), torch.randint(0, 256, (3, 9, 24))], [{}, {}])
    assert batch.shape == (2, 3, 10, 24)
    gts = [Instances(bboxes=torch.zeros(2, 4), masks=BitmapMasks(np.ones((2, 10, 11), np.uint8), 10, 11)),
           Instances(bboxes=torch.zeros(1, 4), masks=torch.ones(1, 9, 24, dtype=torch.uint8))]
    padded = processor.pad_gt_masks(gts, metas)
    assert padded[0].masks.masks.shape == (2, 10, 24) and padded[0].masks.masks[:, :, 11:].sum() == 0
    assert padded[1].masks.shape == (1, 10, 24) and padded[1].masks[:, 9:].sum() == 0
