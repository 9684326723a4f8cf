"""Device batch augmentations against the CPU pipeline's transforms with the same parameters."""

import numpy as np
import pytest
import torch

from visdet.build import build_model
from visdet.data.batch_augments import BatchColorJitter, BatchRandomFlip, BatchRandomResizedCrop
from visdet.data.transforms import RandomCrop, RandomFlip, Resize
from visdet.models.data_preprocessors import DetDataPreprocessor
from visdet.structures.bitmap_masks import BitmapMasks
from visdet.structures.instances import Instances
from visdet.testing.tiny_models import tiny_faster_rcnn_config

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
SHAPES = [(40, 56), (48, 64)]  # (h, w): different sizes, so the first image is padded


def _sample(h, w, seed):
    """A results dict as the CPU pipeline holds it: uint8 HWC image, boxes, labels, bitmap masks."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    boxes = torch.tensor([[3.25, 4.5, 20.75, 30.0], [30.0, 2.0, w - 1.5, h - 4.0], [0.0, 0.0, 6.0, 5.0]])
    masks = np.zeros((3, h, w), dtype=np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes.round().int().tolist()):
        masks[i, y1:y2, x1:x2] = 1
    return {"img": img, "img_shape": (h, w), "gt_bboxes": boxes, "gt_bboxes_labels": np.array([0, 1, 2]),
            "gt_masks": BitmapMasks(masks, h, w)}  # fmt: skip


def _batch(samples):
    """Preprocess CPU results into the device batch, metas and ground truth."""
    preprocessor = DetDataPreprocessor(mean=MEAN, std=STD, bgr_to_rgb=True, pad_size_divisor=8)
    images = [torch.from_numpy(np.ascontiguousarray(s["img"])).permute(2, 0, 1).contiguous() for s in samples]
    metas = [{"img_shape": s["img"].shape[:2]} for s in samples]
    inputs, metas = preprocessor(images, metas)
    gt = [Instances(bboxes=s["gt_bboxes"], labels=torch.as_tensor(s["gt_bboxes_labels"]), masks=s["gt_masks"])
          for s in samples]  # fmt: skip
    return inputs, metas, gt


def test_flip_equals_the_cpu_random_flip_exactly():
    samples = [_sample(h, w, i) for i, (h, w) in enumerate(SHAPES)]
    inputs, metas, gt = _batch(samples)
    out, _, out_gt = BatchRandomFlip.apply(inputs, metas, gt, flip=[True, False])
    cpu = [RandomFlip(prob=1.0)(dict(samples[0])), samples[1]]
    expected, _, expected_gt = _batch(cpu)
    assert torch.equal(out, expected)  # images (padding included), bit for bit
    for got, want in zip(out_gt, expected_gt):
        assert torch.equal(got.bboxes, want.bboxes) and torch.equal(got.labels, want.labels)
        assert np.array_equal(got.masks.masks, want.masks.masks)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_crop_resize_boxes_agree_with_cpu_random_crop_then_resize(seed):
    h, w = SHAPES[seed % 2]
    sample = _sample(h, w, seed)
    crop = (int(17 + 5 * seed), int(21 + 3 * seed))  # (w, h) of the window
    np.random.seed(seed)
    cpu = RandomCrop(crop_size=crop, crop_type="absolute")(dict(sample))
    assert cpu is not None
    x, y = -int(cpu["homography_matrix"][0, 2]), -int(cpu["homography_matrix"][1, 2])
    cpu = Resize(scale=(w, h), keep_ratio=False)(cpu)
    inputs, metas, gt = _batch([sample])
    out, _, out_gt = BatchRandomResizedCrop.apply(inputs, metas, gt, windows=[(x, y, *crop)])
    # issue 16's bound: the batch path scales boxes in float32 tensor ops, the CPU Resize in numpy float32
    torch.testing.assert_close(out_gt[0].bboxes, cpu["gt_bboxes"], atol=1e-4, rtol=0)
    assert out_gt[0].labels.tolist() == cpu["gt_bboxes_labels"].tolist()
    assert np.array_equal(out_gt[0].masks.masks, cpu["gt_masks"].masks)
    # the image: bilinear with half-pixel centres as cv2 (cv2 rounds to uint8 with fixed-point weights)
    expected, _, _ = _batch([{**cpu, "gt_bboxes_labels": cpu["gt_bboxes_labels"]}])
    pixel = torch.tensor(STD).view(1, 3, 1, 1)
    assert ((out - expected).abs() * pixel).max() <= 1.5  # grey levels


def test_crop_that_would_drop_every_box_is_not_taken():
    sample = _sample(40, 56, 0)
    inputs, metas, gt = _batch([sample])
    gt = [gt[0][torch.tensor([True, False, False])]]  # one box, at x 3..21
    out, _, out_gt = BatchRandomResizedCrop.apply(inputs, metas, gt, windows=[(40, 0, 10, 10)])
    assert torch.equal(out, inputs) and torch.equal(out_gt[0].bboxes, gt[0].bboxes)


def _augments():
    augments = [BatchRandomFlip(prob=0.5), BatchRandomResizedCrop(scale=(0.3, 1.0))]
    try:
        augments.append(BatchColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05))
    except ImportError:
        pass
    return augments


def test_augmentations_are_reproducible_under_a_seed_and_off_leaves_the_batch_untouched():
    samples = [_sample(h, w, i) for i, (h, w) in enumerate(SHAPES)]
    preprocessor = DetDataPreprocessor(mean=MEAN, std=STD, bgr_to_rgb=True, batch_augments=_augments())
    inputs, metas, gt = _batch(samples)
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        runs.append(preprocessor.augment(inputs.clone(), metas, gt))
    assert torch.equal(runs[0][0], runs[1][0]) and not torch.equal(runs[0][0], inputs)
    for a, b in zip(runs[0][2], runs[1][2]):
        assert torch.equal(a.bboxes, b.bboxes)
    preprocessor.eval()  # augmentations are for training only
    assert preprocessor.augment(inputs, metas, gt) == (inputs, metas, gt)
    off = DetDataPreprocessor(mean=MEAN, std=STD)
    assert off.augment(inputs, metas, gt) == (inputs, metas, gt)


def test_color_jitter_changes_colours_inside_images_only():
    pytest.importorskip("kornia")
    inputs, metas, gt = _batch([_sample(h, w, i) for i, (h, w) in enumerate(SHAPES)])
    mean, std = torch.tensor(MEAN).view(-1, 1, 1), torch.tensor(STD).view(-1, 1, 1)
    identity = BatchColorJitter()
    out, _, out_gt = identity(inputs, metas, gt, mean=mean, std=std, rgb=True)
    torch.testing.assert_close(out, inputs, atol=1e-4, rtol=0)  # un-normalise, normalise: float rounding only
    torch.manual_seed(0)
    out, _, out_gt = BatchColorJitter(brightness=(1.5, 1.5))(inputs, metas, gt, mean=mean, std=std, rgb=True)
    assert torch.equal(out[0, :, 40:], inputs[0, :, 40:])  # padding
    assert (out[0, :, :40, :56] * std + mean).mean() > (inputs[0, :, :40, :56] * std + mean).mean()
    assert out_gt is gt


def test_batch_augments_from_config_train_a_detector():
    cfg = tiny_faster_rcnn_config(3)
    cfg["data_preprocessor"]["batch_augments"] = [
        {"type": "BatchRandomFlip", "prob": 0.5},
        {"type": "BatchRandomResizedCrop", "scale": [0.5, 1.0]},
    ]
    model = build_model(cfg)
    augments = model.data_preprocessor.batch_augments
    assert [type(a).__name__ for a in augments] == ["BatchRandomFlip", "BatchRandomResizedCrop"]
    from visdet.data.data_sample import DetDataSample
    from visdet.engine.detection_step import detection_losses

    samples = [_sample(h, w, i) for i, (h, w) in enumerate(SHAPES)]
    data_samples = []
    for s in samples:
        sample = DetDataSample(metainfo={"img_shape": s["img_shape"], "ori_shape": s["img_shape"],
                                         "scale_factor": (1.0, 1.0)})  # fmt: skip
        sample.gt_instances = Instances(bboxes=s["gt_bboxes"], labels=torch.as_tensor(s["gt_bboxes_labels"]))
        data_samples.append(sample)
    batch = {"inputs": [torch.from_numpy(s["img"]).permute(2, 0, 1) for s in samples], "data_samples": data_samples}
    torch.manual_seed(0)
    model.train()
    losses = detection_losses(model, batch, torch.device("cpu"))
    assert all(torch.isfinite(v).all() for k, v in losses.items() if "loss" in k and isinstance(v, torch.Tensor))
    with pytest.raises(Exception, match="BatchRandomFlop"):
        build_model({**cfg, "data_preprocessor": {**cfg["data_preprocessor"],
                                                  "batch_augments": [{"type": "BatchRandomFlop"}]}})  # fmt: skip
