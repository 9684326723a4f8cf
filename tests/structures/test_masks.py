import numpy as np
import pytest
import torch

from visdet.ops import roi_align
from visdet.ops.roi_align_ordered import roi_align_avg_ordered
from visdet.structures import BitmapMasks, Instances, PolygonMasks


def _bitmaps():
    masks = np.zeros((3, 8, 10), dtype=np.uint8)
    masks[0, 1:4, 2:6] = 1
    masks[1, :, :5] = 1
    masks[2, 6:, 8:] = 1
    return BitmapMasks(masks, 8, 10)


def test_bitmap_constructor_checks_shapes():
    with pytest.raises(ValueError, match="do not match height"):
        BitmapMasks(np.zeros((2, 4, 5), np.uint8), 5, 4)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        BitmapMasks(np.zeros((4, 5), np.uint8), 4, 5)
    empty = BitmapMasks([], 6, 7)
    assert empty.masks.shape == (0, 6, 7) and empty.masks.dtype == np.uint8


def test_bitmap_geometry_keeps_counts_and_areas():
    masks = _bitmaps()
    assert masks.areas.tolist() == [12, 40, 4]
    assert masks.flip("horizontal").flip("horizontal").masks.tolist() == masks.masks.tolist()
    assert masks.pad((10, 12)).areas.tolist() == [12, 40, 4]
    assert masks.crop(np.array([2, 1, 6, 4])).areas.tolist() == [12, 9, 0]
    assert masks.expand(12, 14, 2, 3).areas.tolist() == [12, 40, 4]
    assert masks.to_tensor(torch.float32, "cpu").sum().item() == 56
    with pytest.raises(ValueError, match="flip_direction"):
        masks.flip("sideways")


def test_bitmap_crop_needs_integer_box():
    with pytest.raises(TypeError, match="integer"):
        _bitmaps().crop(np.array([0.5, 0, 3, 3]))
    with pytest.raises(ValueError, match=r"\[x1, y1, x2, y2\]"):
        _bitmaps().crop(np.array([0, 0, 3]))


def test_crop_and_resize_whole_mask_and_bad_indices():
    masks = _bitmaps()
    out = masks.crop_and_resize(np.array([[0.0, 0.0, 10.0, 8.0]], np.float32), (8, 10), np.array([1]))
    assert out.masks.dtype == bool and out.masks.tolist() == masks.masks[1].astype(bool)[None].tolist()
    with pytest.raises(IndexError, match="inds"):
        masks.crop_and_resize(np.array([[0.0, 0.0, 4.0, 4.0]], np.float32), (4, 4), np.array([3]))
    with pytest.raises(ValueError, match="bboxes"):
        masks.crop_and_resize(np.zeros((2, 4), np.float32), (4, 4), np.array([0]))


def test_ordered_roi_align_matches_roi_align():
    gen = torch.Generator().manual_seed(0)
    feats = torch.rand(2, 3, 17, 23, generator=gen)
    rois = torch.tensor([[0, 1.3, 2.2, 15.5, 16.1], [1, -2, -1, 30, 20], [0, 4, 4, 4, 4], [1, 3, 3, 3.5, 9]])
    for sampling_ratio in (0, 2):
        got = roi_align_avg_ordered(feats, rois, (7, 6), 0.5, sampling_ratio, True)
        want = roi_align(feats, rois, (7, 6), 0.5, sampling_ratio, "avg", True)
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    assert roi_align_avg_ordered(feats, rois[:0], 5).shape == (0, 3, 5, 5)


def test_polygon_masks():
    square = [np.array([0.0, 0.0, 4.0, 0.0, 4.0, 4.0, 0.0, 4.0])]
    masks = PolygonMasks([square, [np.array([1.0, 1.0, 3.0, 1.0, 1.0, 3.0])]], 6, 8)
    assert masks.areas.tolist() == [16.0, 2.0]
    assert masks.to_ndarray().shape == (2, 6, 8) and masks.to_ndarray().dtype == bool
    assert masks.flip("horizontal").masks[0][0][0::2].tolist() == [8.0, 4.0, 4.0, 8.0]
    assert len(masks[np.array([False, True])]) == 1 and len(masks[0]) == 1
    assert masks.pad((10, 10)).masks is masks.masks
    cropped = masks.crop(np.array([2, 2, 8, 6]))
    assert (cropped.height, cropped.width) == (4, 6) and cropped.areas[0] == pytest.approx(4.0)
    gone = masks.crop(np.array([5, 5, 8, 6]))
    assert gone.masks[0][0].tolist() == [0, 0, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="binary"):
        masks.crop_and_resize(np.array([[0.0, 0.0, 4.0, 4.0]]), (4, 4), np.array([0]), binarize=False)
    with pytest.raises(NotImplementedError):
        masks.expand(10, 10, 0, 0)
    with pytest.raises(TypeError, match="list of np.ndarray"):
        PolygonMasks([[[0, 0, 1, 1, 1, 0]]], 4, 4)


def test_instances_index_and_cat_masks():
    inst = Instances(labels=torch.tensor([0, 1, 2]), masks=_bitmaps())
    picked = inst[torch.tensor([True, False, True])]
    assert isinstance(picked.masks, BitmapMasks) and picked.masks.areas.tolist() == [12, 4]
    assert inst[torch.tensor([2, 1])].masks.areas.tolist() == [4, 40]
    assert len(inst[torch.zeros(0, dtype=torch.long)].masks) == 0
    merged = Instances.cat([inst, picked])
    assert len(merged) == 5 and merged.masks.areas.tolist() == [12, 40, 4, 12, 4]
