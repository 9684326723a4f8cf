"""RTMDet's training transforms: hand-derived expectations (goldens: parity/cases/data_transforms_rtmdet.py).

The random draws are replayed from numpy's RNG with the same seed, in mmdet's order (its
transforms module imports ``random`` from numpy, so ``randint(0, len - 1)`` never reaches the
cache's newest entry), so the expected mosaic tiles, mixed image and HSV gains follow from
the seed without reading the transform's own code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from visdet.build import build_pipeline
from visdet.config import ConfigError
from visdet.config.mmdet_convert import read_mmdet_config
from visdet.data.transforms import CachedMixUp, CachedMosaic, Compose, FilterAnnotations, YOLOXHSVRandomAug
from visdet.data.transforms.result_cache import ResultCache
from visdet.structures import BitmapMasks, PolygonMasks

RTMDET = Path(__file__).parents[1] / "mmdet_configs" / "rtmdet"


def _item(color: int, h: int = 8, w: int = 10, boxes=((1.0, 1.0, 5.0, 5.0),), label: int = 0, masks: bool = False):
    n = len(boxes)
    results = {
        "img": np.full((h, w, 3), color, dtype=np.uint8),
        "img_shape": (h, w),
        "gt_bboxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "gt_bboxes_labels": np.full(n, label, dtype=np.int64),
        "gt_ignore_flags": np.zeros(n, dtype=bool),
    }
    if masks:
        m = np.zeros((n, h, w), dtype=np.uint8)
        for i, (x1, y1, x2, y2) in enumerate(boxes):
            m[i, int(y1) : int(y2), int(x1) : int(x2)] = 1
        results["gt_masks"] = m
    return results


# ------------------------------------------------------------------------ ResultCache
def test_cache_fifo_keeps_the_newest():
    cache = ResultCache(max_size=3, random_pop=False)
    for k in range(6):
        cache.push({"k": k})
    assert [item["k"] for item in cache.items] == [3, 4, 5]


def test_cache_random_pop_draws_with_numpy_and_keeps_the_newest():
    np.random.seed(3)
    cache = ResultCache(max_size=2, random_pop=True)
    for k in range(6):
        cache.push({"k": k})
    replay, kept = np.random.RandomState(3), [0, 1]
    for k in range(2, 6):
        kept.append(k)
        kept.pop(replay.randint(0, 2))  # 0 or 1: the newest (index 2) is never popped
    assert [item["k"] for item in cache.items] == kept and kept[-1] == 5


def test_cache_stores_copies():
    cache = ResultCache(max_size=2, random_pop=False)
    results = _item(5)
    cache.push(results)
    results["img"][:] = 0
    assert cache[0]["img"].max() == 5


# ----------------------------------------------------------------------- CachedMosaic
def test_mosaic_passes_through_until_five_images_are_cached():
    mosaic = CachedMosaic(img_scale=(10, 8), max_cached_images=5)
    for color in range(4):
        item = _item(color)
        assert mosaic(item) is item and item["img"].shape == (8, 10, 3)


def test_mosaic_never_mixes_with_a_cache_of_four():
    mosaic = CachedMosaic(img_scale=(10, 8), max_cached_images=4, random_pop=False)
    for color in range(8):
        assert mosaic(_item(color))["img"].shape == (8, 10, 3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mosaic_tiles_the_drawn_images_around_the_center(seed):
    # tiles exactly img_scale and a fixed center (ratio 1): each quadrant is one whole image
    mosaic = CachedMosaic(img_scale=(10, 8), center_ratio_range=(1.0, 1.0), max_cached_images=6, random_pop=False)
    np.random.seed(seed)
    for color in range(4):
        mosaic(_item(10 + color, label=color))
    out = mosaic(_item(50, label=9, boxes=((1.0, 2.0, 4.0, 6.0),)))
    replay = np.random.RandomState(seed)
    replay.uniform(0, 1)  # prob
    drawn = [replay.randint(0, 4) for _ in range(3)]  # of the 5 cached, never the newest (the image itself)
    assert out["img"].shape == (16, 20, 3) and out["img_shape"] == (16, 20)
    quadrants = [out["img"][:8, :10], out["img"][:8, 10:], out["img"][8:, :10], out["img"][8:, 10:]]
    assert [int(q.min()) for q in quadrants] == [50] + [10 + i for i in drawn]
    assert [int(q.max()) for q in quadrants] == [50] + [10 + i for i in drawn]
    # each tile's box shifted to its quadrant, which starts at (10 * (q % 2), 8 * (q // 2))
    shifts = [(10 * (q % 2), 8 * (q // 2)) for q in (1, 2, 3)]
    boxes = [[1, 2, 4, 6]] + [[1 + dx, 1 + dy, 5 + dx, 5 + dy] for dx, dy in shifts]
    assert out["gt_bboxes"].tolist() == boxes
    assert out["gt_bboxes_labels"].tolist() == [9, *drawn]


def test_mosaic_scales_tiles_to_fit_and_pads_with_pad_val():
    mosaic = CachedMosaic(img_scale=(10, 8), center_ratio_range=(1.0, 1.0), pad_val=7, max_cached_images=5)
    for _ in range(4):
        mosaic(_item(100, h=16, w=10, masks=True))  # ratio min(8/16, 10/10) = 0.5 -> 5 x 8 tiles
    out = mosaic(_item(100, h=16, w=10, boxes=((2.0, 4.0, 6.0, 10.0),), masks=True))
    img = out["img"]
    assert img[:8, 5:10].min() == 100 and img[:8, :5].max() == 7  # top-left tile sits left of the center
    assert img[:8, 10:15].min() == 100 and img[:8, 15:].max() == 7
    # top-left box: scaled by 0.5, shifted right by 5 (the tile is 5 wide, its right edge at the center)
    assert out["gt_bboxes"][0].tolist() == [6.0, 2.0, 8.0, 5.0]
    masks = out["gt_masks"]
    # mmdet's quirk, kept: the masks' canvas is (2 * w, 2 * h) = (20, 16) for img_scale (w, h) = (10, 8)
    assert isinstance(masks, np.ndarray) and masks.shape == (len(out["gt_bboxes"]), 20, 16)
    ys, xs = np.nonzero(masks[0])
    assert (xs.min(), xs.max() + 1, ys.min(), ys.max() + 1) == (6, 8, 2, 5)


def test_mosaic_prob_zero_never_mixes():
    mosaic = CachedMosaic(img_scale=(10, 8), prob=0.0, max_cached_images=5)
    for color in range(8):
        assert mosaic(_item(color))["img"].shape == (8, 10, 3)


def test_mosaic_keeps_polygon_masks_as_polygons():
    mosaic = CachedMosaic(img_scale=(10, 8), center_ratio_range=(1.0, 1.0), max_cached_images=5)
    for _ in range(5):
        item = _item(3)
        item["gt_masks"] = PolygonMasks([[np.array([1.0, 1.0, 5.0, 1.0, 5.0, 5.0])]], 8, 10)
        out = mosaic(item)
    assert isinstance(out["gt_masks"], PolygonMasks) and len(out["gt_masks"]) == 4
    assert out["gt_masks"].masks[0][0].tolist() == [1.0, 1.0, 5.0, 1.0, 5.0, 5.0]


def test_mosaic_clear_errors():
    with pytest.raises(ValueError, match="max_cached_images must be >= 4"):
        CachedMosaic(max_cached_images=3)
    with pytest.raises(ValueError, match="img_scale"):
        CachedMosaic(img_scale=(10.5, 8))
    with pytest.raises(TypeError, match="center_ratio_range"):
        CachedMosaic(center_ratio_range=0.5)
    with pytest.raises(ValueError, match="prob"):
        CachedMosaic(prob=1.5)
    item = _item(1)
    del item["gt_ignore_flags"]
    with pytest.raises(KeyError, match="gt_ignore_flags"):
        CachedMosaic()(item)
    mosaic = CachedMosaic(img_scale=(10, 8), max_cached_images=5)
    for _ in range(4):
        mosaic(_item(1))
    with pytest.raises(ValueError, match="without gt_masks"):
        mosaic(_item(1, masks=True))


# ------------------------------------------------------------------------ CachedMixUp
@pytest.mark.parametrize("seed", [0, 1, 4])
def test_mixup_averages_with_the_older_image(seed):
    # same size as img_scale, jitter 1, no flip (U(0, 1) > 1 never): the drawn image lands unchanged;
    # of the two cached images the newest (the image itself) is never drawn
    mixup = CachedMixUp(img_scale=(10, 8), ratio_range=(1.0, 1.0), flip_ratio=1.0, max_cached_images=2)
    np.random.seed(seed)
    mixup(_item(10, label=1))
    out = mixup(_item(31, label=2, boxes=((2.0, 2.0, 6.0, 7.0),)))
    assert out["img"].dtype == np.uint8 and out["img"].shape == (8, 10, 3)
    assert np.all(out["img"] == 20)  # 0.5 * 31 + 0.5 * 10 = 20.5, truncated as mmdet's astype(uint8)
    assert out["gt_bboxes"].tolist() == [[2, 2, 6, 7], [1, 1, 5, 5]]
    assert out["gt_bboxes_labels"].tolist() == [2, 1]


def test_mixup_flips_the_drawn_boxes_and_masks():
    mixup = CachedMixUp(img_scale=(10, 8), ratio_range=(1.0, 1.0), flip_ratio=0.0, max_cached_images=2)
    np.random.seed(0)
    first = _item(10, boxes=((1.0, 2.0, 4.0, 6.0),), masks=True)
    mixup(first)
    second = _item(10, boxes=((1.0, 2.0, 4.0, 6.0),), masks=True)
    out = mixup(second)
    # the first image's box [1, 2, 4, 6] mirrors in a 10-wide image to [6, 2, 9, 6]
    assert out["gt_bboxes"].tolist() == [[1, 2, 4, 6], [6, 2, 9, 6]]
    ys, xs = np.nonzero(out["gt_masks"][1])
    assert (xs.min(), xs.max() + 1, ys.min(), ys.max() + 1) == (6, 9, 2, 6)


def test_mixup_skips_a_drawn_image_without_boxes():
    mixup = CachedMixUp(img_scale=(10, 8), max_iters=3, max_cached_images=2, random_pop=False)
    mixup(_item(10, boxes=()))
    item = _item(31)
    out = mixup(item)  # the only drawable image has no box: passes through
    assert out is item and len(out["gt_bboxes"]) == 1 and out["img"].max() == 31


def test_mixup_scale_jitter_with_a_tuple_pad_val_resizes():
    # mmdet's canvas is int64 here, which OpenCV cannot resize (mmdet fails); visdet resizes it
    mixup = CachedMixUp(img_scale=(10, 8), ratio_range=(1.5, 1.5), pad_val=(114, 114, 114), max_cached_images=2)
    np.random.seed(0)
    mixup(_item(10))
    out = mixup(_item(20))
    assert out["img"].shape == (8, 10, 3) and out["img"].dtype == np.uint8


def test_mixup_clear_errors():
    with pytest.raises(ValueError, match="max_cached_images must be >= 2"):
        CachedMixUp(max_cached_images=1)
    with pytest.raises(TypeError, match="ratio_range"):
        CachedMixUp(ratio_range=(1.0,))
    gray = _item(1)
    gray["img"] = gray["img"][..., 0]
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        CachedMixUp()(gray)


# ------------------------------------------------------------------ YOLOXHSVRandomAug
@pytest.mark.parametrize("seed", range(6))
def test_hsv_value_shift_of_a_gray_image(seed):
    # gray pixels have saturation 0: with no saturation shift they stay gray, value + gain (clipped)
    aug = YOLOXHSVRandomAug(hue_delta=20, saturation_delta=0, value_delta=60)
    img = np.full((4, 5, 3), 100, dtype=np.uint8)
    img[0] = 230
    np.random.seed(seed)
    out = aug({"img": img.copy()})["img"]
    rng = np.random.RandomState(seed)
    gains = rng.uniform(-1, 1, 3) * [20, 0, 60]
    gains *= rng.randint(0, 2, 3)
    value_gain = int(gains[2])  # astype(int16) truncates toward zero
    assert out.dtype == np.uint8
    assert np.all(out[1:] == 100 + value_gain)
    assert np.all(out[0] == min(230 + value_gain, 255))


@pytest.mark.parametrize("seed", range(8))
def test_hsv_lookup_tables_equal_the_int16_shift_of_a_colour_image(seed):
    # uint8 images are shifted through 256-entry tables; expected: mmdet's int16 arithmetic on the
    # whole HSV image, with the gains replayed from the seed (large deltas: hue wraps both ways,
    # saturation and value clip at 0 and 255)
    import cv2

    aug = YOLOXHSVRandomAug(hue_delta=170, saturation_delta=200, value_delta=200)
    img = np.random.RandomState(100 + seed).randint(0, 256, (9, 11, 3)).astype(np.uint8)
    img[0, :3] = ((0, 0, 0), (255, 255, 255), (0, 0, 255))  # black, white, pure red (hue 0)
    np.random.seed(seed)
    out = aug({"img": img.copy()})["img"]
    rng = np.random.RandomState(seed)
    gains = rng.uniform(-1, 1, 3) * [170, 200, 200]
    gains = (gains * rng.randint(0, 2, 3)).astype(np.int16)
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.int16)
    hsv[..., 0] = (hsv[..., 0] + gains[0]) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] + gains[1], 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] + gains[2], 0, 255)
    expected = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert np.array_equal(out, expected)


def test_hsv_tables_wrap_hue_and_clip_saturation_and_value():
    from visdet.data.transforms.hsv_aug import hsv_tables

    hue, sat, val = hsv_tables(np.array([7, -30, 30], dtype=np.int16))
    assert hue[0] == 7 and hue[172] == 179 and hue[173] == 0 and hue[179] == 6
    assert sat[0] == 0 and sat[29] == 0 and sat[30] == 0 and sat[31] == 1 and sat[255] == 225
    assert val[0] == 30 and val[225] == 255 and val[255] == 255
    hue, _, _ = hsv_tables(np.array([-5, 0, 0], dtype=np.int16))
    assert hue[0] == 175 and hue[4] == 179 and hue[5] == 0
    assert all(t.dtype == np.uint8 and t.shape == (256,) for t in hsv_tables(np.zeros(3, dtype=np.int16)))


def test_hsv_leaves_the_input_array_alone_and_checks_it():
    img = np.random.RandomState(0).randint(0, 256, (6, 7, 3)).astype(np.uint8)
    before = img.copy()
    YOLOXHSVRandomAug()({"img": img})
    assert np.array_equal(img, before)
    with pytest.raises(ValueError, match="BGR"):
        YOLOXHSVRandomAug()({"img": img[..., 0]})
    with pytest.raises(KeyError, match="img"):
        YOLOXHSVRandomAug()({})


# ------------------------------------------------------------------ FilterAnnotations
def _boxes_item():
    # widths 0.5, 2, 1, 3; heights 2, 0.9, 2, 3 -> with (1, 1) only the 2nd (h 0.9) and 1st/3rd fail
    boxes = ((0.0, 0.0, 0.5, 2.0), (0.0, 0.0, 2.0, 0.9), (1.0, 1.0, 2.0, 3.0), (2.0, 2.0, 5.0, 5.0))
    item = _item(0, boxes=boxes, masks=True)
    item["gt_bboxes_labels"] = np.arange(4)
    return item


def test_filter_by_box_is_strict():
    out = FilterAnnotations(min_gt_bbox_wh=(1, 1))(_boxes_item())
    assert out["gt_bboxes_labels"].tolist() == [3] and out["gt_masks"].shape == (1, 8, 10)
    out = FilterAnnotations(min_gt_bbox_wh=(0.4, 0.8))(_boxes_item())
    assert out["gt_bboxes_labels"].tolist() == [0, 1, 2, 3]


def test_filter_by_mask_area_and_both():
    # mask areas from the integer box corners: 0, 0, 2, 9
    out = FilterAnnotations(by_box=False, by_mask=True, min_gt_mask_area=2)(_boxes_item())
    assert out["gt_bboxes_labels"].tolist() == [2, 3]
    out = FilterAnnotations(min_gt_bbox_wh=(0.4, 0.4), by_mask=True, min_gt_mask_area=3)(_boxes_item())
    assert out["gt_bboxes_labels"].tolist() == [3]
    item = _boxes_item()
    item["gt_masks"] = BitmapMasks(item["gt_masks"], 8, 10)
    out = FilterAnnotations(by_box=False, by_mask=True, min_gt_mask_area=2)(item)
    assert isinstance(out["gt_masks"], BitmapMasks) and len(out["gt_masks"]) == 2


def test_filter_keep_empty_rejects_and_empty_input_passes():
    assert FilterAnnotations(min_gt_bbox_wh=(10, 10))(_boxes_item()) is None
    out = FilterAnnotations(min_gt_bbox_wh=(10, 10), keep_empty=False)(_boxes_item())
    assert len(out["gt_bboxes"]) == 0 and out["gt_masks"].shape == (0, 8, 10)
    empty = _item(0, boxes=())
    assert FilterAnnotations()(empty) is empty


def test_filter_clear_errors():
    with pytest.raises(ValueError, match="by_box or by_mask"):
        FilterAnnotations(by_box=False)
    with pytest.raises(KeyError, match="gt_bboxes"):
        FilterAnnotations()({"img": np.zeros((2, 2, 3))})
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        FilterAnnotations()({"gt_bboxes": torch.zeros(3, 5)})
    item = _boxes_item()
    del item["gt_masks"]
    with pytest.raises(KeyError, match="gt_masks"):
        FilterAnnotations(by_mask=True)(item)


# ------------------------------------------------------------- configs and pipelines
@pytest.mark.parametrize("name", ["rtmdet_tiny_8xb32-300e_coco.py", "rtmdet-ins_s_8xb32-300e_coco.py"])
def test_rtmdet_pipelines_from_the_mmdet_config(name):
    cfg = read_mmdet_config(RTMDET / name)
    stage1 = build_pipeline(cfg["train_pipeline"])
    stage2 = build_pipeline(cfg["train_pipeline_stage2"])
    kinds = [type(t).__name__ for t in stage1]
    assert kinds[2:8] == ["CachedMosaic", "RandomResize", "RandomCrop", "YOLOXHSVRandomAug", "RandomFlip", "Pad"]
    assert "CachedMixUp" in kinds and "YOLOXHSVRandomAug" in [type(t).__name__ for t in stage2]
    mosaic, mixup = stage1[2], stage1[kinds.index("CachedMixUp")]
    assert mosaic.img_scale == (640, 640) and mosaic.pad_val == 114.0
    assert mixup.ratio_range == (1.0, 1.0) and mixup.pad_val == (114, 114, 114)
    if name.startswith("rtmdet_tiny"):
        assert mosaic.max_cached_images == 20 and mosaic.random_pop is False
        assert mixup.max_cached_images == 10 and mixup.prob == 0.5 and mixup.random_pop is False
    else:
        assert kinds[-2] == "FilterAnnotations" and stage1[kinds.index("RandomCrop")].recompute_bbox is True


def test_reduced_rtmdet_ins_pipeline_keeps_everything_consistent():
    pipeline = Compose(build_pipeline([
        {"type": "CachedMosaic", "img_scale": [16, 16], "max_cached_images": 5},
        {"type": "RandomResize", "scale": [32, 32], "ratio_range": [0.5, 2.0], "keep_ratio": True},
        {"type": "RandomCrop", "crop_size": [16, 16], "recompute_bbox": True, "allow_negative_crop": True},
        {"type": "YOLOXHSVRandomAug"}, {"type": "RandomFlip", "prob": 0.5},
        {"type": "Pad", "size": [16, 16], "pad_val": {"img": [114, 114, 114]}},
        {"type": "CachedMixUp", "img_scale": [16, 16], "ratio_range": [1.0, 1.0], "pad_val": [114, 114, 114]},
        {"type": "FilterAnnotations", "min_gt_bbox_wh": [1, 1]},
    ]))  # fmt: skip
    np.random.seed(0)
    for k in range(12):
        out = pipeline(_item(k, h=12 + k, w=20 - k, boxes=((1.0, 1.0, 7.0, 6.0), (3.0, 2.0, 9.0, 9.0)), masks=True))
        if out is None:
            continue
        n = len(out["gt_bboxes"])
        assert out["img"].shape == (16, 16, 3) and out["gt_masks"].shape == (n, 16, 16)
        assert len(out["gt_bboxes_labels"]) == len(out["gt_ignore_flags"]) == n


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        ({"type": "CachedMosaic", "max_cached_images": 2}, "max_cached_images"),
        ({"type": "CachedMixUp", "img_scale": [640]}, "img_scale"),
        ({"type": "CachedMixUp", "prob": 2}, "prob"),
        ({"type": "YOLOXHSVRandomAug", "hue": 3}, "hue"),
        ({"type": "FilterAnnotations", "min_gt_bbox_wh": [1, 1, 1]}, "min_gt_bbox_wh"),
    ],
)
def test_bad_configs_name_the_key(cfg, match):
    with pytest.raises(ConfigError, match=match):
        build_pipeline([cfg])
