"""The port for putting the bot in front of a colleague who never opened it.

A bot may only write to people it is installed for; some tenants let it install itself (Microsoft
Graph). The domain names the outcomes so delivery can decide between sending, waiting and retrying
without knowing how the installation is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class InstallOutcome(StrEnum):
    INSTALLED = "installed"
    ALREADY_INSTALLED = "already_installed"
    # Refused in a way that retrying soon won't fix: no permission or consent, app blocked by
    # policy, unknown user or catalog app, feature not configured.
    NOT_PERMITTED = "not_permitted"
    # Throttled, timed out, a server or network fault: worth another try later.
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class InstallResult:
    outcome: InstallOutcome
    # The 1:1 chat between the bot and the person, when the installer could learn it: a fallback
    # for when the chat can't be opened the usual way.
    chat_id: str | None = None
    # Why, for the delivery log (never a token or a secret).
    detail: str = ""
    retry_after: float | None = None

    @property
    def reachable(self) -> bool:
        """The bot is installed for the person now, so a 1:1 chat can be opened."""
        return self.outcome in {InstallOutcome.INSTALLED, InstallOutcome.ALREADY_INSTALLED}


class AppInstaller(Protocol):
    def install_for(self, tenant_id: str, aad_object_id: str) -> InstallResult:
        """Install the bot for one person (synchronous and possibly slow: call it off the
        event loop). Never raises for an expected refusal or fault: the outcome says which."""
        ...
