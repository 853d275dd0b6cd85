"""The manifest Teams will read: schema-valid, within Teams' limits, in three languages."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from jsonschema import Draft4Validator

from manifest import icons
from manifest.package import (
    InvalidPackage,
    build_manifest,
    check_package,
    localizable_strings,
    localization_files,
)
from tests.manifest.conftest import BOT_ID, HOST, MANIFEST_DIR, SCHEMAS, make_settings

SCOPES = {"personal", "team", "groupChat"}
COMMANDS = ["help", "new lead", "my leads", "pipeline", "find", "notifications"]

VARIANTS = {
    "host only": {},
    "with sso": {"sso_resource_uri": f"api://{HOST}/botid-{BOT_ID}"},
    "no host, explicit pages": {
        "host": None,
        "website_url": "https://example.org/",
        "privacy_url": "https://example.org/privacy",
        "terms_url": "https://example.org/terms",
    },
}


def errors(schema: Any, instance: Any) -> list[str]:
    return [error.message for error in Draft4Validator(schema).iter_errors(instance)]


@pytest.fixture
def manifest() -> dict[str, Any]:
    return build_manifest(make_settings())


@pytest.mark.parametrize("overrides", VARIANTS.values(), ids=VARIANTS.keys())
def test_built_manifest_validates_against_the_teams_schema(
    overrides: dict[str, Any], manifest_schema: Any
) -> None:
    manifest = build_manifest(make_settings(**overrides))
    assert errors(manifest_schema, manifest) == []
    assert manifest["manifestVersion"] == "1.25"  # draft-04 does not enforce the schema's const


@pytest.mark.parametrize("overrides", VARIANTS.values(), ids=VARIANTS.keys())
def test_each_localization_file_validates_against_the_localization_schema(
    overrides: dict[str, Any], localization_schema: Any
) -> None:
    files = localization_files(build_manifest(make_settings(**overrides)))
    assert set(files) == {"pt-BR.json", "fr.json"}
    for content in files.values():
        assert errors(localization_schema, content) == []


def test_every_placeholder_of_the_template_is_filled(manifest: dict[str, Any]) -> None:
    assert "{{" not in json.dumps(manifest)


def test_bot_is_in_personal_team_and_group_chat_scopes_without_files(
    manifest: dict[str, Any],
) -> None:
    (bot,) = manifest["bots"]
    assert bot["botId"] == BOT_ID
    assert set(bot["scopes"]) == SCOPES
    assert bot["supportsFiles"] is False


def test_each_scope_has_one_command_list_within_teams_limits(manifest: dict[str, Any]) -> None:
    lists = manifest["bots"][0]["commandLists"]
    assert len(lists) <= 3
    covered = [scope for command_list in lists for scope in command_list["scopes"]]
    assert sorted(covered) == sorted(SCOPES)
    for command_list in lists:
        commands = command_list["commands"]
        assert len(commands) <= 12
        assert [command["title"] for command in commands] == COMMANDS
        assert all(command["title"] and command["description"] for command in commands)


def test_message_extension_searches_leads_accounts_and_contacts(manifest: dict[str, Any]) -> None:
    (extension,) = manifest["composeExtensions"]
    assert extension["botId"] == BOT_ID
    (command,) = extension["commands"]
    assert command["id"] == "searchCrm"
    assert command["type"] == "query"
    assert command["initialRun"] is False
    assert command["context"] == ["compose", "commandBox"]
    assert [parameter["name"] for parameter in command["parameters"]] == ["query"]
    assert all(word in command["description"] for word in ("leads", "accounts", "contacts"))


def test_valid_domains_hold_the_host_and_the_bot_framework_sign_in_domain(
    manifest: dict[str, Any],
) -> None:
    assert manifest["validDomains"] == [HOST, "token.botframework.com"]


def test_without_a_host_only_the_sign_in_domain_is_valid() -> None:
    manifest = build_manifest(make_settings(**VARIANTS["no host, explicit pages"]))
    assert manifest["validDomains"] == ["token.botframework.com"]
    assert manifest["developer"]["privacyUrl"] == "https://example.org/privacy"


def test_web_application_info_appears_only_with_an_sso_resource(
    manifest: dict[str, Any],
) -> None:
    assert "webApplicationInfo" not in manifest
    resource = f"api://{HOST}/botid-{BOT_ID}"
    with_sso = build_manifest(make_settings(sso_resource_uri=resource))
    assert with_sso["webApplicationInfo"] == {"id": BOT_ID, "resource": resource}


def test_developer_pages_default_to_pages_on_the_host(manifest: dict[str, Any]) -> None:
    assert manifest["developer"] == {
        "name": "TeamCRM",
        "websiteUrl": f"https://{HOST}/",
        "privacyUrl": f"https://{HOST}/privacy",
        "termsOfUseUrl": f"https://{HOST}/terms",
    }


def test_a_given_developer_page_wins_over_the_default() -> None:
    manifest = build_manifest(make_settings(terms_url="https://legal.example.com/terms"))
    assert manifest["developer"]["termsOfUseUrl"] == "https://legal.example.com/terms"
    assert manifest["developer"]["privacyUrl"] == f"https://{HOST}/privacy"


def test_names_and_descriptions_fit_teams_limits_in_every_language(
    manifest: dict[str, Any],
) -> None:
    texts = [manifest] + [
        {"name": {"short": f["name.short"]}, "description": {"short": f["description.short"]}}
        for f in localization_files(manifest).values()
    ]
    for text in texts:
        assert len(text["name"]["short"]) <= 30
        assert len(text["description"]["short"]) <= 80


def test_accent_colour_is_the_colour_icon_background(manifest: dict[str, Any]) -> None:
    assert re.fullmatch(r"#[0-9a-f]{6}", manifest["accentColor"])
    assert manifest["accentColor"] == icons.accent_hex()


def test_both_languages_are_declared_and_translate_every_text(manifest: dict[str, Any]) -> None:
    info = manifest["localizationInfo"]
    assert info["defaultLanguageTag"] == "en-us"
    assert info["additionalLanguages"] == [
        {"languageTag": "pt-BR", "file": "pt-BR.json"},
        {"languageTag": "fr", "file": "fr.json"},
    ]
    english = localizable_strings(manifest)
    for content in localization_files(manifest).values():
        assert set(content) - {"$schema"} == set(english)
        assert content["bots[0].commandLists[0].commands[0].title"] != "help"


def test_localization_keys_address_the_texts_they_translate(manifest: dict[str, Any]) -> None:
    english = localizable_strings(manifest)
    assert english["bots[0].commandLists[2].commands[1].title"] == "new lead"
    assert english["composeExtensions[0].commands[0].parameters[0].title"] == "Search"
    assert english["description.full"] == manifest["description"]["full"]


def test_translations_use_the_glossary_words(manifest: dict[str, Any]) -> None:
    files = localization_files(manifest)
    portuguese = " ".join(files["pt-BR.json"].values())
    french = " ".join(files["fr.json"].values())
    for word in ("funil", "seguidores", "etapas de venda", "contato", "conta", "notificações"):
        assert word in portuguese
    for word in ("pipeline", "abonnés", "étapes de vente", "contact", "compte", "notifications"):
        assert word in french


def test_catalogs_hold_no_stale_translations(manifest: dict[str, Any]) -> None:
    english = set(localizable_strings(manifest).values())
    for tag in ("pt-BR", "fr"):
        catalog = json.loads((MANIFEST_DIR / "locales" / f"{tag}.json").read_text("utf-8"))
        assert set(catalog) == english, tag


def test_command_titles_are_distinct_in_every_language(manifest: dict[str, Any]) -> None:
    """A user picks a command by its title, and the bot receives that title as text."""
    files = [localizable_strings(manifest), *localization_files(manifest).values()]
    for texts in files:
        titles = [
            texts[f"bots[0].commandLists[0].commands[{n}].title"] for n in range(len(COMMANDS))
        ]
        assert len(set(titles)) == len(titles)


def test_a_manifest_breaking_the_schema_is_refused(manifest: dict[str, Any]) -> None:
    del manifest["developer"]
    manifest["bots"][0]["scopes"].append("meetings")
    with pytest.raises(InvalidPackage) as refused:
        check_package(manifest, {})
    assert "'developer' is a required property" in str(refused.value)
    assert "bots/0/scopes/3" in str(refused.value)


def test_a_localization_file_breaking_its_schema_is_refused(manifest: dict[str, Any]) -> None:
    with pytest.raises(InvalidPackage, match=r"fr\.json: \(root\): 'name\.short'"):
        check_package(manifest, {"fr.json": {"description.short": "x", "description.full": "y"}})


def test_bundled_schemas_are_the_published_ones_recorded_in_their_readme() -> None:
    readme = (SCHEMAS / "README.md").read_text(encoding="utf-8")
    recorded = dict(re.findall(r"^\| `([\w.-]+\.json)` \|.*\| `([0-9a-f]{64})` \|$", readme, re.M))
    assert set(recorded) == {path.name for path in SCHEMAS.glob("*.json")}
    for name, digest in recorded.items():
        assert hashlib.sha256((SCHEMAS / name).read_bytes()).hexdigest() == digest
