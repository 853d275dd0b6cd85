"""The user's language: message catalogs, labels for domain values, dates and amounts.

Catalogs are JSON files shipped inside the package (``cards/locales``), read once per process.
Formats are written by hand for our three languages rather than pulled from Babel, to keep
``cards`` free of third-party packages; they follow CLDR's choices for those languages
(no-break spaces around French groups and currency symbols, so an amount never wraps).
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Final

from domain.accounts import Classification
from domain.errors import InvalidInput
from domain.settings import Stage
from domain.statuses import CustomerStatus, LeadStatus, ProspectStatus

EN: Final = "en"
PT_BR: Final = "pt-BR"
PT_PT: Final = "pt-PT"
FR: Final = "fr"
# Complete catalogs; a variant holds only the words that differ from its base (the glossary's
# European Portuguese forms: Contacto, utilizador, capa de cliente...).
LOCALES: Final = (EN, PT_BR, FR)
VARIANTS: Final[Mapping[str, str]] = {PT_PT: PT_BR}
ALL_LOCALES: Final = (*LOCALES, *VARIANTS)
DEFAULT_LOCALE: Final = EN
# Portuguese-speaking regions that write European Portuguese.
_EUROPEAN_PORTUGUESE: Final = frozenset({"pt", "ao", "mz", "cv", "gw", "st", "tl", "mo"})

# The commands the bot understands; each catalog lists the words that name them.
COMMANDS: Final = (
    "help",
    "new_lead",
    "my_leads",
    "pipeline",
    "lead",
    "find",
    "account",
    "contact",
    "follow",
    "unfollow",
    "notifications",
    "subscribe",
    "unsubscribe",
)
# Not a command: the word between a new lead's title and its account ("new lead X for Acme").
FOR_KEYWORD: Final = "for"

NBSP: Final = "\u00a0"
NNBSP: Final = "\u202f"  # narrow no-break space: the French thousands separator


@dataclass(frozen=True, slots=True, kw_only=True)
class Catalog:
    locale: str
    messages: Mapping[str, str]
    commands: Mapping[str, tuple[str, ...]]


def resolve_locale(tag: str | None) -> str:
    """Map a Teams locale ("pt-PT", "fr-CA", "en-GB", "pt_br") to one of our catalogs.

    Portugal and the African and Asian Portuguese-speaking countries read European
    Portuguese, Brazil and a bare "pt" Brazilian; any French reads French, anything else
    English.
    """
    parts = (tag or "").replace("_", "-").strip().casefold().split("-")
    language, region = parts[0], parts[1] if len(parts) > 1 else ""
    if language == "pt":
        return PT_PT if region in _EUROPEAN_PORTUGUESE else PT_BR
    if language == "fr":
        return FR
    return EN


@cache
def load_catalog(locale: str) -> Catalog:
    """Read once: catalogs are immutable for the life of the process."""
    if locale not in ALL_LOCALES:
        raise ValueError(f"no catalog for locale {locale!r}")
    text = resources.files("cards.locales").joinpath(f"{locale}.json").read_text("utf-8")
    raw = json.loads(text)
    messages = {str(key): str(value) for key, value in raw["messages"].items()}
    commands = {
        str(key): tuple(str(word).casefold() for word in words)
        for key, words in raw.get("commands", {}).items()
    }
    if locale in VARIANTS:
        base = load_catalog(VARIANTS[locale])
        messages = {**base.messages, **messages}
        commands = {**base.commands, **commands}
    return Catalog(locale=locale, messages=messages, commands=commands)


class _KeepMissing(dict[str, object]):
    """Leaves an unknown ``{placeholder}`` visible instead of failing a whole card."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


_FORMATTER = string.Formatter()


def placeholders(template: str) -> frozenset[str]:
    return frozenset(name for _text, name, _spec, _conv in _FORMATTER.parse(template) if name)


# --- numbers, amounts, dates ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Formats:
    decimal: str
    group: str
    symbols: Mapping[str, str]
    symbol_first: bool
    symbol_space: str
    short_months: tuple[str, ...] = ()


