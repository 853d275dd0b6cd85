"""Dates, times and amounts the way each language writes them, and amounts read back."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from cards.i18n import NBSP, NNBSP, Translator, parse_amount, resolve_locale
from domain.errors import InvalidInput
from domain.ids import StageId
from domain.settings import Pipeline, Stage
from tests.cards.conftest import STAMP, TENANT


@pytest.mark.parametrize(
    ("teams_locale", "catalog"),
    [
        ("en-US", "en"),
        ("en-GB", "en"),
        ("pt-BR", "pt-BR"),
        ("pt-PT", "pt-PT"),
        ("pt-AO", "pt-PT"),
        ("pt", "pt-BR"),
        ("pt_br", "pt-BR"),
        ("fr-FR", "fr"),
        ("fr-CA", "fr"),
        ("FR", "fr"),
        ("de-DE", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_teams_locales_pick_a_catalog(teams_locale: str | None, catalog: str) -> None:
    assert resolve_locale(teams_locale) == catalog
    assert Translator.for_teams(teams_locale).locale == catalog


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", "$1,234.50"),
        ("pt-BR", f"US${NBSP}1.234,50"),
        ("fr", f"1{NNBSP}234,50{NBSP}$US"),
    ],
)
def test_dollars(locale: str, expected: str) -> None:
    assert Translator(locale).format_amount(Decimal("1234.5"), "USD") == expected


def test_european_portuguese_writes_euros_after_the_figure() -> None:
    pt = Translator.for_teams("pt-PT")
    assert pt.format_amount(Decimal("1234.5"), "EUR") == f"1{NBSP}234,50{NBSP}€"
    assert pt.format_date(date(2026, 1, 5)) == "05/01/2026"
    assert pt.parse_amount("1 234,50 €") == Decimal("1234.50")
    assert pt.plural("pipeline.leads", 0) == "0 leads"


def test_each_languages_own_currency() -> None:
    assert Translator("pt-BR").format_amount(Decimal("1234.50"), "BRL") == f"R${NBSP}1.234,50"
    fr = Translator("fr").format_amount(Decimal("1234.50"), "EUR")
    assert fr == f"1{NNBSP}234,50{NBSP}€"
    # The same figure with ordinary spaces, as it reads on screen.
    assert fr.replace(NNBSP, " ").replace(NBSP, " ") == "1 234,50 €"


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        ("0", "USD", "en", "$0.00"),
        ("999", "EUR", "en", "€999.00"),
        ("1234567.891", "USD", "en", "$1,234,567.89"),
        ("1000000", "JPY", "en", "¥1,000,000"),
        ("12.5", "CHF", "en", f"CHF{NBSP}12.50"),
        ("12.5", "CHF", "fr", f"12,50{NBSP}CHF"),
        ("-5", "BRL", "pt-BR", f"-R${NBSP}5,00"),
        ("100", "usd", "en", "$100.00"),
    ],
)
def test_amount_edge_cases(amount: str, currency: str, locale: str, expected: str) -> None:
    assert Translator(locale).format_amount(Decimal(amount), currency) == expected


@pytest.mark.parametrize(
    ("locale", "expected"), [("en", "Jan 5, 2026"), ("pt-BR", "05/01/2026"), ("fr", "05/01/2026")]
)
def test_dates(locale: str, expected: str) -> None:
    assert Translator(locale).format_date(date(2026, 1, 5)) == expected


def test_datetimes_are_shown_in_the_users_time_zone() -> None:
    moment = datetime(2026, 1, 5, 14, 5, tzinfo=UTC)
    assert Translator("en").format_datetime(moment) == f"Jan 5, 2026, 2:05{NBSP}PM"
    paris = Translator("fr", ZoneInfo("Europe/Paris"))
    assert paris.format_datetime(moment) == "05/01/2026 15:05"
    sao_paulo = Translator.for_teams("pt-BR", ZoneInfo("America/Sao_Paulo"))
    assert sao_paulo.format_datetime(moment) == "05/01/2026 11:05"
    assert (
        Translator("en")
        .format_datetime(datetime(2026, 1, 5, 0, 1, tzinfo=UTC))
        .endswith(f"12:01{NBSP}AM")
    )


@pytest.mark.parametrize(
    ("text", "locale", "expected"),
    [
        ("1.234,50", "pt-BR", "1234.50"),
        ("R$ 1.234,50", "pt-BR", "1234.50"),
        ("1 234,50", "fr", "1234.50"),
        (f"1{NNBSP}234,50{NBSP}€", "fr", "1234.50"),
        ("1234,5", "fr", "1234.5"),
        ("1,234.50", "en", "1234.50"),
        ("$1,234.50", "en", "1234.50"),
        ("1234.50", "en", "1234.50"),
        ("1,234", "en", "1234"),
        ("1.234", "pt-BR", "1234"),
        ("1.234.567", "fr", "1234567"),
        ("12.5", "fr", "12.5"),  # not a thousands group: decimals
        ("1,234.50", "pt-BR", "1234.50"),  # pasted English figure: last mark is the decimal
        ("1.234,50", "en", "1234.50"),
        ("0,99", "pt-BR", "0.99"),
        ("  42  ", "en", "42"),
        ("-3", "en", "-3"),  # the domain refuses negatives, with its own message
    ],
)
def test_typed_amounts_are_read(text: str, locale: str, expected: str) -> None:
    assert parse_amount(text, locale) == Decimal(expected)
    assert Translator(locale).parse_amount(text) == Decimal(expected)


@pytest.mark.parametrize("text", ["", "   ", None])
def test_blank_amount_means_none(text: str | None) -> None:
    assert parse_amount(text, "fr") is None


@pytest.mark.parametrize("text", ["abc", "1.2.3,4,5", "1,2,3", ",5", "1-2", "€", "1.23.456"])
def test_garbage_is_refused_with_the_domains_code(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_amount(text, "en")
    assert refused.value.code == "input.invalid_amount"
    assert refused.value.params == {"field": "amount"}


def test_format_then_parse_round_trips() -> None:
    for locale in ("en", "pt-BR", "pt-PT", "fr"):
        t = Translator(locale)
        for value in ("0.01", "7", "1234.50", "987654321.99"):
            shown = t.format_amount(Decimal(value), "EUR")
            assert t.parse_amount(shown) == Decimal(value), (locale, shown)


def test_built_in_stages_are_translated_and_custom_ones_keep_their_name() -> None:
    pipeline = Pipeline.default(TENANT, STAMP)
    fr = Translator("fr")
    assert [fr.stage(stage) for stage in pipeline.stages] == [
        "Nouveau",
        "Qualifié",
        "Proposition",
        "Négociation",
    ]
    custom = Stage(id=StageId("s"), name="Demo booked", probability=30)
    assert fr.stage(custom) == "Demo booked"
    renamed = Stage(id=StageId("s"), name="Discovery", probability=10, key="new")
    assert fr.stage(renamed) == "Discovery"


def test_plural_rules() -> None:
    assert Translator("en").plural("pipeline.leads", 0) == "0 leads"
    assert Translator("en").plural("pipeline.leads", 1) == "1 lead"
    assert Translator("fr").plural("pipeline.leads", 0) == "0 lead"
    assert Translator("pt-BR").plural("pipeline.leads", 2) == "2 leads"
