"""Builds the Teams app package (manifest, icons, localization files) and checks it first.

An admin uploads the zip to Teams, whose errors are terse and late; everything that can be
wrong with the values given at build time is refused here, and the result is validated
against the schemas bundled with the package before a single byte reaches the disk.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

# jsonschema ships no type information and its stubs are not a dependency; it is used through
# the two typed functions below.
from jsonschema import Draft4Validator  # type: ignore[import-untyped]

from manifest import icons
from manifest.png import image_size

MANIFEST_SCHEMA = "teams-manifest-1.25.schema.json"
LOCALIZATION_SCHEMA = "teams-manifest-localization-1.25.schema.json"
LOCALIZATION_SCHEMA_URL = (
    "https://developer.microsoft.com/en-us/json-schemas/teams/v1.25/"
    "MicrosoftTeams.Localization.schema.json"
)
# OAuth and SSO sign-in cards open pages on this Bot Framework domain.
BOT_FRAMEWORK_SIGN_IN_DOMAIN = "token.botframework.com"
ICON_SIZES = {"color": icons.COLOR_SIZE, "outline": icons.OUTLINE_SIZE}

_GUID = re.compile(r"^[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$")
# The manifest schema's own "semver" definition: three numbers, no leading zeros.
_VERSION = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_PLACEHOLDER = re.compile(r"^\{\{(\w+)\}\}$")
_MAX_URL = 2048  # the schema's limit for every URL and for webApplicationInfo.resource
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the same inputs give the same bytes

Json = dict[str, Any]
_ABSENT = object()  # what a placeholder filled with None becomes: the key is dropped


class InvalidInput(ValueError):
    """A value given to the build is unusable; the message says which and why."""


class InvalidPackage(ValueError):
    """The built package breaks the schema or its own rules: a bug here, not the admin's input."""


def guid(text: str) -> str:
    value = text.strip().lower()
    if not _GUID.match(value):
        raise InvalidInput(
            f"{text!r} is not a GUID (expected 8-4-4-4-12 hexadecimal digits, "
            "e.g. 00000000-0000-0000-0000-000000000000)"
        )
    return value


def app_version(text: str) -> str:
    if not _VERSION.match(text):
        raise InvalidInput(
            f"{text!r} is not a version of the form x.y.z (three numbers, e.g. 1.0.0); "
            "Teams needs a higher one each time an updated package is uploaded"
        )
    return text