_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_FORMATS: Final[Mapping[str, _Formats]] = {
    EN: _Formats(
        decimal=".",
        group=",",
        symbols={"USD": "$", "EUR": "€", "GBP": "£", "BRL": "R$", "JPY": "¥", "CAD": "CA$"},
        symbol_first=True,
        symbol_space="",
        short_months=_MONTHS_EN,
    ),
    PT_BR: _Formats(
        decimal=",",
        group=".",
        symbols={"BRL": "R$", "USD": "US$", "EUR": "€", "GBP": "£", "JPY": "JP¥", "CAD": "CA$"},
        symbol_first=True,
        symbol_space=NBSP,
    ),
    PT_PT: _Formats(
        decimal=",",
        group=NBSP,
        symbols={"EUR": "€", "USD": "US$", "BRL": "R$", "GBP": "£", "JPY": "JP¥", "CAD": "CA$"},
        symbol_first=False,
        symbol_space=NBSP,
    ),
    FR: _Formats(
        decimal=",",
        group=NNBSP,
        symbols={"EUR": "€", "USD": "$US", "BRL": "R$", "GBP": "£GB", "JPY": "JPY", "CAD": "$CA"},
        symbol_first=False,
        symbol_space=NBSP,
    ),
}

# ISO 4217 currencies without minor units that our customers are likely to quote.
_ZERO_DECIMALS: Final = frozenset({"JPY", "KRW", "CLP", "ISK", "VND", "XOF", "XAF"})


def _group(digits: str, separator: str) -> str:
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return separator.join(parts)


def format_number(value: Decimal, locale: str, decimals: int = 2) -> str:
    formats = _FORMATS[locale]
    quantum = Decimal(1).scaleb(-decimals)
    text = f"{abs(value).quantize(quantum):f}"
    whole, _, fraction = text.partition(".")
    sign = "-" if value < 0 and value.quantize(quantum) != 0 else ""
    body = _group(whole, formats.group)
    return f"{sign}{body}{formats.decimal}{fraction}" if fraction else f"{sign}{body}"


def format_amount(amount: Decimal, currency: str, locale: str) -> str:
    formats = _FORMATS[locale]
    code = currency.upper()
    number = format_number(abs(amount), locale, 0 if code in _ZERO_DECIMALS else 2)
    sign = "-" if amount < 0 else ""
    symbol = formats.symbols.get(code)
    if symbol is None:
        # An unknown code reads best spelled out, with a space, in every language.
        return (
            f"{sign}{code}{NBSP}{number}" if formats.symbol_first else f"{sign}{number}{NBSP}{code}"
        )
    if formats.symbol_first:
        return f"{sign}{symbol}{formats.symbol_space}{number}"
    return f"{sign}{number}{formats.symbol_space}{symbol}"


def format_date(value: date, locale: str) -> str:
    if locale == EN:
        return f"{_MONTHS_EN[value.month - 1]} {value.day}, {value.year}"
    return f"{value.day:02d}/{value.month:02d}/{value.year}"


