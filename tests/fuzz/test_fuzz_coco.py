"""Fuzzing the COCO loader: mutated annotation files through ``CocoDataset`` and ``LoadAnnotations``.

Each case starts from a small valid COCO file and applies 1-4 random mutations (delete a
key, replace a value with a nasty one: wrong type, huge/negative/NaN/infinite number,
unicode, nested junk; duplicate a list entry, so ids repeat; point an id at nothing;
empty a list; cut or corrupt the JSON text). The only outcomes allowed: the dataset
loads and every item passes the pipeline with well-formed fields, or a ``ValueError``
whose message starts with the file's path.
"""

import copy
import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from tests.fuzz.budget import fuzz_settings
from visdet.data.datasets import CocoAnnotationWarning, CocoDataset, DataItemError
from visdet.data.transforms import LoadAnnotations

pytestmark = pytest.mark.fuzz

CLASSES = ("dog", "cat")
SHAPE = (24, 32)  # every item is decoded at this size, as if its image were 24 x 32


def base_coco():
    """A small valid file: 3 images, 3 categories (one not in CLASSES), polygons, RLE, crowd."""
    return {
        "images": [
            {"id": 1, "file_name": "a.jpg", "height": 24, "width": 32},
            {"id": 2, "file_name": "b.jpg", "height": 24, "width": 32},
            {"id": 3, "file_name": "c.png", "height": 24, "width": 32},
        ],
        "categories": [{"id": 7, "name": "dog"}, {"id": 3, "name": "cat"}, {"id": 9, "name": "fish"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 7, "bbox": [2, 3, 10, 8], "area": 80,
             "segmentation": [[2, 3, 12, 3, 12, 11, 2, 11]], "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 3, "bbox": [5.5, 1, 4, 4], "area": 16, "iscrowd": 0},
            {"id": 3, "image_id": 2, "category_id": 3, "bbox": [0, 0, 32, 24], "area": 768, "iscrowd": 1,
             "segmentation": {"counts": [0, 768], "size": [24, 32]}},
            {"id": 4, "image_id": 2, "category_id": 9, "bbox": [1, 1, 3, 3], "area": 9, "iscrowd": 0},
            {"id": 5, "image_id": 3, "category_id": 7, "bbox": [30, 20, 9, 9], "area": 81, "iscrowd": 0,
             "segmentation": [[30, 20, 39, 20, 39, 29]]},
        ],
    }  # fmt: skip


NASTY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 0.5, -0.0, 1e308, -1e308, 2**63, 2**64 + 1, "", "1", "🐕 dog", "\u202e\x00",
                     [], {}, [1, 2, 3, 4], [[1, 2]], {"counts": "x", "size": [1, 1]}, "a" * 300]),
    st.text(max_size=6),
    st.lists(st.one_of(st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=2)), max_size=5),
    st.dictionaries(st.text(max_size=4), st.integers(-3, 3), max_size=2),
)  # fmt: skip


def _paths(node, prefix=()):
    """Every (container path, key) in the document."""
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((prefix, key))
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((prefix, i))
            out += _paths(value, (*prefix, i))
    return out


def _get(doc, path):
    for key in path:
        doc = doc[key]
    return doc


def mutate(doc, data):
    """Apply one random mutation to ``doc`` in place."""
    paths = _paths(doc)
    if not paths:
        return
    parent_path, key = data.draw(st.sampled_from(paths))
    parent = _get(doc, parent_path)
    op = data.draw(st.sampled_from(["delete", "replace", "duplicate", "dangling", "empty", "rename", "id_swap"]))
    if op == "delete":
        del parent[key]
    elif op == "replace":
        parent[key] = copy.deepcopy(data.draw(NASTY))  # sampled constants must not be mutated later
    elif op == "duplicate" and isinstance(parent, list):
        parent.insert(data.draw(st.integers(0, len(parent))), json.loads(json.dumps(parent[key])))
    elif op == "dangling":
        parent[key] = data.draw(st.sampled_from([999, -1, 0, "1", 1.0, 7, 3, 9, 2]))
    elif op == "empty" and isinstance(parent[key], (list, dict)):
        parent[key] = type(parent[key])()
    elif op == "rename" and isinstance(parent, dict):
        parent[data.draw(st.sampled_from(["ID", "id ", "idd", "bbox", "area", "image_id", "name", "x"]))] = (
            parent.pop(key)
        )
    elif op == "id_swap" and isinstance(parent, dict):
        parent["id"] = data.draw(st.integers(0, 4))


