"""Conversation references, stored as our own plain columns so no botbuilder type leaks in.

Only references taken from authenticated inbound activities should be saved here: the bot
sends its token to whatever ``service_url`` it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, Row, Table, select, update
from sqlalchemy.orm import Session, sessionmaker

from storage.dialects import upsert_insert
from storage.errors import translated
from storage.rows import ConversationReferenceRow


class ConversationType(StrEnum):
    PERSONAL = "personal"
    GROUP_CHAT = "groupChat"
    CHANNEL = "channel"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationRef:
    """Everything ``continue_conversation`` needs, as JSON-friendly values."""

    conversation_id: str
    conversation_type: ConversationType
    service_url: str
    channel_id: str
    bot_id: str
    user_id: str | None = None
    aad_object_id: str | None = None
    team_id: str | None = None
    teams_channel_id: str | None = None
    active: bool = True
    updated_at: datetime | None = None


# Reads select the table's columns: Core rows carry the attributes ``_from_row`` reads,
# without building ORM objects.
_REFS = cast(Table, ConversationReferenceRow.__table__)

_FIELDS = (
    "conversation_type",
    "service_url",
    "channel_id",
    "bot_id",
    "user_id",
    "aad_object_id",
    "team_id",
    "teams_channel_id",
)


def _from_row(row: ConversationReferenceRow | Row[Any]) -> ConversationRef:
    """From a Core row of the table (typed with the row class, so mypy checks the names)."""
    return ConversationRef(
        conversation_id=row.conversation_id,
        conversation_type=ConversationType(row.conversation_type),
        service_url=row.service_url,
        channel_id=row.channel_id,
        bot_id=row.bot_id,
        user_id=row.user_id,
        aad_object_id=row.aad_object_id,
        team_id=row.team_id,
        teams_channel_id=row.teams_channel_id,
        active=row.active,
        updated_at=row.updated_at,
    )


class ConversationReferences:
    """The references of one tenant."""

    def __init__(
        self, sessions: sessionmaker[Session], tenant_id: str, clock: Callable[[], datetime]
    ) -> None:
        self._sessions = sessions
        self._tenant_id = tenant_id
        self._clock = clock

    def upsert(self, ref: ConversationRef) -> ConversationRef:
        """Save the latest reference; hearing from a conversation makes it active again."""
        now = self._clock()
        values: dict[str, Any] = {name: getattr(ref, name) for name in _FIELDS}
        values["conversation_type"] = ref.conversation_type.value
        values.update(active=True, updated_at=now)
        with translated("conversation"), self._sessions() as session, session.begin():
            statement = upsert_insert(session, ConversationReferenceRow).values(
                tenant_id=self._tenant_id, conversation_id=ref.conversation_id, **values
            )
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=["tenant_id", "conversation_id"], set_=values
                )
            )
        return replace(ref, active=True, updated_at=now)

    def _first(self, statement: Any) -> ConversationRef | None:
        with translated(), self._sessions() as session:
            row = session.execute(statement.limit(1)).first()
            return _from_row(row) if row is not None else None

    def get(self, conversation_id: str) -> ConversationRef | None:
        return self._first(
            select(_REFS).where(
                _REFS.c.tenant_id == self._tenant_id,
                _REFS.c.conversation_id == conversation_id,
            )
        )

    def personal_for_user(self, aad_object_id: str) -> ConversationRef | None:
        """The user's active 1:1 chat with the bot, the most recently heard from."""
        return self._first(
            select(_REFS)
            .where(
                _REFS.c.tenant_id == self._tenant_id,
                _REFS.c.aad_object_id == aad_object_id,
                _REFS.c.conversation_type == ConversationType.PERSONAL.value,
                _REFS.c.active.is_(True),
            )
            .order_by(_REFS.c.updated_at.desc())
        )

    def seen_anywhere(self, aad_object_id: str) -> ConversationRef | None:
        """The latest conversation where this user spoke to the bot (any kind): its
        ``user_id`` (29:...) and service URL are what opening a 1:1 chat needs."""
        return self._first(
            select(_REFS)
            .where(
                _REFS.c.tenant_id == self._tenant_id,
                _REFS.c.aad_object_id == aad_object_id,
                _REFS.c.user_id.is_not(None),
            )
            .order_by(_REFS.c.updated_at.desc())
        )

    def any_service_url(self) -> str | None:
        """The Bot Connector URL this tenant was last heard through: opening a chat with someone
        the bot never heard from needs one, and Teams routes each tenant to its region."""
        with translated(), self._sessions() as session:
            return session.scalars(
                select(ConversationReferenceRow.service_url)
                .where(ConversationReferenceRow.tenant_id == self._tenant_id)
                .order_by(ConversationReferenceRow.updated_at.desc())
                .limit(1)
            ).first()

    def mark_inactive(self, conversation_id: str) -> bool:
        """After a 403 ``MessageWritesBlocked``: stop writing there until we hear back."""
        statement = (
            update(ConversationReferenceRow)
            .where(
                ConversationReferenceRow.tenant_id == self._tenant_id,
                ConversationReferenceRow.conversation_id == conversation_id,
            )
            .values(active=False, updated_at=self._clock())
            .execution_options(synchronize_session=False)
        )
        with translated(), self._sessions() as session, session.begin():
            return cast(CursorResult[Any], session.execute(statement)).rowcount == 1