def format_datetime(value: datetime, locale: str, tz: tzinfo = UTC) -> str:
    """Domain datetimes are UTC; people read them in their own time zone."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    local = aware.astimezone(tz)
    day = format_date(local.date(), locale)
    if locale == EN:
        hour = local.hour % 12 or 12
        meridiem = "AM" if local.hour < 12 else "PM"
        return f"{day}, {hour}:{local.minute:02d}{NBSP}{meridiem}"
    return f"{day} {local.hour:02d}:{local.minute:02d}"


_SPACES = re.compile("[\\s\u00a0\u202f\u2009'\u2019]+")
_NOT_NUMBER = re.compile(r"[^0-9.,+-]")
_GROUPED = re.compile(r"^\d{1,3}(?:[.,]\d{3})+$")


def _split_number(compact: str, decimal_mark: str) -> tuple[str, str] | None:
    """Whole and fractional digits of an unsigned number with separators, or None."""
    last_dot, last_comma = compact.rfind("."), compact.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        mark = "." if last_dot > last_comma else ","
        whole, _, fraction = compact.rpartition(mark)
        group = "," if mark == "." else "."
        if mark in whole or group not in whole or not _GROUPED.match(whole):
            return None
        return whole.replace(group, ""), fraction
    if last_dot < 0 and last_comma < 0:
        return compact, ""
    separator = "." if last_dot >= 0 else ","
    if separator == decimal_mark and compact.count(separator) == 1:
        whole, _, fraction = compact.partition(separator)
        return whole, fraction
    if _GROUPED.match(compact):
        return compact.replace(separator, ""), ""
    if compact.count(separator) == 1:
        # "12.5" typed in French: not a thousands group, so it can only be decimals.
        whole, _, fraction = compact.partition(separator)
        return whole, fraction
    return None


def parse_amount(text: str | None, locale: str, field: str = "amount") -> Decimal | None:
    """Read an amount as people type it: "1.234,50" in Portuguese or French, "1,234.50" in
    English, with or without a currency symbol or code. Blank means "no amount".

    When both separators appear, the last one is the decimal mark whatever the language
    (someone pasting an English figure into a French chat means what they pasted). The
    domain still checks the range and the cents; this only turns text into a number.
    """
    if text is None or not text.strip():
        return None
    compact = _NOT_NUMBER.sub("", _SPACES.sub("", text.strip()))
    sign = ""
    if compact[:1] in {"+", "-"}:
        sign, compact = compact[0].replace("+", ""), compact[1:]
    parts = None
    if compact and compact[0].isdigit() and "+" not in compact and "-" not in compact:
        parts = _split_number(compact, _FORMATS[resolve_locale(locale)].decimal)
    if parts is None or not parts[0].isdigit() or not (parts[1].isdigit() or not parts[1]):
        raise InvalidInput("input.invalid_amount", field=field)
    whole, fraction = parts
    return Decimal(f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}")


# --- the translator -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Translator:
    """Everything a card needs to speak one user's language, in one value to pass around."""

    locale: str = DEFAULT_LOCALE
    tz: tzinfo = field(default=UTC)

    def __post_init__(self) -> None:
        if self.locale not in ALL_LOCALES:
            raise ValueError(f"no catalog for {self.locale!r}: use Translator.for_teams(tag)")

    @classmethod
    def for_teams(cls, teams_locale: str | None, tz: tzinfo | None = None) -> Translator:
        return cls(resolve_locale(teams_locale), tz or UTC)

    @property
    def catalog(self) -> Catalog:
        return load_catalog(self.locale)

    def has(self, key: str) -> bool:
        return key in self.catalog.messages

    def t(self, key: str, **params: object) -> str:
        """The message in this language, else in English, else the key itself (never raises:
        a missing word must not cost the user the whole card)."""
        template = self.catalog.messages.get(key)
        if template is None:
            template = load_catalog(DEFAULT_LOCALE).messages.get(key, key)
        if not params and "{" not in template and "}" not in template:
            return template
        # str.format_map: string.Formatter's vformat does the same in Python, several times
        # slower, and a card formats dozens of messages.
        return template.format_map(_KeepMissing(params))

    def label(self, key: str) -> str:
        """A field name as the prefix of its value: French puts a no-break space before
        the colon ("Compte : "), so the catalog decides the punctuation."""
        return self.t("format.label", label=self.t(key))

    def plural(self, key: str, count: int, **params: object) -> str:
        """``key.one`` or ``key.other``: French and Brazilian Portuguese treat 0 as singular,
        English and European Portuguese do not (CLDR's rules)."""
        one = count == 1 or (self.locale in {FR, PT_BR} and count == 0)  # pt-PT: 0 is plural
        return self.t(f"{key}.{'one' if one else 'other'}", count=count, **params)

    # --- formats --------------------------------------------------------------------------

    def format_date(self, value: date) -> str:
        return format_date(value, self.locale)

    def format_datetime(self, value: datetime) -> str:
        return format_datetime(value, self.locale, self.tz)

    def format_amount(self, amount: Decimal, currency: str) -> str:
        return format_amount(amount, currency, self.locale)

    def format_number(self, value: Decimal, decimals: int = 2) -> str:
        return format_number(value, self.locale, decimals)

    def parse_amount(self, text: str | None, field: str = "amount") -> Decimal | None:
        return parse_amount(text, self.locale, field)

    # --- domain values --------------------------------------------------------------------

    def stage(self, stage: Stage) -> str:
        """Built-in stages are translated; a tenant's own stages keep the name they typed,
        unless an admin renamed a built-in one (then their name wins)."""
        if stage.key and self.has(f"stage.{stage.key}"):
            english = load_catalog(EN).messages.get(f"stage.{stage.key}")
            if stage.name == english:
                return self.t(f"stage.{stage.key}")
        return stage.name

    def lead_status(self, status: LeadStatus) -> str:
        return self.t(f"status.{status.value}")

    def prospect(self, status: ProspectStatus) -> str:
        return self.t(f"prospect.{status.value}")

    def customer(self, status: CustomerStatus) -> str:
        return self.t(f"customer.{status.value}")

    def classification(self, value: Classification, other_label: str) -> str:
        """ "Other" is whatever the tenant calls it; the rest are the glossary's words."""
        if value is Classification.OTHER:
            return other_label
        return self.t(f"classification.{value.value}")

    # --- commands -------------------------------------------------------------------------

    @property
    def commands(self) -> Mapping[str, tuple[str, ...]]:
        """Words for each command: this language's first, then the English ones, so someone
        who types "new lead" in a Portuguese Teams is still understood."""
        own, english = self.catalog.commands, load_catalog(EN).commands
        return {
            command: tuple(dict.fromkeys((*own.get(command, ()), *english.get(command, ()))))
            for command in (*COMMANDS, FOR_KEYWORD)
        }

    def command_word(self, command: str) -> str:
        """The word the help card shows for a command."""
        return self.commands[command][0]

    def command_table(self) -> tuple[tuple[str, str], ...]:
        """(word, command) pairs, longest word first, so a parser that takes the first prefix
        match reads "unfollow" before "follow" and "new lead" before "lead"."""
        pairs = {
            (word, command)
            for command, words in self.commands.items()
            if command in COMMANDS
            for word in words
        }
        return tuple(sorted(pairs, key=lambda pair: (-len(pair[0]), pair[0])))


