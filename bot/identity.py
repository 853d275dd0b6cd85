"""Who is talking, from which tenant and conversation, read off a Teams activity.

Everything the domain needs from an activity is copied into plain values here, so nothing
downstream depends on botbuilder's models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botbuilder.schema import Activity

from domain.ids import TenantId, UserId

PERSONAL = "personal"
GROUP_CHAT = "groupChat"
CHANNEL = "channel"


@dataclass(frozen=True, slots=True, kw_only=True)
class Speaker:
    """The Teams user and tenant of a turn; ``None`` fields mean Teams did not say."""

    tenant_id: TenantId
    user_id: UserId
    teams_user_id: str
    name: str | None  # Teams sometimes leaves it out: then we keep the name we know
    locale: str
    conversation_id: str
    conversation_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationRef:
    """What a proactive message needs, as plain JSON-able values (never SDK objects)."""

    tenant_id: str
    service_url: str
    conversation_id: str
    conversation_type: str
    channel_id: str
    bot_id: str
    user_id: str | None
    aad_object_id: str | None
    team_id: str | None = None
    channel_thread_id: str | None = None


def _channel_data(activity: Activity) -> dict[str, Any]:
    data = activity.channel_data
    return data if isinstance(data, dict) else {}


def tenant_of(activity: Activity) -> str | None:
    data = _channel_data(activity)
    tenant = data.get("tenant")
    if isinstance(tenant, dict) and isinstance(tenant.get("id"), str) and tenant["id"]:
        return str(tenant["id"])
    conversation = activity.conversation
    tenant_id = getattr(conversation, "tenant_id", None) if conversation else None
    return tenant_id if isinstance(tenant_id, str) and tenant_id else None


def conversation_type_of(activity: Activity) -> str:
    conversation = activity.conversation
    kind = getattr(conversation, "conversation_type", None) if conversation else None
    if kind in {PERSONAL, GROUP_CHAT, CHANNEL}:
        return str(kind)
    return GROUP_CHAT if getattr(conversation, "is_group", False) else PERSONAL


def speaker_of(activity: Activity) -> Speaker | None:
    """The speaker, or ``None`` when the activity lacks a tenant or an Entra user id."""
    tenant_id = tenant_of(activity)
    sender = activity.from_property
    aad = getattr(sender, "aad_object_id", None) if sender else None
    if not tenant_id or not isinstance(aad, str) or not aad.strip() or len(aad) > 100:
        return None
    name = getattr(sender, "name", None)
    locale = activity.locale if isinstance(activity.locale, str) else "en-US"
    return Speaker(
        tenant_id=TenantId(tenant_id[:100]),
        user_id=UserId(aad.strip()),
        teams_user_id=str(getattr(sender, "id", "") or ""),
        name=name.strip()[:200] if isinstance(name, str) and name.strip() else None,
        locale=locale[:20],
        conversation_id=str(activity.conversation.id),
        conversation_type=conversation_type_of(activity),
    )


def reference_of(activity: Activity, speaker: Speaker) -> ConversationRef:
    data = _channel_data(activity)
    team = data.get("team") if isinstance(data.get("team"), dict) else {}
    channel = data.get("channel") if isinstance(data.get("channel"), dict) else {}
    recipient = activity.recipient
    return ConversationRef(
        tenant_id=speaker.tenant_id,
        service_url=str(activity.service_url),
        conversation_id=speaker.conversation_id,
        conversation_type=speaker.conversation_type,
        channel_id=str(activity.channel_id or "msteams"),
        bot_id=str(getattr(recipient, "id", "") or ""),
        user_id=speaker.teams_user_id or None,
        aad_object_id=speaker.user_id,
        team_id=str(team["id"]) if isinstance(team, dict) and team.get("id") else None,
        channel_thread_id=(
            str(channel["id"]) if isinstance(channel, dict) and channel.get("id") else None
        ),
    )
