"""The icons Teams shows: right sizes, an opaque colour icon, a white-on-transparent outline."""

from __future__ import annotations

from pathlib import Path

import pytest

from manifest import icons
from manifest.png import encode_rgba, image_size
from tests.manifest.conftest import MANIFEST_DIR
from tests.manifest.pngdecode import decode, header_size

ASSETS = MANIFEST_DIR / "assets"


@pytest.fixture(scope="module")
def color() -> bytes:
    return (ASSETS / "color.png").read_bytes()


@pytest.fixture(scope="module")
def outline() -> bytes:
    return (ASSETS / "outline.png").read_bytes()


def test_colour_icon_is_192_pixels_square(color: bytes) -> None:
    assert header_size(color) == (192, 192)


def test_outline_icon_is_32_pixels_square(outline: bytes) -> None:
    assert header_size(outline) == (32, 32)


def test_colour_icon_is_opaque_with_a_visible_mark_on_the_accent(color: bytes) -> None:
    image = decode(color)
    assert all(alpha == 255 for *_, alpha in image.pixels)
    accent = (*icons.ACCENT, 255)
    assert image.at(0, 0) == image.at(191, 191) == accent
    assert image.at(96, 60) == (255, 255, 255, 255)  # inside the bubble, above the check
    white = sum(pixel == (255, 255, 255, 255) for pixel in image.pixels)
    assert 0.1 < white / len(image.pixels) < 0.5


def test_outline_icon_is_only_white_on_transparent(outline: bytes) -> None:
    image = decode(outline)
    assert {(r, g, b) for r, g, b, _ in image.pixels} == {(255, 255, 255)}
    alphas = [alpha for *_, alpha in image.pixels]
    assert alphas.count(0) > len(alphas) / 2  # mostly background
    assert 255 in alphas  # and a solid line somewhere
    assert image.at(0, 0)[3] == image.at(31, 0)[3] == 0
    assert image.at(16, 8)[3] == 0  # the bubble is an outline, not a blob


def test_committed_icons_are_what_the_drawing_code_draws(color: bytes, outline: bytes) -> None:
    """Compared as pixels: another zlib may compress the same image to other bytes."""
    assert decode(color) == decode(icons.color_png())
    assert decode(outline) == decode(icons.outline_png())


def test_png_writer_round_trips_pixels() -> None:
    rows = [[(0, 0, 0, 0), (255, 0, 0, 255), (1, 2, 3, 4)], [(9, 9, 9, 9)] * 3]
    data = encode_rgba(rows)
    assert image_size(data) == (3, 2)
    assert decode(data).pixels == [*rows[0], *rows[1]]


@pytest.mark.parametrize(
    "rows",
    [[], [[]], [[(0, 0, 0, 0)], [(0, 0, 0, 0), (0, 0, 0, 0)]], [[(256, 0, 0, 0)]]],
    ids=["no rows", "empty row", "ragged", "channel too big"],
)
def test_png_writer_refuses_malformed_images(rows: list[list[tuple[int, ...]]]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  # each case has its own message
        encode_rgba(rows)  # type: ignore[arg-type]


def test_size_reader_refuses_what_is_not_a_png() -> None:
    with pytest.raises(ValueError, match="not a PNG"):
        image_size(b"GIF89a" + bytes(30))


def test_icon_generator_writes_both_files(tmp_path: Path) -> None:
    assert icons.main([str(tmp_path)]) == 0
    assert header_size((tmp_path / "color.png").read_bytes()) == (192, 192)
    assert header_size((tmp_path / "outline.png").read_bytes()) == (32, 32)
