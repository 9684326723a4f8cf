import struct

import cv2
import numpy as np
import pytest

from visdet.data.transforms import image_header
from visdet.data.transforms.image_header import check_image_size, image_size
from visdet.data.transforms.loading import LoadImageFromFile


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp", ".tiff", ".ppm", ".pgm"])
def test_header_size_of_every_parsed_format(ext):
    img = np.zeros((13, 21, 3), np.uint8) if ext != ".pgm" else np.zeros((13, 21), np.uint8)
    ok, buf = cv2.imencode(ext, img)
    assert ok and image_size(buf.tobytes()) == (21, 13)


def test_gif_pnm_comments_and_unknown_formats():
    gif = b"GIF89a" + struct.pack("<HH", 300, 200) + b"\x00" * 8
    assert image_size(gif) == (300, 200)
    assert image_size(b"P6\n# a comment\n640 480\n255\n") == (640, 480)
    assert image_size(b"\x00\x01 not an image") is None
    assert image_size(b"\x89PNG\r\n\x1a\n") is None  # cut inside the header: the decoder decides


def test_limit_can_be_changed_or_disabled(tmp_path, monkeypatch):
    ok, buf = cv2.imencode(".png", np.zeros((100, 100, 3), np.uint8))
    data = buf.tobytes()
    with pytest.raises(ValueError, match=r"'x.png' declares 100 x 100 pixels, more than the limit of 9999"):
        check_image_size(data, "x.png", limit=9_999)
    path = tmp_path / "x.png"
    path.write_bytes(data)
    monkeypatch.setattr(image_header, "MAX_IMAGE_PIXELS", 9_999)
    with pytest.raises(ValueError, match="more than the limit of 9999"):
        LoadImageFromFile(ignore_empty=True)({"img_path": str(path), "img_id": 1})  # refused even so
    monkeypatch.setattr(image_header, "MAX_IMAGE_PIXELS", None)
    assert LoadImageFromFile()({"img_path": str(path), "img_id": 1})["img"].shape == (100, 100, 3)
