"""The pixel size an image file declares in its header, read without decoding it.

``LoadImageFromFile`` checks this size against :data:`MAX_IMAGE_PIXELS` before handing
the bytes to OpenCV, so a small file declaring a huge image (a "decompression bomb": a
few kilobytes of PNG or JPEG whose header says 20000 x 20000) is refused before any
buffer of that size is allocated. The header is parsed for PNG, JPEG, GIF, BMP, WebP,
TIFF and PNM (PBM/PGM/PPM); other formats OpenCV reads are left to OpenCV's own limit
(``OPENCV_IO_MAX_IMAGE_PIXELS``, 2**30 pixels by default).
"""

from __future__ import annotations

import struct

# Pillow's DecompressionBombError threshold (2 x its 89,478,485-pixel warning): about
# 0.5 GiB as an 8-bit BGR array. Set to None to disable the check.
MAX_IMAGE_PIXELS: int | None = 178_956_970

# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic...): not
# DHT (C4), JPG (C8) or DAC (CC).
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _png(data: bytes) -> tuple[int, int] | None:
    if len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    return None


def _jpeg(data: bytes) -> tuple[int, int] | None:
    p = 2
    while p + 4 <= len(data):
        if data[p] != 0xFF:  # libjpeg skips stray bytes to the next marker; so does this
            p += 1
            continue
        marker = data[p + 1]
        if marker == 0xFF:  # fill byte
            p += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            p += 2
            continue
        (length,) = struct.unpack(">H", data[p + 2 : p + 4])
        if marker in _JPEG_SOF:
            if p + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[p + 5 : p + 9])
            return width, height
        if marker == 0xDA or length < 2:  # start of scan before any frame header
            return None
        p += 2 + length
    return None


def _gif(data: bytes) -> tuple[int, int] | None:
    if len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return width, height
    return None


def _bmp(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    (header_size,) = struct.unpack("<I", data[14:18])
    if header_size == 12:
        width, height = struct.unpack("<HH", data[18:22])
        return width, height
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _tiff(data: bytes) -> tuple[int, int] | None:
    order = "<" if data[:2] == b"II" else ">"
    if len(data) < 8:
        return None
    (offset,) = struct.unpack(order + "I", data[4:8])
    if offset + 2 > len(data):
        return None
    (count,) = struct.unpack(order + "H", data[offset : offset + 2])
    size: dict[int, int] = {}
    for k in range(count):
        entry = data[offset + 2 + 12 * k : offset + 14 + 12 * k]
        if len(entry) < 12:
            break
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):
            value = struct.unpack(order + ("H" if kind == 3 else "I"), entry[8:10] if kind == 3 else entry[8:12])[0]
            size[tag] = value
    if 256 in size and 257 in size:
        return size[256], size[257]
    return None


def _pnm(data: bytes) -> tuple[int, int] | None:
    numbers: list[int] = []
    for line in data[2:512].split(b"\n"):
        for token in line.split(b"#", 1)[0].split():
            if not token.isdigit():
                return None
            numbers.append(int(token))
            if len(numbers) == 2:
                return numbers[0], numbers[1]
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` declared by the header of an encoded image, or ``None``.

    ``None`` means the format is not one parsed here or the header is cut short; the
    decoder then decides.
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _png(data)
    if data[:2] == b"\xff\xd8":
        return _jpeg(data)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return _gif(data)
    if data[:2] == b"BM":
        return _bmp(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff(data)
    if len(data) > 2 and data[:1] == b"P" and data[1:2] in b"123456" and data[2:3].isspace():
        return _pnm(data)
    return None


def check_image_size(data: bytes, path: str, limit: int | None = None) -> None:
    """Raise ``ValueError`` naming ``path`` when the header declares more than ``limit`` pixels.

    Args:
        data: The encoded file.
        path: Named in the message.
        limit: Pixel limit; default :data:`MAX_IMAGE_PIXELS` (``None`` there: no check).
    """
    limit = MAX_IMAGE_PIXELS if limit is None else limit
    if limit is None:
        return
    size = image_size(data)
    if size is not None and size[0] * size[1] > limit:
        raise ValueError(
            f"image file {path!r} declares {size[0]} x {size[1]} pixels, more than the limit of {limit} "
            "(visdet.data.transforms.image_header.MAX_IMAGE_PIXELS); not decoded"
        )