def all_command_aliases() -> dict[str, tuple[str, ...]]:
    """Every language's words for each command: people mix languages ("help" in a Portuguese
    chat), so the parser accepts them all and the locale only picks the answer's language."""
    return {
        command: tuple(
            dict.fromkeys(
                word for locale in ALL_LOCALES for word in load_catalog(locale).commands[command]
            )
        )
        for command in COMMANDS
    }


def account_separators() -> tuple[str, ...]:
    """The words between a new lead's title and its account, in every language ("for",
    "para", "pour")."""
    return tuple(
        dict.fromkeys(
            word for locale in ALL_LOCALES for word in load_catalog(locale).commands[FOR_KEYWORD]
        )
    )


# --- domain errors --------------------------------------------------------------------------

_ERROR_CLASSES: Final = ("not_found", "access_denied", "conflict")
# Parameters whose values are themselves domain words, translated before they are shown.
_TRANSLATED_PARAMS: Final = {
    "field": "field",
    "kind": "kind",
    "status": "status",
    "prospect": "prospect",
}


def _shown_params(t: Translator, params: Mapping[str, object]) -> dict[str, object]:
    shown: dict[str, object] = {}
    for name, value in params.items():
        prefix = _TRANSLATED_PARAMS.get(name)
        if prefix and isinstance(value, str):
            key = f"{prefix}.{value}"
            if name == "field" and value.startswith("custom."):
                key = "field.custom"
            shown[name] = t.t(key) if t.has(key) else value
        elif isinstance(value, list | tuple | frozenset | set):
            shown[name] = ", ".join(str(item) for item in value)
        else:
            shown[name] = value
    return shown


def error_key(t: Translator, code: str, params: Mapping[str, object] | None = None) -> str:
    """The catalog key that speaks for ``code``: the most specific one the catalog has.

    ``<code>.<reason>`` first (one code, several reasons), then the code, then the generic
    message of its class (``<kind>.not_found`` -> ``error.not_found``, ``input.*`` ->
    ``error.input``), and finally the generic rule message, so any DomainError, even one
    added to the domain after this catalog was written, gets a sentence.
    """
    params = params or {}
    reason = params.get("reason")
    if isinstance(reason, str) and t.has(f"error.{code}.{reason}"):
        return f"error.{code}.{reason}"
    if t.has(f"error.{code}"):
        return f"error.{code}"
    suffix = code.rsplit(".", 1)[-1]
    if suffix in _ERROR_CLASSES:
        return f"error.{suffix}"
    if code.startswith("input."):
        return "error.input"
    return "error.rule"


def error_message(t: Translator, code: str, params: Mapping[str, object] | None = None) -> str:
    """A DomainError's ``code`` and ``params`` as a sentence in the user's language."""
    params = dict(params or {})
    if "kind" not in params and code.rsplit(".", 1)[-1] in _ERROR_CLASSES:
        params["kind"] = code.rsplit(".", 1)[0]
    return t.t(error_key(t, code, params), **_shown_params(t, params))
