"""Teams-shaped activities for tests: what the Teams channel really posts to a bot."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

_ids = itertools.count(1)

BOT_ID = "28:teamcrm-bot"


@dataclass(frozen=True)
class Person:
    aad_object_id: str
    name: str
    email: str

    @property
    def teams_id(self) -> str:
        return f"29:{self.aad_object_id}"


def _base(
    *,
    service_url: str,
    tenant_id: str,
    user: Person,
    conversation_id: str,
    conversation_type: str,
    locale: str,
) -> dict[str, Any]:
    conversation: dict[str, Any] = {
        "id": conversation_id,
        "conversationType": conversation_type,
        "tenantId": tenant_id,
    }
    if conversation_type != "personal":
        conversation["isGroup"] = True
    channel_data: dict[str, Any] = {"tenant": {"id": tenant_id}}
    if conversation_type == "channel":
        channel_data["team"] = {"id": "19:team@thread.skype"}
        channel_data["channel"] = {"id": conversation_id.split(";", maxsplit=1)[0]}
    return {
        "id": f"activity-{next(_ids)}",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "timestamp": "2026-11-23T10:00:00.000Z",
        "locale": locale,
        "from": {"id": user.teams_id, "name": user.name, "aadObjectId": user.aad_object_id},
        "recipient": {"id": BOT_ID, "name": "TeamCRM"},
        "conversation": conversation,
        "channelData": channel_data,
    }


def message(
    text: str,
    *,
    service_url: str,
    tenant_id: str,
    user: Person,
    conversation_id: str | None = None,
    conversation_type: str = "personal",
    locale: str = "en-US",
    mention_bot: bool = False,
) -> dict[str, Any]:
    activity = _base(
        service_url=service_url,
        tenant_id=tenant_id,
        user=user,
        conversation_id=conversation_id or f"a:personal-{user.aad_object_id}",
        conversation_type=conversation_type,
        locale=locale,
    )
    activity["type"] = "message"
    activity["textFormat"] = "plain"
    if mention_bot:
        activity["text"] = f"<at>TeamCRM</at> {text}"
        activity["entities"] = [
            {
                "type": "mention",
                "text": "<at>TeamCRM</at>",
                "mentioned": {"id": BOT_ID, "name": "TeamCRM"},
            }
        ]
    else:
        activity["text"] = text
    return activity


def card_action(
    verb: str,
    data: dict[str, Any],
    *,
    service_url: str,
    tenant_id: str,
    user: Person,
    conversation_id: str | None = None,
    conversation_type: str = "personal",
    locale: str = "en-US",
) -> dict[str, Any]:
    """An ``Action.Execute`` press: invoke ``adaptiveCard/action``."""
    activity = _base(
        service_url=service_url,
        tenant_id=tenant_id,
        user=user,
        conversation_id=conversation_id or f"a:personal-{user.aad_object_id}",
        conversation_type=conversation_type,
        locale=locale,
    )
    activity["type"] = "invoke"
    activity["name"] = "adaptiveCard/action"
    activity["value"] = {
        "action": {"type": "Action.Execute", "verb": verb, "data": data},
        "trigger": "manual",
    }
    return activity


def installed(
    *,
    service_url: str,
    tenant_id: str,
    user: Person,
    conversation_id: str | None = None,
    conversation_type: str = "personal",
    locale: str = "en-US",
) -> dict[str, Any]:
    """What Teams posts when the app is added: the bot itself among the members added."""
    activity = _base(
        service_url=service_url,
        tenant_id=tenant_id,
        user=user,
        conversation_id=conversation_id or f"a:personal-{user.aad_object_id}",
        conversation_type=conversation_type,
        locale=locale,
    )
    activity["type"] = "conversationUpdate"
    activity["membersAdded"] = [{"id": BOT_ID}]
    activity["channelData"]["eventType"] = "teamMemberAdded"
    return activity
