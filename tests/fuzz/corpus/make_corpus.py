# ruff: noqa: E501  (tables of hand-made cases, one case per line)
"""Write the hand-made corpus of nasty files (``python -m tests.fuzz.corpus.make_corpus``).

The files are committed; this script documents how each was made and rewrites them.
Each folder's ``expected.json`` gives, per file, the outcome ``test_corpus.py`` checks:
``ok`` (with the expected shape or keys) or ``error`` with a regex the message must match
(the test also checks that the message names the file). Expectations are written here
by hand from what the file is, never from what visdet does with it.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

HERE = Path(__file__).parent
PAYLOAD_MARKER = "/tmp/visdet-corpus-payload-ran"


class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {PAYLOAD_MARKER}",))


def corpus_model() -> nn.Module:
    """The model the checkpoint corpus is written for (also built by the test)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))


def _write_expected(folder: Path, expected: dict) -> None:
    (folder / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


# ----------------------------------------------------------------------------- COCO
def _coco(**over):
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "height": 20, "width": 30}],
        "categories": [{"id": 1, "name": "dog"}, {"id": 2, "name": "cat"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 5], "area": 50, "iscrowd": 0}],
    }
    doc.update(over)
    return doc


def make_coco(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ann = _coco()["annotations"][0]
    files = {
        "ok_minimal.json": (_coco(), {"outcome": "ok", "images": 1, "instances": 1}),
        "ok_empty_lists.json": (_coco(images=[], annotations=[]), {"outcome": "ok", "images": 0, "instances": 0}),
        "ok_unicode.json": (_coco(images=[{"id": 1, "file_name": "çà/🐕 ‮.jpg", "height": 20, "width": 30}],
                                  categories=[{"id": 1, "name": "dog"}, {"id": 2, "name": "猫"}]),
                            {"outcome": "ok", "images": 1, "instances": 1}),
        "ok_odd_boxes_skipped.json": (_coco(annotations=[
            {**ann, "id": 1, "bbox": [1, 2, 0, 5]}, {**ann, "id": 2, "bbox": [1, 2, -4, 5]},
            {**ann, "id": 3, "bbox": [100, 100, 5, 5]}, {**ann, "id": 4, "area": 0},
            {**ann, "id": 5, "category_id": 99}, {**ann, "id": 6}]),
            {"outcome": "ok", "images": 1, "instances": 1}),
        "ok_huge_box_kept.json": (_coco(annotations=[{**ann, "bbox": [-1e300, -1e300, 2e300, 2e300]}]),
                                  {"outcome": "ok", "images": 1, "instances": 1}),
        "bad_nan_bbox.json": (_coco(annotations=[{**ann, "bbox": [1, float("nan"), 3, 4]}]),
                              {"outcome": "error", "match": r"annotation 1 needs 'bbox' .* of finite numbers"}),
        "bad_inf_area.json": (_coco(annotations=[{**ann, "area": float("inf")}]),
                              {"outcome": "error", "match": r"annotation 1: 'area' must be a finite number"}),
        "bad_string_bbox.json": (_coco(annotations=[{**ann, "bbox": ["1", "2", "3", "4"]}]),
                                 {"outcome": "error", "match": r"annotation 1 needs 'bbox'"}),
        "bad_bool_bbox.json": (_coco(annotations=[{**ann, "bbox": [True, 2, 3, 4]}]),
                               {"outcome": "error", "match": r"annotation 1 needs 'bbox'"}),
        "bad_duplicate_ann_ids.json": (_coco(annotations=[ann, dict(ann)]),
                                       {"outcome": "error", "match": r"annotation ids are not unique: 1"}),
        "bad_duplicate_image_ids.json": (_coco(images=_coco()["images"] * 2),
                                         {"outcome": "error", "match": r"image id 1 appears twice"}),
        "bad_duplicate_category_ids.json": (_coco(categories=[{"id": 1, "name": "dog"}, {"id": 1, "name": "cat"}]),
                                            {"outcome": "error", "match": r"category id 1 appears twice"}),
        "bad_duplicate_class_names.json": (_coco(categories=[{"id": 1, "name": "dog"}, {"id": 2, "name": "dog"}]),
                                           {"outcome": "error", "match": r"categories 1 and 2 are both named 'dog'"}),
        "bad_dangling_image_id.json": (_coco(annotations=[{**ann, "image_id": 42}]),
                                       {"outcome": "error", "match": r"annotation 1 refers to unknown image_id 42"}),
        "bad_list_id.json": (_coco(annotations=[{**ann, "id": [1]}]),
                             {"outcome": "error", "match": r"annotation #0: 'id' must be an int or a string"}),
        "bad_image_not_object.json": (_coco(images=[5]), {"outcome": "error", "match": r"image #0 must be an object"}),
        "bad_negative_height.json": (_coco(images=[{"id": 1, "file_name": "a.jpg", "height": -20, "width": 30}]),
                                     {"outcome": "error", "match": r"image id 1: 'height' must be a positive number"}),
        "bad_filename_type.json": (_coco(images=[{"id": 1, "file_name": 7, "height": 20, "width": 30}]),
                                   {"outcome": "error", "match": r"image id 1: 'file_name' must be a non-empty"}),
        "bad_images_dict.json": (_coco(images={"id": 1}), {"outcome": "error", "match": r"'images' must be a list"}),
        "bad_top_level_list.json": ([], {"outcome": "error", "match": r"top level must be a JSON object"}),
        "bad_rle_overflow.json": (_coco(annotations=[{**ann, "segmentation": {"counts": [0, 10**6], "size": [20, 30]}}]),
                                  {"outcome": "error", "match": r"annotation 1: RLE run lengths sum to 1000000"}),
        "bad_rle_string.json": (_coco(annotations=[{**ann, "segmentation": {"counts": "\x01\x02zz", "size": [20, 30]}}]),
                                {"outcome": "error", "match": r"annotation 1: RLE 'counts' is not a valid"}),
        "bad_rle_string_too_long.json": (_coco(annotations=[{**ann, "segmentation": {"counts": "0k70", "size": [2, 2]}}]),
                                         {"outcome": "error", "match": r"annotation 1: RLE run lengths sum to"}),
        "bad_huge_polygon.json": (_coco(annotations=[{**ann, "segmentation": [[0, 0, 1e9, 0, 1e9, 1e9]]}]),
                                  {"outcome": "error", "match": r"annotation 1: segmentation polygon #0 is longer"}),
        "bad_polygon_strings.json": (_coco(annotations=[{**ann, "segmentation": [["a", "b", "c", "d", "e", "f"]]}]),
                                     {"outcome": "error", "match": r"annotation 1: segmentation polygon #0 must be"}),
    }  # fmt: skip
    expected = {}
    for name, (doc, expect) in files.items():
        (folder / name).write_text(json.dumps(doc, ensure_ascii=False, allow_nan=True), encoding="utf-8")
        expected[name] = expect
    raw = {
        "bad_truncated.json": (json.dumps(_coco())[:60].encode(), r"not a JSON file"),
        "bad_not_utf8.json": (b'{"images": ["\xff\xfe"]}', r"not a JSON file"),
        "bad_deep_nesting.json": (b"[" * 5000 + b"]" * 5000, r"not a JSON file"),
        "bad_empty.json": (b"", r"not a JSON file"),
    }
    for name, (content, match) in raw.items():
        (folder / name).write_bytes(content)
        expected[name] = {"outcome": "error", "match": match}
    _write_expected(folder, expected)


# ----------------------------------------------------------------------------- YAML
def make_yaml(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lol = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, cur in zip("abcdefgh", "bcdefghi"):
        lol.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    merge_bomb = ["m0: &m0 {x: 1, y: 2}"] + [
        f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: {i}}}" for i in range(1, 40)
    ]
    files = {
        "ok_base.yaml": ("model: {type: FasterRCNN, depth: 50}\nlr: 0.02\n",
                         {"outcome": "ok", "config": {"model": {"type": "FasterRCNN", "depth": 50}, "lr": 0.02}}),
        "ok_child.yaml": ("_base_: ok_base.yaml\nmodel: {depth: 18}\n",
                          {"outcome": "ok", "config": {"model": {"type": "FasterRCNN", "depth": 18}, "lr": 0.02}}),
        "ok_diamond.yaml": ("_base_: [ok_base.yaml, ok_child.yaml, ok_base.yaml]\n",
                            {"outcome": "ok", "config": {"model": {"type": "FasterRCNN", "depth": 50}, "lr": 0.02}}),
        "ok_small_aliases.yaml": ("a: &a [1, 2]\nb: *a\nc: {<<: {x: 1}, y: 2}\n",
                                  {"outcome": "ok", "config": {"a": [1, 2], "b": [1, 2], "c": {"x": 1, "y": 2}}}),
        "ok_empty.yaml": ("", {"outcome": "ok", "config": {}}),
        "ok_unicode.yaml": ("name: \"🐕 ‮ é\"\n", {"outcome": "ok", "config": {"name": "🐕 \u202e é"}}),
        "bad_cycle_a.yaml": ("_base_: bad_cycle_b.yaml\n", {"outcome": "error", "match": r"_base_ cycle: .*bad_cycle_a"}),
        "bad_cycle_b.yaml": ("_base_: bad_cycle_a.yaml\n", {"outcome": "error", "match": r"_base_ cycle: .*bad_cycle_b"}),
        "bad_self_base.yaml": ("_base_: bad_self_base.yaml\n", {"outcome": "error", "match": r"_base_ cycle"}),
        "bad_missing_base.yaml": ("_base_: nowhere.yaml\n",
                                  {"outcome": "error", "match": r"config file not found: .*nowhere.yaml \(listed in"}),
        "bad_missing_preset.yaml": ("_base_: no_such_preset_name\n",
                                    {"outcome": "error", "match": r"listed in _base_ of .*bad_missing_preset.yaml"}),
        "bad_base_int.yaml": ("_base_: 3\n", {"outcome": "error", "match": r"_base_ must be a string or a list"}),
        "bad_base_dict.yaml": ("_base_: {a: ok_base.yaml}\n",
                               {"outcome": "error", "match": r"_base_ must be a string or a list"}),
        "bad_base_is_list_file.yaml": ("_base_: bad_top_list.yaml\n",
                                       {"outcome": "error", "match": r"bad_top_list.yaml: a config file must hold a mapping"}),
        "bad_top_list.yaml": ("- 1\n- 2\n", {"outcome": "error", "match": r"a config file must hold a mapping"}),
        "bad_top_scalar.yaml": ("hello\n", {"outcome": "error", "match": r"a config file must hold a mapping"}),
        "bad_syntax.yaml": ("a: [1, 2\nb: 3\n", {"outcome": "error", "match": r"bad_syntax.yaml:\d+:\d+: YAML syntax error"}),
        "bad_tab_indent.yaml": ("a:\n\tb: 1\n", {"outcome": "error", "match": r"bad_tab_indent.yaml:2:1: YAML syntax"}),
        "bad_python_tag.yaml": (f"a: !!python/object/apply:os.system ['touch {PAYLOAD_MARKER}']\n",
                                {"outcome": "error", "match": r"bad_python_tag.yaml:1:4: YAML value not allowed"}),
        "bad_billion_laughs.yaml": ("\n".join(lol) + "\n",
                                    {"outcome": "error", "match": r"bad_billion_laughs.yaml:\d+:\d+: .*expands to more"}),
        "bad_merge_key_bomb.yaml": ("\n".join(merge_bomb) + "\n",
                                    {"outcome": "error", "match": r"bad_merge_key_bomb.yaml:\d+:\d+: .*expands to more"}),
        "bad_recursive_alias.yaml": ("a: &a [1, *a]\n", {"outcome": "error", "match": r"alias refers to the node"}),
        "bad_deep_nesting.yaml": ("a: " + "[" * 3000 + "]" * 3000 + "\n", {"outcome": "error", "match": r"nested too deeply"}),
        "bad_null_byte.yaml": ("a: 1\x00\n", {"outcome": "error", "match": r"YAML error: .*unacceptable character"}),
        "bad_two_documents.yaml": ("a: 1\n---\nb: 2\n", {"outcome": "error", "match": r"YAML syntax error"}),
        "bad_unhashable_key.yaml": ("? [1, 2]\n: 3\n", {"outcome": "error", "match": r"YAML value not allowed"}),
    }  # fmt: skip
    expected = {}
    for name, (text, expect) in files.items():
        (folder / name).write_text(text, encoding="utf-8")
        expected[name] = expect
    base_bomb = [f"bad_base_bomb_{i}.yaml" for i in range(6)]
    for i, name in enumerate(base_bomb):
        bases = [base_bomb[i + 1]] * 8 if i + 1 < len(base_bomb) else []
        (folder / name).write_text(f"_base_: {json.dumps(bases)}\nk{i}: {i}\n")
        expected[name] = {"outcome": "error", "match": r"the _base_ tree has more than 1000 files"}
    expected[base_bomb[-1]] = {"outcome": "ok", "config": {"k5": 5}}
    expected[base_bomb[-2]] = {"outcome": "ok", "config": {"k4": 4, "k5": 5}}
    expected[base_bomb[-3]] = {"outcome": "ok", "config": {"k3": 3, "k4": 4, "k5": 5}}
    expected[base_bomb[-4]] = {"outcome": "ok", "config": {"k2": 2, "k3": 3, "k4": 4, "k5": 5}}  # 1+8+64+512 files
    _write_expected(folder, expected)


