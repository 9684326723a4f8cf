"""``ImageMeta`` (mmdet's metainfo, typed) and the box helpers of ``structures``."""

from __future__ import annotations

import pytest
import torch

from visdet.structures import ImageMeta, as_image_meta, boxes_to_rois, image_metas, scale_boxes


def test_meta_from_mmdet_dict_keeps_values_and_extras():
    meta = ImageMeta.from_dict({"img_shape": (60, 80, 3), "scale_factor": 0.5, "pad_shape": [64, 96],
                                "ori_shape": (120, 160), "img_id": 7, "flip": False})  # fmt: skip
    assert meta.img_shape == (60, 80) and meta.pad_shape == (64, 96)
    assert meta.scale_factor == (0.5, 0.5) and meta.batch_input_shape is None
    assert meta.extra == {"img_id": 7, "flip": False}
    assert meta.to_dict() == {"img_shape": (60, 80), "scale_factor": (0.5, 0.5), "pad_shape": (64, 96),
                              "ori_shape": (120, 160), "img_id": 7, "flip": False}  # fmt: skip
    assert isinstance(meta.img_shape[0], int)  # values are kept as given
    assert as_image_meta(meta) is meta


def test_batch_checks_name_the_image_and_the_key():
    metas = image_metas([{"img_shape": (4, 4), "pad_shape": (4, 4)}, ImageMeta(img_shape=(2, 2))], 2, ("img_shape",))
    assert [m.img_shape for m in metas] == [(4, 4), (2, 2)]
    with pytest.raises(KeyError, match=r"metas\[1\] lacks the key 'pad_shape'"):
        image_metas([{"img_shape": (4, 4), "pad_shape": (4, 4)}, {"img_shape": (4, 4), "pad_shape": None}],
                    require=("pad_shape",))  # fmt: skip
    with pytest.raises(ValueError, match="got 1 metas for a batch of 2 images"):
        image_metas([{"img_shape": (4, 4)}], 2)
    with pytest.raises(TypeError, match="list of per-image dicts"):
        image_metas({"img_shape": (4, 4)})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"metas\[0\] must be a dict"):
        image_metas([3])  # type: ignore[list-item]


def test_scale_boxes_per_axis_and_per_class_columns():
    boxes = torch.tensor([[2.0, 4.0, 6.0, 8.0, 1.0, 1.0, 3.0, 3.0]])
    assert torch.equal(scale_boxes(boxes, (0.5, 2.0)), torch.tensor([[1.0, 8.0, 3.0, 16.0, 0.5, 2.0, 1.5, 6.0]]))
    inverse = [1 / s for s in (1.5, 0.75)]
    assert torch.allclose(scale_boxes(scale_boxes(boxes, (1.5, 0.75)), inverse), boxes)


def test_boxes_to_rois_puts_the_image_index_first():
    rois = boxes_to_rois([torch.ones(2, 4), torch.zeros(0, 4), torch.full((1, 4), 5.0)])
    assert rois.shape == (3, 5) and rois[:, 0].tolist() == [0.0, 0.0, 2.0]
    assert torch.equal(rois[2, 1:], torch.full((4,), 5.0))
