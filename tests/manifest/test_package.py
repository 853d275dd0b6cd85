"""The zip an admin uploads: every file at the root, nothing else, the same bytes each time."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from manifest.package import PackageSettings, build_package, write_atomically
from tests.manifest.conftest import make_settings
from tests.manifest.pngdecode import header_size

EXPECTED = ["manifest.json", "color.png", "outline.png", "pt-BR.json", "fr.json"]


def open_zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def test_package_holds_the_manifest_icons_and_translations_at_its_root(
    settings: PackageSettings,
) -> None:
    with open_zip(build_package(settings)) as archive:
        assert archive.namelist() == EXPECTED
        assert archive.testzip() is None
        manifest = json.loads(archive.read("manifest.json"))
        referenced = [
            manifest["icons"]["color"],
            manifest["icons"]["outline"],
            *(entry["file"] for entry in manifest["localizationInfo"]["additionalLanguages"]),
        ]
        assert sorted(referenced) == sorted(EXPECTED[1:])
        assert header_size(archive.read("color.png")) == (192, 192)
        assert header_size(archive.read("outline.png")) == (32, 32)


def test_package_files_are_utf8_json_without_a_byte_order_mark(settings: PackageSettings) -> None:
    with open_zip(build_package(settings)) as archive:
        french = archive.read("fr.json")
    assert not french.startswith(b"\xef\xbb\xbf")
    assert "abonnés" in french.decode("utf-8")


def test_same_settings_give_the_same_bytes(settings: PackageSettings) -> None:
    assert build_package(settings) == build_package(make_settings())


def test_written_package_replaces_an_older_one(settings: PackageSettings, tmp_path: Path) -> None:
    target = tmp_path / "teamcrm.zip"
    target.write_bytes(b"older package")
    write_atomically(build_package(settings), target)
    with zipfile.ZipFile(target) as archive:
        assert archive.namelist() == EXPECTED
    assert sorted(path.name for path in tmp_path.iterdir()) == ["teamcrm.zip"]


def test_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()  # os.replace cannot put a file over a folder
    with pytest.raises(OSError):  # noqa: PT011  # the platform picks the subclass
        write_atomically(b"zip bytes", target)
    assert [path.name for path in tmp_path.iterdir()] == ["taken"]
    assert list(target.iterdir()) == []