def _set_shape(results):
    results["ori_shape"] = results["img_shape"] = SHAPE
    return results


def check_outcome(path, text_written):
    """Load ``path``; a ValueError naming the file, or a dataset whose items are well formed."""
    pipeline = [_set_shape, LoadAnnotations(with_bbox=True, with_label=True, with_mask=True)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CocoAnnotationWarning)
            dataset = CocoDataset(ann_file=str(path), metainfo={"classes": CLASSES}, pipeline=pipeline)
    except ValueError as err:
        assert str(err).startswith(f"{path}: "), f"error does not name the file: {err!r}"
        return "error"
    doc = json.loads(text_written)
    assert [info["img_id"] for info in dataset.data_list] == [img["id"] for img in doc["images"]]
    for idx, info in enumerate(dataset.data_list):
        assert isinstance(info["img_path"], str) and info["img_path"]
        for inst in info["instances"]:
            assert len(inst["bbox"]) == 4 and all(math.isfinite(v) for v in inst["bbox"])
            assert inst["bbox"][2] >= inst["bbox"][0] and inst["bbox"][3] >= inst["bbox"][1]
            assert 0 <= inst["bbox_label"] < len(CLASSES)
            assert inst["ignore_flag"] in (0, 1)
        try:
            results = dataset.prepare_data(idx)
        except DataItemError as err:
            # mmdet's LoadAnnotations fails too on an instance without a mask, or on an RLE
            # whose size is not the image's
            cause = err.__cause__
            assert (isinstance(cause, KeyError) and "has no 'mask'" in str(err)) or (
                isinstance(cause, ValueError) and "an RLE mask of size" in str(err)
            ), repr(err)
            assert info["img_path"] in str(err) and f"img_id={info['img_id']}" in str(err)
            continue
        n = len(info["instances"])
        assert results["gt_bboxes"].shape == (n, 4)
        assert results["gt_bboxes_labels"].shape == (n,)
        masks = results["gt_masks"]  # BitmapMasks (LoadAnnotations' default poly2mask=True)
        assert (len(masks), masks.height, masks.width) == (n, *SHAPE)
        assert masks.to_ndarray().shape == (n, *SHAPE) and masks.to_ndarray().dtype == np.uint8
    return "ok"


@fuzz_settings
@given(data=st.data())
def test_mutated_coco_files(tmp_path, data):
    doc = base_coco()
    for _ in range(data.draw(st.integers(1, 4))):
        mutate(doc, data)
    text = json.dumps(doc, allow_nan=True, ensure_ascii=data.draw(st.booleans()))
    corruption = data.draw(st.sampled_from(["none"] * 6 + ["cut", "byte", "bom", "latin1"]))
    raw = text.encode("utf-8")
    if corruption == "cut":
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    elif corruption == "byte":
        pos = data.draw(st.integers(0, max(0, len(raw) - 1)))
        raw = raw[:pos] + bytes([data.draw(st.integers(0, 255))]) + raw[pos + 1 :]
    elif corruption == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif corruption == "latin1":
        raw = text.replace('"dog"', '"d\u00f6g"').encode("latin-1", errors="replace")
    path = tmp_path / "ann.json"
    path.write_bytes(raw)
    try:
        written = raw.decode("utf-8")
        json.loads(written)
    except (UnicodeDecodeError, ValueError):
        written = None
    if written is None:  # not JSON at all: must be refused naming the file
        with pytest.raises(ValueError) as info:
            CocoDataset(ann_file=str(path), metainfo={"classes": CLASSES}, pipeline=[])
        assert str(info.value).startswith(f"{path}: ")
        event("refused: not JSON")
        return
    event(f"outcome: {check_outcome(path, written)}")
