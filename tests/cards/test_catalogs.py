"""The catalogs are complete: same keys and placeholders everywhere, a sentence for every error
code the domain can raise, and command words the bot's parser can use."""

from __future__ import annotations

import ast
import json
import re
from importlib import resources
from pathlib import Path

import pytest

from cards.i18n import (
    ALL_LOCALES,
    COMMANDS,
    EN,
    FOR_KEYWORD,
    VARIANTS,
    Translator,
    account_separators,
    all_command_aliases,
    error_key,
    error_message,
    load_catalog,
    placeholders,
)
from domain.accounts import Classification
from domain.errors import AccessDenied, Conflict, InvalidInput, NotFound, RuleViolation
from domain.settings import DEFAULT_STAGES
from domain.statuses import CustomerStatus, LeadStatus, ProspectStatus

DOMAIN = Path(__file__).resolve().parents[2] / "domain"
# statuses.allowed_manual_prospect probes check_manual_change with kind="any" and catches the
# refusal itself: that code never reaches a user.
INTERNAL_STATUS_KINDS = {"any"}
KIND_ERRORS = {"NotFound": "not_found", "AccessDenied": "access_denied", "Conflict": "conflict"}
CODE_ERRORS = {"DomainError", "InvalidInput", "RuleViolation"}


def domain_error_codes() -> tuple[set[str], set[str]]:
    """Codes the domain raises, read from its source: exact codes, and f-string patterns.

    ``NotFound("lead")`` means ``lead.not_found``; ``RuleViolation("lead.closed")`` is the code
    itself; ``default_code`` class attributes count too.
    """
    exact: set[str] = set()
    patterns: set[str] = set()
    for path in sorted(DOMAIN.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "default_code"
                for target in node.targets
            ):
                assert isinstance(node.value, ast.Constant)
                exact.add(str(node.value.value))
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            name = node.func.id
            if name == "_check_version" and isinstance(node.args[0], ast.Constant):
                # services' version check: Conflict(kind) with the kind its callers pass.
                exact.add(f"{node.args[0].value!s}.conflict")
            if (name not in KIND_ERRORS and name not in CODE_ERRORS) or not node.args:
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                code = first.value
                exact.add(f"{code}.{KIND_ERRORS[name]}" if name in KIND_ERRORS else code)
            elif isinstance(first, ast.JoinedStr):
                regex = "".join(
                    re.escape(str(part.value)) if isinstance(part, ast.Constant) else "[a-z_]+"
                    for part in first.values
                )
                patterns.add(regex)
    return exact, patterns


def manual_status_kinds() -> set[str]:
    """The ``kind=`` passed to check_manual_change, which builds ``<kind>.status...`` codes."""
    kinds: set[str] = set()
    for path in sorted(DOMAIN.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "check_manual_change"
            ):
                kinds.update(
                    str(keyword.value.value)
                    for keyword in node.keywords
                    if keyword.arg == "kind" and isinstance(keyword.value, ast.Constant)
                )
    return kinds - INTERNAL_STATUS_KINDS


def test_the_scan_finds_the_domain_errors() -> None:
    exact, patterns = domain_error_codes()
    assert {"lead.closed", "lead.not_found", "account.access_denied", "input.too_long"} <= exact
    assert {"lead.conflict", "record.not_found", "rule.violation"} <= exact
    assert any("manual_change_forbidden" in pattern for pattern in patterns)
    assert manual_status_kinds() == {"account", "contact"}


@pytest.mark.parametrize("locale", ALL_LOCALES)
def test_every_domain_error_code_has_its_own_message(locale: str) -> None:
    t = Translator(locale)
    exact, patterns = domain_error_codes()
    exact |= {f"{kind}.status.manual_change_forbidden" for kind in manual_status_kinds()}
    missing = sorted(code for code in exact if not t.has(f"error.{code}"))
    assert missing == []
    for pattern in patterns:
        assert any(re.fullmatch(f"error\\.{pattern}", key) for key in t.catalog.messages)


@pytest.mark.parametrize("locale", ALL_LOCALES)
def test_catalogs_have_the_same_keys_and_placeholders(locale: str) -> None:
    english, other = load_catalog(EN).messages, load_catalog(locale).messages
    assert set(other) == set(english)
    different = {
        key: (placeholders(english[key]), placeholders(other[key]))
        for key in english
        if placeholders(english[key]) != placeholders(other[key])
    }
    assert different == {}
    assert all(value.strip() for value in other.values())


@pytest.mark.parametrize("locale", ALL_LOCALES)
def test_domain_values_are_translated(locale: str) -> None:
    t = Translator(locale)
    keys = [f"status.{s.value}" for s in LeadStatus]
    keys += [f"prospect.{s.value}" for s in ProspectStatus]
    keys += [f"customer.{s.value}" for s in CustomerStatus]
    keys += [f"classification.{c.value}" for c in Classification if c is not Classification.OTHER]
    keys += [f"stage.{key}" for key, _name, _probability in DEFAULT_STAGES]
    assert [key for key in keys if not t.has(key)] == []


