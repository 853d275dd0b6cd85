"""Input limits and normalisation, so every entry point refuses bad text the same way."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from domain.errors import InvalidInput

NAME_MAX = 200
TITLE_MAX = 200
SHORT_MAX = 100
REASON_MAX = 500
TEXT_MAX = 4000
TAG_MAX = 50
TAGS_MAX = 30
URL_MAX = 2000
EMAIL_MAX = 254
PHONE_MAX = 40
CURRENCY_LEN = 3
AMOUNT_MAX = Decimal("1e15")

_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{3,}$")
_URL = re.compile(r"^https?://[^\s]+$", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def _strip_controls(value: str, *, keep_newlines: bool) -> str:
    allowed = {"\n", "\t"} if keep_newlines else set()
    return "".join(
        ch for ch in value if ch in allowed or unicodedata.category(ch) not in {"Cc", "Cs"}
    )


def clean_line(value: object, field: str, max_len: int, *, required: bool = True) -> str:
    """A single-line text: stripped, inner whitespace collapsed, control characters removed."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput("input.invalid", field=field)
    text = _SPACES.sub(" ", _strip_controls(value, keep_newlines=False)).strip()
    if required and not text:
        raise InvalidInput("input.required", field=field)
    if len(text) > max_len:
        raise InvalidInput("input.too_long", field=field, max=max_len)
    return text


def clean_text(value: object, field: str, max_len: int, *, required: bool = True) -> str:
    """A multi-line text (description, comment): newlines kept, other controls removed."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput("input.invalid", field=field)
    text = _strip_controls(value, keep_newlines=True).strip()
    if required and not text:
        raise InvalidInput("input.required", field=field)
    if len(text) > max_len:
        raise InvalidInput("input.too_long", field=field, max=max_len)
    return text


def clean_optional(value: object, field: str, max_len: int) -> str | None:
    text = clean_line(value, field, max_len, required=False)
    return text or None


def clean_email(value: object, field: str = "email") -> str | None:
    text = clean_optional(value, field, EMAIL_MAX)
    if text is None:
        return None
    if not _EMAIL.match(text):
        raise InvalidInput("input.invalid_email", field=field)
    return text


def clean_phone(value: object, field: str = "phone") -> str | None:
    text = clean_optional(value, field, PHONE_MAX)
    if text is None:
        return None
    if not _PHONE.match(text):
        raise InvalidInput("input.invalid_phone", field=field)
    return text


def clean_url(value: object, field: str = "url", *, https_only: bool = False) -> str:
    """A web link; ``https_only`` for links people open from Teams (documents)."""
    text = clean_line(value, field, URL_MAX)
    if not _URL.match(text) or (https_only and not text.casefold().startswith("https://")):
        raise InvalidInput("input.invalid_url", field=field)
    return text


def clean_tag(value: object) -> str:
    """Tags are compared as typed by people: trimmed, single-spaced, lower-cased."""
    return clean_line(value, "tag", TAG_MAX).casefold()


def clean_tags(values: Iterable[object]) -> frozenset[str]:
    if isinstance(values, str):
        # A lone string is one tag, not a tag per character.
        values = [values]
    tags = frozenset(clean_tag(value) for value in values)
    if len(tags) > TAGS_MAX:
        raise InvalidInput("input.too_many", field="tags", max=TAGS_MAX)
    return tags


def clean_amount(value: object, field: str = "amount") -> Decimal | None:
    """A non-negative amount with at most two decimals (cents); ``None`` clears it."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidInput("input.invalid_amount", field=field)
    if not isinstance(value, str | int | Decimal):
        raise InvalidInput("input.invalid_amount", field=field)
    try:
        # Locale-aware parsing ("1.234,50") is the bot's job; the domain takes plain numbers.
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, ValueError):
        raise InvalidInput("input.invalid_amount", field=field) from None
    if not amount.is_finite() or amount < 0 or amount >= AMOUNT_MAX:
        raise InvalidInput("input.invalid_amount", field=field)
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput("input.invalid_amount", field=field)
    return amount.quantize(Decimal("0.01"))


def clean_currency(value: object, field: str = "currency") -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value.strip()):
        raise InvalidInput("input.invalid_currency", field=field)
    return value.strip().upper()


def clean_date(value: object, field: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        # A datetime is a date too; keep only the day, so dates compare and store as dates.
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidInput("input.invalid_date", field=field)