# ----------------------------------------------------------------------------- checkpoints
def make_checkpoints(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model = corpus_model()
    state = model.state_dict()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    from visdet.engine.rng_state import capture_rng_state

    resume = {"state_dict": state, "optimizer": optimizer.state_dict(), "scheduler": None, "scaler": None,
              "rng": capture_rng_state(), "epoch": 0, "iter": 3, "inner_iter": 1,
              "meta": {"model_class": "Sequential"}}  # fmt: skip
    ok = {"resume": "ok", "weights": "ok"}
    weights_only = {"resume": r"not a visdet training checkpoint", "weights": "ok"}
    objects = {
        "ok_resume.pth": (resume, ok),
        "ok_bare_state_dict.pth": (state, weights_only),
        "ok_module_prefix.pth": ({"state_dict": {f"module.{k}": v for k, v in state.items()}},
                                 {"resume": r"does not fit this model", "weights": "ok"}),
        "ok_fp16_weights.pth": ({"state_dict": {k: v.half() if v.is_floating_point() else v for k, v in state.items()}},
                                {"resume": r"no 'optimizer' entry|has no", "weights": "ok"}),
        "bad_list_state_dict.pth": ({"state_dict": [1, 2, 3]},
                                    {"resume": r"'state_dict' must be a dict", "weights": r"not a tensor|not a checkpoint"}),
        "bad_string_tensor.pth": ({"state_dict": {**state, "0.weight": "abc"}},
                                  {"resume": r"'state_dict' entry '0.weight'", "weights": r"entry '0.weight'"}),
        "bad_wrong_shape.pth": ({**resume, "state_dict": {**state, "0.weight": torch.zeros(4, 3)}},
                                {"resume": r"0.weight", "weights": r"0.weight: checkpoint shape \(4, 3\)"}),
        "bad_wrong_dtype.pth": ({**resume, "state_dict": {**state, "0.weight": torch.zeros(2, 3, dtype=torch.int64)}},
                                {"resume": r"0.weight: checkpoint dtype torch.int64", "weights": r"0.weight: checkpoint dtype"}),
        "bad_missing_key.pth": ({**resume, "state_dict": {k: v for k, v in state.items() if k != "1.bias"}},
                                {"resume": r"1 missing keys \(e.g. \['1.bias'\]\)", "weights": r"missing keys \['1.bias'\]"}),
        "bad_unexpected_key.pth": ({**resume, "state_dict": {**state, "extra.w": torch.ones(1)}},
                                   {"resume": r"unexpected keys", "weights": r"unexpected keys \['extra.w'\]"}),
        "bad_optimizer_groups.pth": ({**resume, "optimizer": {"state": {}, "param_groups": []}},
                                     {"resume": r"cannot restore 'optimizer'", "weights": "ok"}),
        "bad_negative_iter.pth": ({**resume, "iter": -5}, {"resume": r"'iter' must be a non-negative int", "weights": "ok"}),
        "bad_rng.pth": ({**resume, "rng": {"python": 1}}, {"resume": r"cannot restore 'rng'", "weights": "ok"}),
        "bad_other_model.pth": ({**resume, "meta": {"model_class": "FasterRCNN"}},
                                {"resume": r"written for a FasterRCNN", "weights": "ok"}),
        "bad_not_a_dict.pth": ([torch.ones(2)], {"resume": r"not a visdet training checkpoint",
                                                 "weights": r"does not hold a checkpoint dict"}),
    }  # fmt: skip
    expected = {}
    for name, (obj, expect) in objects.items():
        torch.save(obj, folder / name)
        expected[name] = expect
    buf = io.BytesIO()
    torch.save(resume, buf)
    good = buf.getvalue()
    not_ckpt = {"resume": r"not a PyTorch checkpoint file|refused to unpickle", "weights": r"not a PyTorch checkpoint"}
    refused = {"resume": r"refused to unpickle", "weights": r"not a tensor|could not be read|not a PyTorch checkpoint"}
    raw = {
        "bad_junk.pth": (b"this is a text file, not a checkpoint\n" * 20, not_ckpt),
        "bad_empty.pth": (b"", not_ckpt),
        "bad_truncated_zip.pth": (good[: len(good) // 2], not_ckpt),
        "bad_zip_header_only.pth": (good[:100], not_ckpt),
        "bad_pickle_payload.pth": (pickle.dumps({"state_dict": Payload()}), refused),
        "bad_pickle_payload_protocol0.pth": (pickle.dumps({"state_dict": {"w": Payload()}}, protocol=0), refused),
    }
    for name, (content, expect) in raw.items():
        (folder / name).write_bytes(content)
        expected[name] = expect
    torch.save({"state_dict": {"0.weight": Payload()}}, folder / "bad_zip_payload.pth")
    expected["bad_zip_payload.pth"] = refused
    torch.save({"state_dict": Payload()}, folder / "bad_legacy_payload.pth", _use_new_zipfile_serialization=False)
    expected["bad_legacy_payload.pth"] = refused
    # weights with an mmengine-style numpy object in meta: the weights load (numpy is stubbed), resume refuses
    torch.save({"state_dict": state, "meta": {"arr": np.arange(3)}}, folder / "ok_weights_numpy_meta.pth")
    expected["ok_weights_numpy_meta.pth"] = {"resume": r"refused to unpickle", "weights": "ok"}
    _write_expected(folder, expected)


# ----------------------------------------------------------------------------- images
def _png_with_size(data: bytes, width: int, height: int) -> bytes:
    ihdr = bytearray(data[12:29])
    ihdr[4:12] = struct.pack(">II", width, height)
    return data[:12] + bytes(ihdr) + struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF) + data[33:]


def _jpeg_with_size(data: bytes, width: int, height: int) -> bytes:
    p = 2
    while True:
        marker, (length,) = data[p + 1], struct.unpack(">H", data[p + 2 : p + 4])
        if marker in (0xC0, 0xC2):
            return data[: p + 5] + struct.pack(">HH", height, width) + data[p + 9 :]
        p += 2 + length


def _exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """Insert an APP1 EXIF segment holding only the orientation tag after SOI."""
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
    tiff += struct.pack("<HHII", 0x0112, 3, 1, orientation) + struct.pack("<I", 0)
    body = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def make_images(folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, size=(12, 20, 3), dtype=np.uint8)
    expected = {}

    def enc(ext, img, **params):
        ok, buf = cv2.imencode(ext, img, [int(v) for kv in params.items() for v in kv])
        assert ok
        return buf.tobytes()

    files = {
        "ok_rgb.jpg": (enc(".jpg", bgr), {"outcome": "ok", "shape": [12, 20, 3]}),
        "ok_rgb.png": (enc(".png", bgr), {"outcome": "ok", "shape": [12, 20, 3]}),
        "ok_gray.png": (enc(".png", bgr[..., 0]), {"outcome": "ok", "shape": [12, 20, 3]}),
        "ok_gray.jpg": (enc(".jpg", bgr[..., 0]), {"outcome": "ok", "shape": [12, 20, 3]}),
        "ok_alpha.png": (enc(".png", np.dstack([bgr, bgr[..., :1]])), {"outcome": "ok", "shape": [12, 20, 3]}),
        "ok_16bit.png": (enc(".png", bgr.astype(np.uint16) * 257), {"outcome": "ok", "shape": [12, 20, 3]}),
        "ok_16bit_gray.png": (enc(".png", bgr[..., 0].astype(np.uint16) * 257), {"outcome": "ok", "shape": [12, 20, 3]}),
        "ok_1x1.png": (enc(".png", bgr[:1, :1]), {"outcome": "ok", "shape": [1, 1, 3]}),
        "ok_exif_rotated.jpg": (_exif_orientation(enc(".jpg", bgr), 6), {"outcome": "ok", "shape": [20, 12, 3]}),
        "ok_bmp.bmp": (enc(".bmp", bgr), {"outcome": "ok", "shape": [12, 20, 3]}),
        "ok_webp.webp": (enc(".webp", bgr), {"outcome": "ok", "shape": [12, 20, 3]}),
        "bad_truncated.jpg": (enc(".jpg", bgr)[:200], {"outcome": "error", "match": r"cannot decode image file"}),
        "bad_truncated.png": (enc(".png", bgr)[:100], {"outcome": "error", "match": r"cannot decode image file"}),
        "bad_empty.png": (b"", {"outcome": "error", "match": r"cannot decode image file"}),
        "bad_text.jpg": (b"not an image at all\n" * 5, {"outcome": "error", "match": r"cannot decode image file"}),
        "bad_png_crc.png": (enc(".png", bgr)[:29] + b"\x00\x00\x00\x00" + enc(".png", bgr)[33:],
                            {"outcome": "error", "match": r"cannot decode image file"}),
        "bad_zero_width.png": (_png_with_size(enc(".png", bgr), 0, 12), {"outcome": "error", "match": r"cannot decode"}),
        "bad_bomb_20000.png": (_png_with_size(enc(".png", bgr), 20000, 20000),
                               {"outcome": "error", "match": r"declares 20000 x 20000 pixels, more than the limit"}),
        "bad_bomb_20000.jpg": (_jpeg_with_size(enc(".jpg", bgr), 20000, 20000),
                               {"outcome": "error", "match": r"declares 20000 x 20000 pixels, more than the limit"}),
        "bad_bomb_65535.jpg": (_jpeg_with_size(enc(".jpg", bgr), 65535, 65535),
                               {"outcome": "error", "match": r"declares 65535 x 65535 pixels"}),
    }  # fmt: skip
    for name, (content, expect) in files.items():
        (folder / name).write_bytes(content)
        expected[name] = expect
    # CMYK JPEG (OpenCV cannot write one): converted to BGR on reading
    buf = io.BytesIO()
    Image.fromarray(bgr[..., ::-1]).convert("CMYK").save(buf, format="JPEG")
    (folder / "ok_cmyk.jpg").write_bytes(buf.getvalue())
    expected["ok_cmyk.jpg"] = {"outcome": "ok", "shape": [12, 20, 3]}
    buf = io.BytesIO()
    Image.fromarray(bgr[..., ::-1]).convert("P").save(buf, format="PNG")
    (folder / "ok_palette.png").write_bytes(buf.getvalue())
    expected["ok_palette.png"] = {"outcome": "ok", "shape": [12, 20, 3]}
    _write_expected(folder, expected)


if __name__ == "__main__":
    make_coco(HERE / "coco")
    make_yaml(HERE / "yaml")
    make_checkpoints(HERE / "checkpoint")
    make_images(HERE / "image")
    print("corpus written under", HERE)