@pytest.mark.parametrize(("variant", "base"), VARIANTS.items())
def test_a_variant_only_overrides_words_its_base_has(variant: str, base: str) -> None:
    """A key only in the variant would be missing for everyone else: variants add nothing."""
    raw = json.loads(
        resources.files("cards.locales").joinpath(f"{variant}.json").read_text("utf-8")
    )
    assert raw["base"] == base
    assert set(raw["messages"]) <= set(load_catalog(base).messages)
    assert set(raw.get("commands", {})) <= set(load_catalog(base).commands)
    assert raw["messages"]  # otherwise the variant is pointless


def test_european_portuguese_uses_its_own_words() -> None:
    pt = Translator.for_teams("pt-PT")
    assert pt.t("label.contact") == "Contacto"
    assert pt.t("user.unknown") == "Utilizador desconhecido"
    assert "capa de cliente" in pt.t("welcome.feature.accounts")
    assert pt.t("label.followers") == "Seguidores"  # the rest comes from pt-BR
    assert pt.command_word("contact") == "contacto"


def test_glossary_words_are_used() -> None:
    pt, fr = Translator("pt-BR"), Translator("fr")
    assert pt.t("label.contact") == "Contato"
    assert pt.t("label.participants") == "Outros participantes"
    assert pt.t("label.followers") == "Seguidores"
    assert pt.t("label.account") == "Conta"
    assert pt.t("label.pipeline") == "Funil"
    assert pt.prospect(ProspectStatus.CURRENT) == "Cliente potencial atual"
    assert [pt.lead_status(s) for s in (LeadStatus.WON, LeadStatus.LOST)] == ["Ganho", "Perdido"]
    assert pt.lead_status(LeadStatus.UNQUALIFIED) == "Desqualificado"
    assert fr.t("label.followers") == "Abonnés"
    assert fr.t("label.participants") == "Autres participants"
    assert fr.t("label.account") == "Compte"
    assert fr.t("label.stage") == "Étape de vente"
    assert fr.lead_status(LeadStatus.UNQUALIFIED) == "Non qualifié"
    assert fr.prospect(ProspectStatus.CURRENT) == "Prospect actuel"
    assert fr.customer(CustomerStatus.PAST) == "Ancien client"


@pytest.mark.parametrize("locale", ALL_LOCALES)
def test_every_command_has_words_in_every_language(locale: str) -> None:
    commands = load_catalog(locale).commands
    assert set(commands) == {*COMMANDS, FOR_KEYWORD}
    assert all(words and all(word.strip() for word in words) for words in commands.values())


def test_localized_command_words() -> None:
    assert Translator("pt-BR").command_word("new_lead") == "novo lead"
    assert Translator("fr").command_word("new_lead") == "nouveau lead"
    assert Translator("fr").command_word("unfollow") == "ne plus suivre"
    assert "new lead" in Translator("pt-BR").commands["new_lead"]  # English still understood
    assert all_command_aliases()["help"][:3] == ("help", "?", "ajuda")
    assert set(account_separators()) == {"for", "para", "pour"}


def test_command_table_puts_longer_words_first() -> None:
    table = [word for word, _command in Translator("en").command_table()]
    assert table.index("unfollow") < table.index("follow")
    assert table.index("new lead") < table.index("lead")


def test_no_two_commands_share_a_word() -> None:
    seen: dict[str, str] = {}
    for command, words in all_command_aliases().items():
        for word in words:
            assert seen.setdefault(word, command) == command, word


@pytest.mark.parametrize(
    ("error", "key"),
    [
        (NotFound("lead", lead_id="x"), "error.lead.not_found"),
        (NotFound("gizmo", gizmo_id="x"), "error.not_found"),
        (AccessDenied("widget"), "error.access_denied"),
        (Conflict("user", id="x"), "error.conflict"),
        (InvalidInput("input.brand_new", field="title"), "error.input"),
        (RuleViolation("lead.something_new"), "error.rule"),
        (
            RuleViolation("contact.status.manual_change_forbidden", reason="won_lead"),
            "error.contact.status.manual_change_forbidden.won_lead",
        ),
        (
            RuleViolation("contact.status.manual_change_forbidden", reason="unheard_of"),
            "error.contact.status.manual_change_forbidden",
        ),
    ],
)
def test_unknown_codes_fall_back_to_their_class(error: Exception, key: str) -> None:
    assert isinstance(error, NotFound | AccessDenied | Conflict | InvalidInput | RuleViolation)
    t = Translator("fr")
    assert error_key(t, error.code, error.params) == key
    message = error_message(t, error.code, error.params)
    assert message.strip()
    assert "error." not in message


def test_error_params_are_shown_in_the_users_words() -> None:
    pt = Translator("pt-BR")
    params = {"field": "title", "max": 200}
    assert error_message(pt, "input.too_long", params) == (
        "O campo título é longo demais (no máximo 200 caracteres)."
    )
    fr = Translator("fr")
    assert "Gagné" in error_message(fr, "lead.closed", {"lead_id": "x", "status": "won"})
    assert "champ personnalisé" in error_message(fr, "input.required", {"field": "custom.x"})


def test_a_missing_parameter_never_breaks_a_message() -> None:
    message = error_message(Translator("en"), "input.too_long", {})
    assert message == "The {field} is too long (at most {max} characters)."


def test_an_unknown_key_falls_back_to_english_then_to_the_key() -> None:
    assert Translator("fr").t("no.such.key") == "no.such.key"