def host_name(text: str) -> str:
    """A public DNS name: Azure Bot and Teams reach the bot over https on this name."""
    value = text.strip().lower().removesuffix(".")
    labels = value.split(".")
    if (
        not value
        or len(value) > 253
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise InvalidInput(
            f"{text!r} is not a host name: give the public DNS name only, without scheme, "
            "port or path (e.g. crm.example.com)"
        )
    return value


def https_url(text: str) -> str:
    parts = _split(text)
    if (
        parts is None
        or parts.scheme != "https"
        or not parts.hostname
        or _has_space(text)
        or len(text) > _MAX_URL
    ):
        raise InvalidInput(f"{text!r} is not an https URL (e.g. https://crm.example.com/privacy)")
    return text


def sso_resource(text: str) -> str:
    """The Application ID URI of the bot's app registration, as "Expose an API" shows it."""
    parts = _split(text)
    if (
        parts is None
        or parts.scheme not in {"api", "https"}
        or not parts.netloc
        or _has_space(text)
        or len(text) > _MAX_URL
    ):
        raise InvalidInput(
            f"{text!r} is not an Application ID URI (e.g. api://crm.example.com/botid-<bot id> "
            "or api://botid-<bot id>)"
        )
    return text


def _split(text: str) -> SplitResult | None:
    try:
        return urlsplit(text)
    except ValueError:  # e.g. an unclosed "[" taken for an IPv6 address
        return None


def _has_space(text: str) -> bool:
    return any(ch.isspace() for ch in text)


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageSettings:
    """Checked values for one package; build them with :func:`package_settings`."""

    app_id: str
    bot_id: str
    version: str
    host: str | None
    sso_resource: str | None
    website_url: str
    privacy_url: str
    terms_url: str


def project_version() -> str | None:
    """The installed TeamCRM version when it can serve as an app version, else ``None``."""
    try:
        value = installed_version("teamcrm")
    except PackageNotFoundError:
        return None
    return value if _VERSION.match(value) else None


def package_settings(
    *,
    app_id: str,
    bot_id: str,
    version: str | None = None,
    host: str | None = None,
    sso_resource_uri: str | None = None,
    website_url: str | None = None,
    privacy_url: str | None = None,
    terms_url: str | None = None,
) -> PackageSettings:
    """Check and normalise the build's inputs; the developer pages default to the host's."""
    checked_host = host_name(host) if host is not None else None
    base = f"https://{checked_host}" if checked_host else None
    urls: dict[str, str] = {}
    for option, given, default_path in (
        ("website URL", website_url, "/"),
        ("privacy URL", privacy_url, "/privacy"),
        ("terms of use URL", terms_url, "/terms"),
    ):
        if given is not None:
            urls[option] = https_url(given)
        elif base is not None:
            urls[option] = base + default_path
        else:
            raise InvalidInput(
                f"no {option}: give the bot's host, from which it defaults, or the URL itself"
            )
    chosen_version = version if version is not None else project_version()
    if chosen_version is None:
        raise InvalidInput("no app version: give one of the form x.y.z")
    return PackageSettings(
        app_id=guid(app_id),
        bot_id=guid(bot_id),
        version=app_version(chosen_version),
        host=checked_host,
        sso_resource=sso_resource(sso_resource_uri) if sso_resource_uri is not None else None,
        website_url=urls["website URL"],
        privacy_url=urls["privacy URL"],
        terms_url=urls["terms of use URL"],
    )


def _data(*parts: str) -> bytes:
    return resources.files("manifest").joinpath(*parts).read_bytes()


def _json(*parts: str) -> Any:
    return json.loads(_data(*parts).decode("utf-8"))


def _fill(node: Any, values: Mapping[str, Any]) -> Any:
    """Replace whole-string ``{{name}}`` placeholders; a value of ``None`` drops the key.

    Only whole strings are replaced, with parsed JSON values rather than text, so no input can
    change the manifest's structure.
    """
    if isinstance(node, dict):
        filled = {key: _fill(value, values) for key, value in node.items()}
        return {key: value for key, value in filled.items() if value is not _ABSENT}
    if isinstance(node, list):
        return [_fill(item, values) for item in node]
    if isinstance(node, str) and (match := _PLACEHOLDER.match(node)):
        name = match.group(1)
        if name not in values:
            raise InvalidPackage(f"the manifest template uses an unknown placeholder {node}")
        value = values[name]
        return _ABSENT if value is None else value
    return node


def build_manifest(settings: PackageSettings) -> Json:
    valid_domains = [settings.host] if settings.host else []
    valid_domains.append(BOT_FRAMEWORK_SIGN_IN_DOMAIN)
    web_application_info = (
        {"id": settings.bot_id, "resource": settings.sso_resource}
        if settings.sso_resource
        else None
    )
    manifest: Json = _fill(
        _json("template", "manifest.json"),
        {
            "appId": settings.app_id,
            "botId": settings.bot_id,
            "version": settings.version,
            "websiteUrl": settings.website_url,
            "privacyUrl": settings.privacy_url,
            "termsOfUseUrl": settings.terms_url,
            "accentColor": icons.accent_hex(),
            "validDomains": list(dict.fromkeys(valid_domains)),
            "webApplicationInfo": web_application_info,
        },
    )
    return manifest


def localizable_strings(manifest: Json) -> dict[str, str]:
    """The manifest's translatable texts, keyed as Teams localization files address them."""
    found: dict[str, str] = {}
    for group in ("name", "description"):
        for key, text in manifest.get(group, {}).items():
            found[f"{group}.{key}"] = text
    for b, bot in enumerate(manifest.get("bots", [])):
        for c, command_list in enumerate(bot.get("commandLists", [])):
            for n, command in enumerate(command_list["commands"]):
                for key in ("title", "description"):
                    found[f"bots[{b}].commandLists[{c}].commands[{n}].{key}"] = command[key]
    for e, extension in enumerate(manifest.get("composeExtensions", [])):
        for c, command in enumerate(extension.get("commands", [])):
            prefix = f"composeExtensions[{e}].commands[{c}]"
            found.update(_texts(prefix, command))
            for p, parameter in enumerate(command.get("parameters", [])):
                found.update(_texts(f"{prefix}.parameters[{p}]", parameter))
    return found


def _texts(prefix: str, node: Json) -> Iterator[tuple[str, str]]:
    for key in ("title", "description"):
        if key in node:
            yield f"{prefix}.{key}", node[key]


def localization_files(manifest: Json) -> dict[str, Json]:
    """One file per additional language, translated through ``locales/<tag>.json``.

    The catalogs map each English text to its translation, so a text used in several places
    (the same command in every scope) is translated once and the file's index-based keys
    always match the manifest they are built from.
    """
    english = localizable_strings(manifest)
    files: dict[str, Json] = {}
    for language in manifest["localizationInfo"].get("additionalLanguages", []):
        tag, name = language["languageTag"], language["file"]
        catalog: dict[str, str] = _json("locales", f"{tag}.json")
        missing = sorted({text for text in english.values() if text not in catalog})
        if missing:
            raise InvalidPackage(f"no {tag} translation for: {missing}")
        files[name] = {"$schema": LOCALIZATION_SCHEMA_URL} | {
            key: catalog[text] for key, text in english.items()
        }
    return files


def schema_errors(instance: Any, schema_file: str) -> list[str]:
    """Every way ``instance`` breaks the bundled schema, as readable one-liners."""
    validator = Draft4Validator(_json("schemas", schema_file))
    errors = sorted(validator.iter_errors(instance), key=lambda error: list(error.absolute_path))
    return [
        f"{'/'.join(str(part) for part in error.absolute_path) or '(root)'}: {error.message}"
        for error in errors
    ]


def check_package(manifest: Json, localizations: Mapping[str, Json]) -> None:
    problems = [f"manifest.json: {error}" for error in schema_errors(manifest, MANIFEST_SCHEMA)]
    for name, content in localizations.items():
        errors = schema_errors(content, LOCALIZATION_SCHEMA)
        problems.extend(f"{name}: {error}" for error in errors)
    if manifest.get("manifestVersion") != "1.25":  # draft-04 ignores the schema's "const"
        problems.append("manifest.json: manifestVersion: must be 1.25")
    if problems:
        raise InvalidPackage("the package does not match the Teams schema:\n" + "\n".join(problems))


def _icon(kind: str) -> bytes:
    name = icons.COLOR_FILE if kind == "color" else icons.OUTLINE_FILE
    data = _data("assets", name)
    size = ICON_SIZES[kind]
    if image_size(data) != (size, size):
        raise InvalidPackage(f"the {kind} icon must be {size}x{size} pixels")
    return data


def _dumps(content: Json) -> bytes:
    return (json.dumps(content, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def build_package(settings: PackageSettings) -> bytes:
    """The zip's bytes: every file at the root, as Teams requires, in a stable order."""
    manifest = build_manifest(settings)
    localizations = localization_files(manifest)
    check_package(manifest, localizations)
    entries = {
        "manifest.json": _dumps(manifest),
        manifest["icons"]["color"]: _icon("color"),
        manifest["icons"]["outline"]: _icon("outline"),
    } | {name: _dumps(content) for name, content in localizations.items()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def write_atomically(data: bytes, path: Path) -> None:
    """Write through a temporary file in the same folder, so a failure leaves no partial zip
    and an earlier package at ``path`` stays intact."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would surprise whoever uploads the file
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
