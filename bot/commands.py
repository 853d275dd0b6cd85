"""Typed chat commands, in any of the three languages, parsed into a name and arguments.

People mix languages ("help" in a Portuguese tenant), so every alias of every language is
accepted whatever the activity's locale; the locale only decides the language of the answer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

MAX_COMMAND_CHARS = 1000

HELP = "help"
NEW_LEAD = "new_lead"
MY_LEADS = "my_leads"
PIPELINE = "pipeline"
LEAD = "lead"
FIND = "find"
ACCOUNT = "account"
CONTACT = "contact"
FOLLOW = "follow"
UNFOLLOW = "unfollow"
NOTIFICATIONS = "notifications"
SUBSCRIBE = "subscribe"
UNSUBSCRIBE = "unsubscribe"

# Commands whose argument is required; the others take none.
WITH_ARGUMENT = frozenset({NEW_LEAD, LEAD, FIND, ACCOUNT, CONTACT, FOLLOW, UNFOLLOW})
# Commands whose argument may be left out.
OPTIONAL_ARGUMENT = frozenset({SUBSCRIBE})


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    argument: str = ""
    account: str = ""


def fold(text: str) -> str:
    """Case- and accent-insensitive form, so "Nouveau lead" matches "nouveau lead"."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


class CommandParser:
    def __init__(
        self, aliases: Mapping[str, Iterable[str]], account_separators: Sequence[str]
    ) -> None:
        pairs = [(fold(alias), name) for name, words in aliases.items() for alias in words]
        # Longest first, so "new lead" wins over "lead" and "unfollow" over "follow".
        self._aliases = sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)
        self._separators = [fold(s) for s in account_separators if s.strip()]

    def parse(self, text: str) -> Command | None:
        """The command in ``text``, or ``None`` when it is not one (the bot then shows help)."""
        cleaned = " ".join(text.split())[:MAX_COMMAND_CHARS]
        folded = fold(cleaned)
        for alias, name in self._aliases:
            if folded == alias or folded.startswith(alias + " "):
                rest = self._rest(cleaned, alias)
                if name in OPTIONAL_ARGUMENT:
                    return Command(name, rest)
                if name not in WITH_ARGUMENT:
                    return Command(name) if not rest else None
                if name == NEW_LEAD:
                    return self._new_lead(rest)
                return Command(name, rest)
        return None

    @staticmethod
    def _rest(cleaned: str, alias: str) -> str:
        """The text after the alias, in its original case and accents."""
        words = len(alias.split())
        return " ".join(cleaned.split()[words:]).strip()

    def _new_lead(self, rest: str) -> Command:
        """``new lead Big deal for Acme``: the last separator splits title from account."""
        folded_words = [fold(word) for word in rest.split()]
        words = rest.split()
        for index in range(len(words) - 2, 0, -1):
            if folded_words[index] in self._separators:
                return Command(NEW_LEAD, " ".join(words[:index]), " ".join(words[index + 1 :]))
        return Command(NEW_LEAD, rest)


_LEAD_NUMBER = re.compile(r"^#?(\d{1,9})$")


def lead_number(text: str) -> int | None:
    """``42`` or ``#42`` refer to lead number 42."""
    match = _LEAD_NUMBER.match(text.strip())
    return int(match.group(1)) if match else None
