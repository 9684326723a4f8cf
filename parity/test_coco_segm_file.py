"""The COCO segmentation file of the mask pipeline / segm metric cases holds what it claims."""

from __future__ import annotations

import json

import pytest

from parity.cases._coco_segm_file import write_coco_segm_file


@pytest.mark.parametrize("seed", [0, 7, 123456])
def test_file_has_every_kind_of_segmentation(tmp_path, seed):
    data = write_coco_segm_file(tmp_path, seed)
    assert json.loads((tmp_path / "annotations.json").read_text()) == data
    anns = {a["id"]: a for a in data["annotations"]}
    polygons = [a for a in anns.values() if isinstance(a["segmentation"], list)]
    rles = [a for a in anns.values() if isinstance(a["segmentation"], dict)]
    compressed = [a for a in rles if isinstance(a["segmentation"]["counts"], str)]
    uncompressed = [a for a in rles if isinstance(a["segmentation"]["counts"], list)]
    assert len(polygons) >= 5 and compressed and uncompressed
    crowd = [a for a in anns.values() if a["iscrowd"] == 1]
    assert {type(a["segmentation"]["counts"]) for a in crowd} == {str, list}
    assert any(len(a["segmentation"]) >= 2 for a in polygons)  # several parts
    assert [len(p) for p in anns[104]["segmentation"]] == [4]  # the only polygon has 2 points
    assert sorted(len(p) for p in anns[105]["segmentation"])[:2] == [4, 7]  # short and odd parts
    assert max(max(p[0::2]) for p in anns[204]["segmentation"]) > 52  # past the image's right border
    with_anns = {a["image_id"] for a in data["annotations"]}
    assert [img["id"] for img in data["images"] if img["id"] not in with_anns] == [4, 6]
    for a in rles:
        img = next(i for i in data["images"] if i["id"] == a["image_id"])
        assert a["segmentation"]["size"] == [img["height"], img["width"]]
    assert (tmp_path / "images" / "j2.jpg").is_file() and (tmp_path / "images" / "p1.png").is_file()


def test_metric_variant_leaves_out_only_the_two_point_polygon(tmp_path):
    full = write_coco_segm_file(tmp_path / "a", 3)
    metric = write_coco_segm_file(tmp_path / "b", 3, short_only_polygon=False)
    assert [a for a in full["annotations"] if a["id"] != 104] == metric["annotations"]


def test_visdet_loads_the_file_as_mmdet_would(tmp_path):
    from visdet.build import build_pipeline
    from visdet.data.datasets import CocoDataset

    write_coco_segm_file(tmp_path, 5)
    pipeline = [{"type": "LoadImageFromFile"}, {"type": "LoadAnnotations", "with_bbox": True, "with_mask": True}]
    dataset = CocoDataset(ann_file=str(tmp_path / "annotations.json"), metainfo={"classes": ("person", "car", "kite")},
                          data_prefix={"img": str(tmp_path / "images") + "/"},
                          pipeline=build_pipeline(pipeline))  # fmt: skip
    first = dataset[0]
    # image 1: annotations 101..105; 104 (only a 2-point polygon) becomes ignored with an empty mask
    assert first["gt_ignore_flags"].tolist() == [False, False, False, True, False]
    assert first["gt_masks"].masks[3].sum() == 0 and all(first["gt_masks"].masks[i].sum() > 0 for i in (0, 1, 2, 4))
    # image 2: the uncompressed-RLE crowd region (202) is ignored, its mask decoded
    second = dataset[1]
    assert second["gt_ignore_flags"].tolist() == [False, True, False, False]
    assert second["gt_masks"].masks[1].sum() > 0
