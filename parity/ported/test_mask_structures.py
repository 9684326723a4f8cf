# Ported from mmdet tests/test_structures/test_mask/test_mask_structures.py (mmdet 3.3.0),
# rewritten for visdet. mmdet's ``BitmapMasks.random``/``PolygonMasks.random`` demo
# generators are replaced by masks drawn here; mmdet's bare asserts on bad ``cat``
# input are visdet's TypeError.
import numpy as np
import pytest

from visdet.structures import BitmapMasks, PolygonMasks


def _bitmaps(num, rng):
    return BitmapMasks((rng.rand(num, 32, 32) > 0.1).astype(np.uint8), 32, 32)


def _polygons(num, rng):
    return PolygonMasks([[rng.rand(10) * 32] for _ in range(num)], 32, 32)


def test_bitmap_translate_same_size():
    masks = np.zeros((5, 10, 10), dtype=np.uint8)
    masks[:, 0:5, 0:5] = 1
    expected = np.zeros((5, 10, 10), dtype=np.uint8)
    expected[:, 0:5, 5:10] = 1
    moved = BitmapMasks(masks, 10, 10).translate((10, 10), 5)
    assert moved.masks.shape == (5, 10, 10)
    np.testing.assert_array_equal(moved.masks, expected)


def test_bitmap_translate_diff_size():
    masks = np.zeros((5, 10, 10), dtype=np.uint8)
    masks[:, 0:5, 0:5] = 1
    larger = np.zeros((5, 20, 20), dtype=np.uint8)
    larger[:, 0:5, 5:10] = 1
    moved = BitmapMasks(masks, 10, 10).translate((20, 20), 5)
    assert moved.masks.shape == (5, 20, 20)
    np.testing.assert_array_equal(moved.masks, larger)

    smaller = np.zeros((5, 20, 8), dtype=np.uint8)
    smaller[:, 0:5, 5:] = 1
    moved = BitmapMasks(masks, 10, 10).translate((20, 8), 5)
    assert moved.masks.shape == (5, 20, 8)
    np.testing.assert_array_equal(moved.masks, smaller)


def test_bitmap_cat():
    rng = np.random.RandomState(0)
    with pytest.raises(TypeError):
        BitmapMasks.cat(_bitmaps(4, rng))
    with pytest.raises(ValueError):
        BitmapMasks.cat([])
    with pytest.raises(TypeError):
        BitmapMasks.cat([_bitmaps(2, rng), _polygons(3, rng)])
    parts = [_bitmaps(3, rng) for _ in range(5)]
    merged = BitmapMasks.cat(parts)
    assert len(merged) == 3 * 5
    for i, part in enumerate(parts):
        np.testing.assert_array_equal(part.masks, merged.masks[i * 3 : (i + 1) * 3])


def test_polygon_cat():
    rng = np.random.RandomState(0)
    with pytest.raises(TypeError):
        PolygonMasks.cat(_polygons(4, rng))
    with pytest.raises(ValueError):
        PolygonMasks.cat([])
    with pytest.raises(TypeError):
        PolygonMasks.cat([_bitmaps(2, rng), _polygons(3, rng)])
    parts = [_polygons(3, rng) for _ in range(5)]
    merged = PolygonMasks.cat(parts)
    assert len(merged) == 3 * 5
    for i, part in enumerate(parts):
        for got, want in zip(merged.masks[i * 3 : (i + 1) * 3], part.masks):
            np.testing.assert_array_equal(got[0], want[0])
