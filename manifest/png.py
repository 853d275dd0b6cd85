"""A minimal PNG encoder, so the project can draw its own icons without Pillow at runtime.

Only what the two Teams icons need: 8-bit RGBA, no interlacing, filter type 0 on every row.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

SIGNATURE = b"\x89PNG\r\n\x1a\n"

RGBA = tuple[int, int, int, int]

_BIT_DEPTH = 8
_COLOUR_TYPE_RGBA = 6


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_rgba(rows: Sequence[Sequence[RGBA]]) -> bytes:
    """PNG bytes for a rectangle of RGBA pixels, top row first.

    Filter 0 and a fixed compression level keep the output a pure function of the pixels
    (for a given zlib), so regenerating the icons only changes the files when the drawing does.
    """
    height = len(rows)
    if height == 0 or len(rows[0]) == 0:
        raise ValueError("an image needs at least one pixel")
    width = len(rows[0])
    raw = bytearray()
    for y, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"row {y} has {len(row)} pixels, expected {width}")
        raw.append(0)  # filter type 0: the row as is
        for pixel in row:
            if any(not 0 <= channel <= 255 for channel in pixel):
                raise ValueError(f"channel out of range in row {y}: {pixel}")
            raw.extend(pixel)
    header = struct.pack(">IIBBBBB", width, height, _BIT_DEPTH, _COLOUR_TYPE_RGBA, 0, 0, 0)
    return (
        SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + _chunk(b"IEND", b"")
    )


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, to check an icon before it goes into a package."""
    if not data.startswith(SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)
