"""Fuzzing image loading: encoded images of many kinds, cut, corrupted or lying about their size.

Images are drawn (size, 8/16-bit, gray/BGR/BGRA, PNG/JPEG/BMP/WebP/TIFF), encoded with
OpenCV, then possibly truncated, overwritten byte by byte, or given a header that
declares a huge size (CRC fixed for PNG, so only the size is wrong). They go through
``LoadImageFromFile`` (``color``, ``grayscale`` or ``unchanged``). The only outcomes
allowed: a decoded ``uint8``/``uint16`` array of the right rank (``[H, W, 3]`` for
``color``), or a ``ValueError`` naming the file. A header declaring more than
``MAX_IMAGE_PIXELS`` must be refused before decoding (``cv2.imdecode`` is not reached).
"""

import struct
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from tests.fuzz.budget import fuzz_settings
from visdet.data.transforms import loading
from visdet.data.transforms.image_header import MAX_IMAGE_PIXELS, image_size
from visdet.data.transforms.loading import LoadImageFromFile

pytestmark = pytest.mark.fuzz


def png_with_size(data: bytes, width: int, height: int) -> bytes:
    """``data`` (a PNG) with its IHDR width and height replaced and the chunk CRC fixed."""
    ihdr = bytearray(data[12:29])
    ihdr[4:12] = struct.pack(">II", width, height)
    crc = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return data[:12] + bytes(ihdr) + crc + data[33:]


def jpeg_with_size(data: bytes, width: int, height: int) -> bytes:
    """``data`` (a JPEG) with the size in its first start-of-frame segment replaced."""
    p = 2
    while p + 4 <= len(data):
        marker = data[p + 1]
        (length,) = struct.unpack(">H", data[p + 2 : p + 4])
        if marker in (0xC0, 0xC1, 0xC2):
            return data[: p + 5] + struct.pack(">HH", height, width) + data[p + 9 :]
        p += 2 + length
    raise AssertionError("no SOF segment")


@st.composite
def encoded_images(draw):
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    channels = draw(st.sampled_from([1, 3, 4]))
    ext = draw(st.sampled_from([".png", ".jpg", ".bmp", ".webp", ".tiff"]))
    deep = ext in (".png", ".tiff") and draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = np.uint16 if deep else np.uint8
    pixels = rng.integers(0, np.iinfo(dtype).max, size=(h, w, channels), dtype=dtype, endpoint=True)
    if ext == ".jpg" and channels == 4:
        pixels = pixels[..., :3]
    ok, buf = cv2.imencode(ext, pixels if channels > 1 else pixels[..., 0])
    assert ok
    return ext, (h, w), buf.tobytes()


@fuzz_settings
@given(image=encoded_images(), data=st.data())
def test_load_image_from_file(tmp_path, monkeypatch, image, data):
    ext, (h, w), raw = image
    mutation = data.draw(st.sampled_from(["none", "none", "cut", "bytes", "huge", "zero"]))
    declared = (w, h)
    if mutation == "cut":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif mutation == "bytes":
        raw = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 8))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        raw = bytes(raw)
    elif mutation in ("huge", "zero") and ext not in (".png", ".jpg"):
        mutation = "none"
    elif mutation in ("huge", "zero"):
        side = data.draw(st.sampled_from([20000, 65535, 13377])) if mutation == "huge" else 0
        declared = (side, data.draw(st.integers(1 if side else 0, 65535)))
        raw = png_with_size(raw, *declared) if ext == ".png" else jpeg_with_size(raw, *declared)
    path = tmp_path / f"img{ext}"
    path.write_bytes(raw)
    color_type = data.draw(st.sampled_from(["color", "grayscale", "unchanged", "color_ignore_orientation"]))
    header = image_size(raw)
    too_big = header is not None and header[0] * header[1] > MAX_IMAGE_PIXELS
    try:
        with monkeypatch.context() as patch:  # undone after this example
            if too_big:  # must be refused from the header alone
                patch.setattr(loading.cv2, "imdecode", lambda *a: pytest.fail("decoded a too-large image"))
            results = LoadImageFromFile(color_type=color_type)({"img_path": str(path), "img_id": 3})
    except ValueError as err:
        assert repr(str(path)) in str(err) and "img_id=3" in str(err) or (too_big and "declares" in str(err))
        assert repr(str(path)) in str(err)
        event(f"{mutation}: refused" + (" (header size)" if too_big else ""))
        return
    assert not too_big
    img = results["img"]
    assert img.dtype in (np.uint8, np.uint16) and img.size > 0
    assert results["img_shape"] == results["ori_shape"] == img.shape[:2]
    if color_type.startswith("color"):
        assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
    elif color_type == "grayscale":
        assert img.ndim == 2 and img.dtype == np.uint8
    if mutation == "none":
        assert img.shape[:2] == (h, w)
        assert header == (w, h), (ext, header)
    event(f"{mutation}: decoded")
