"""Input limits and normalisation: every entry point refuses bad text the same way."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from domain import validation
from domain.errors import InvalidInput


def test_line_is_stripped_collapsed_and_freed_of_controls() -> None:
    assert validation.clean_line("  Acme\t\n  Ltd\x00\x07 ", "name", 50) == "Acme Ltd"


def test_line_length_is_counted_after_cleaning() -> None:
    assert validation.clean_line("  " + "a" * 10 + "  ", "name", 10) == "a" * 10
    with pytest.raises(InvalidInput) as refused:
        validation.clean_line("a" * 11, "name", 10)
    assert (refused.value.code, refused.value.params) == (
        "input.too_long",
        {"field": "name", "max": 10},
    )


@pytest.mark.parametrize("value", [None, "", "   ", "\x00\x01"])
def test_required_line_refuses_blank(value: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        validation.clean_line(value, "title", 10)
    assert (refused.value.code, refused.value.params) == ("input.required", {"field": "title"})


@pytest.mark.parametrize("value", [3, 1.5, b"bytes", ["x"]])
def test_line_refuses_what_is_not_text(value: object) -> None:
    with pytest.raises(InvalidInput, match=r"input\.invalid"):
        validation.clean_line(value, "title", 10)


def test_optional_line_turns_blank_into_none() -> None:
    assert validation.clean_optional("  ", "job_title", 10) is None
    assert validation.clean_optional(" CFO ", "job_title", 10) == "CFO"


def test_text_keeps_newlines_and_tabs_but_drops_other_controls() -> None:
    assert validation.clean_text(" one\n\ttwo\x1b ", "text", 50) == "one\n\ttwo"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" ana@acme.example ", "ana@acme.example"),
        ("first.last+tag@sub.acme.example", "first.last+tag@sub.acme.example"),
        ("", None),
        (None, None),
    ],
)
def test_email_is_cleaned(raw: object, expected: str | None) -> None:
    assert validation.clean_email(raw) == expected


@pytest.mark.parametrize(
    "raw", ["ana", "ana@", "@acme.example", "ana@acme", "a b@acme.example", "<a@b.c>", "a@b@c.d"]
)
def test_malformed_email_is_refused(raw: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validation.clean_email(raw)
    assert refused.value.code == "input.invalid_email"


@pytest.mark.parametrize("raw", ["+55 (11) 99999-0000", "01.23.45.67.89", "555"])
def test_phone_numbers_in_common_formats_are_accepted(raw: str) -> None:
    assert validation.clean_phone(raw) == raw


@pytest.mark.parametrize("raw", ["call me", "12", "+1 555 CALL", "1" * 41])
def test_bad_phone_is_refused(raw: str) -> None:
    with pytest.raises(InvalidInput):
        validation.clean_phone(raw)


def test_url_accepts_http_and_https_unless_https_is_required() -> None:
    assert validation.clean_url("http://acme.example") == "http://acme.example"
    assert validation.clean_url("HTTPS://acme.example/x", https_only=True)
    with pytest.raises(InvalidInput, match=r"input\.invalid_url"):
        validation.clean_url("http://acme.example", https_only=True)
    with pytest.raises(InvalidInput, match=r"input\.invalid_url"):
        validation.clean_url("javascript:alert(1)")


def test_tags_are_casefolded_and_deduplicated() -> None:
    assert validation.clean_tags(["VIP", " vip ", "Big  Deal"]) == {"vip", "big deal"}


def test_a_lone_string_is_one_tag_not_one_per_letter() -> None:
    assert validation.clean_tags("VIP") == {"vip"}


def test_too_many_tags_are_refused() -> None:
    assert len(validation.clean_tags(f"t{i}" for i in range(validation.TAGS_MAX))) == 30
    with pytest.raises(InvalidInput, match=r"input\.too_many"):
        validation.clean_tags(f"t{i}" for i in range(validation.TAGS_MAX + 1))


def test_overlong_tag_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"input\.too_long"):
        validation.clean_tag("x" * (validation.TAG_MAX + 1))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1200", Decimal("1200.00")),
        (" 12.5 ", Decimal("12.50")),
        (7, Decimal("7.00")),
        (Decimal("0.01"), Decimal("0.01")),
        (None, None),
        ("", None),
    ],
)
def test_amount_is_parsed_to_cents(raw: object, expected: Decimal | None) -> None:
    assert validation.clean_amount(raw) == expected


@pytest.mark.parametrize(
    "raw", ["-0.01", "1e15", "0.001", "abc", "NaN", "Infinity", 1.5, True, [], "1,5"]
)
def test_bad_amount_is_refused(raw: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        validation.clean_amount(raw)
    assert (refused.value.code, refused.value.params) == (
        "input.invalid_amount",
        {"field": "amount"},
    )


@pytest.mark.parametrize(("raw", "expected"), [("eur", "EUR"), (" brl ", "BRL")])
def test_currency_is_three_letters(raw: str, expected: str) -> None:
    assert validation.clean_currency(raw) == expected


@pytest.mark.parametrize("raw", ["EURO", "E1R", "", None, "€"])
def test_bad_currency_is_refused(raw: object) -> None:
    with pytest.raises(InvalidInput, match=r"input\.invalid_currency"):
        validation.clean_currency(raw)


def test_date_accepts_iso_text_and_dates() -> None:
    assert validation.clean_date("2026-03-31", "close_date") == date(2026, 3, 31)
    assert validation.clean_date(date(2026, 3, 31), "close_date") == date(2026, 3, 31)
    day = validation.clean_date(datetime(2026, 3, 31, 18, 30, tzinfo=UTC), "close_date")
    assert (type(day), day) == (date, date(2026, 3, 31))
    assert validation.clean_date("", "close_date") is None


@pytest.mark.parametrize("raw", ["31/03/2026", "2026-02-30", "tomorrow", 20260331])
def test_bad_date_is_refused(raw: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        validation.clean_date(raw, "close_date")
    assert refused.value.params == {"field": "close_date"}
