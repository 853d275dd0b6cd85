"""``teamcrm manifest build`` end to end: in process through ``bot.cli.main`` and as the
installed console script; bad input is refused with a message and no zip."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

from bot.cli import main
from tests.manifest.conftest import APP_ID, BOT_ID, HOST

UNSET = object()


def build_argv(output: Path | None, **options: object) -> list[str]:
    """``manifest build`` with valid defaults; an option set to UNSET is left out."""
    values: dict[str, object] = {
        "app_id": APP_ID,
        "bot_id": BOT_ID,
        "host": HOST,
        "version": "1.0.0",
    } | options
    argv = ["manifest", "build"]
    for name, value in values.items():
        if value is not UNSET:
            argv += ["--" + name.replace("_", "-"), str(value)]
    if output is not None:
        argv += ["-o", str(output)]
    return argv


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse refuses bad arguments by exiting
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def read_manifest(path: Path) -> dict[str, object]:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("manifest.json"))  # type: ignore[no-any-return]


def test_build_writes_the_package(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "teamcrm.zip"
    code, out, err = run(build_argv(output), capsys)
    assert (code, err) == (0, "")
    assert f"wrote {output}" in out
    manifest = read_manifest(output)
    assert manifest["id"] == APP_ID
    assert manifest["version"] == "1.0.0"
    assert manifest["validDomains"] == [HOST, "token.botframework.com"]
    assert "webApplicationInfo" not in manifest


def test_build_with_sso_adds_web_application_info(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "teamcrm.zip"
    resource = f"api://{HOST}/botid-{BOT_ID}"
    code, _, err = run(build_argv(output, sso_resource=resource), capsys)
    assert (code, err) == (0, "")
    assert read_manifest(output)["webApplicationInfo"] == {"id": BOT_ID, "resource": resource}


def test_ids_are_normalised_to_lower_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "teamcrm.zip"
    code, _, _ = run(build_argv(output, app_id=APP_ID.upper(), host=HOST.upper()), capsys)
    assert code == 0
    manifest = read_manifest(output)
    assert manifest["id"] == APP_ID
    assert manifest["validDomains"] == [HOST, "token.botframework.com"]


def test_defaults_are_teamcrm_zip_here_and_the_installed_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(build_argv(None, version=UNSET), capsys)
    if re.fullmatch(r"\d+\.\d+\.\d+", version("teamcrm")):
        assert code == 0
        assert read_manifest(tmp_path / "teamcrm.zip")["version"] == version("teamcrm")
    else:  # a development version such as 0.2.0.dev1 is no Teams app version
        assert code == 2
        assert "no app version" in err


BAD_INPUT = {
    "app id not a guid": ({"app_id": "not-a-guid"}, "--app-id: 'not-a-guid' is not a GUID"),
    "app id one digit short": ({"app_id": APP_ID[:-1]}, "is not a GUID"),
    "app id in braces": ({"app_id": "{" + APP_ID + "}"}, "is not a GUID"),
    "app id empty": ({"app_id": ""}, "is not a GUID"),
    "app id missing": ({"app_id": UNSET}, "the following arguments are required: --app-id"),
    "bot id not a guid": ({"bot_id": "28:bot"}, "--bot-id: '28:bot' is not a GUID"),
    "bot id missing": ({"bot_id": UNSET}, "the following arguments are required: --bot-id"),
    "version two numbers": ({"version": "1.0"}, "is not a version of the form x.y.z"),
    "version prefixed": ({"version": "v1.0.0"}, "is not a version"),
    "version leading zero": ({"version": "1.02.0"}, "is not a version"),
    "version pre-release": ({"version": "1.0.0-beta"}, "is not a version"),
    "version empty": ({"version": ""}, "is not a version"),
    "host with scheme": ({"host": f"https://{HOST}"}, "is not a host name"),
    "host with port": ({"host": f"{HOST}:443"}, "is not a host name"),
    "host with path": ({"host": f"{HOST}/api/messages"}, "is not a host name"),
    "host single label": ({"host": "localhost"}, "is not a host name"),
    "host underscore": ({"host": "crm_bot.example.com"}, "is not a host name"),
    "host ip address": ({"host": "10.0.0.1"}, "is not a host name"),
    "host empty": ({"host": ""}, "is not a host name"),
    "sso resource empty": ({"sso_resource": ""}, "is not an Application ID URI"),
    "sso resource not a uri": ({"sso_resource": "my bot"}, "is not an Application ID URI"),
    "website plain http": ({"website_url": "http://example.org"}, "is not an https URL"),
    "privacy without host": ({"privacy_url": "https://"}, "is not an https URL"),
    "terms unparsable": ({"terms_url": "https://[::1/terms"}, "is not an https URL"),
    "sso resource unparsable": ({"sso_resource": "api://[botid"}, "is not an Application ID URI"),
    "no host nor pages": ({"host": UNSET}, "no website URL"),
}


@pytest.mark.parametrize(("options", "message"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_is_refused_without_writing_a_zip(
    options: dict[str, object],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(build_argv(tmp_path / "teamcrm.zip", **options), capsys)
    assert code == 2
    assert message in err
    assert out == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", ["--app-id", "--bot-id", "--host", "--version", "-o"])
def test_an_option_without_its_value_is_refused(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = [arg for arg in build_argv(None) if arg != option] + [option]
    code, _, err = run(argv, capsys)
    assert code == 2
    assert f"argument {option}" in err
    assert "expected one argument" in err
    assert list(tmp_path.iterdir()) == []


def test_output_in_a_missing_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(build_argv(tmp_path / "missing" / "teamcrm.zip"), capsys)
    assert code == 2
    assert "does not exist" in err
    assert list(tmp_path.iterdir()) == []


def test_output_that_is_a_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(build_argv(tmp_path), capsys)
    assert code == 2
    assert "is a folder" in err
    assert list(tmp_path.iterdir()) == []


def test_refused_build_leaves_an_earlier_package_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "teamcrm.zip"
    output.write_bytes(b"the package uploaded last week")
    code, _, _ = run(build_argv(output, version="2.0"), capsys)
    assert code == 2
    assert output.read_bytes() == b"the package uploaded last week"
    assert list(tmp_path.iterdir()) == [output]


def test_manifest_without_a_subcommand_shows_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["manifest"], capsys)
    assert code == 2
    assert "build" in err


CONSOLE_SCRIPT = Path(sys.executable).with_name("teamcrm")


@pytest.fixture
def console_script() -> Path:
    if not CONSOLE_SCRIPT.exists():
        pytest.skip(f"the teamcrm console script is not installed next to {sys.executable}")
    return CONSOLE_SCRIPT


def run_script(script: Path, argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  # our own console script with fixed arguments
        [str(script), *argv], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_installed_console_script_builds_the_package(console_script: Path, tmp_path: Path) -> None:
    argv = build_argv(Path("app.zip"))
    result = run_script(console_script, argv, tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    with zipfile.ZipFile(tmp_path / "app.zip") as archive:
        assert sorted(archive.namelist()) == sorted(
            ["manifest.json", "color.png", "outline.png", "pt-BR.json", "fr.json"]
        )


def test_installed_console_script_refuses_bad_input(console_script: Path, tmp_path: Path) -> None:
    argv = build_argv(Path("app.zip"), bot_id="not-a-guid")
    result = run_script(console_script, argv, tmp_path)
    assert result.returncode == 2
    assert "--bot-id: 'not-a-guid' is not a GUID" in result.stderr
    assert list(tmp_path.iterdir()) == []
