"""The aiohttp send path writes the same JSON the SDK's serializer would, and reports failures
the way the notification sender reads them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from botbuilder.core import MessageFactory, TurnContext
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    Attachment,
    ChannelAccount,
    ConversationAccount,
    ConversationReference,
    Mention,
)
from botframework.connector.auth import AppCredentials

from bot import outbound as outbound_module
from bot.notify.sender import _error
from bot.outbound import ConnectorError, FastConversations, Outbound, dumps, encode
from cards import elements
from cards.elements import card_json_of, measured
from tests.support.connector import Failure, StandInConnector

CARD = {
    "type": "AdaptiveCard",
    "version": "1.5",
    "body": [{"type": "TextBlock", "text": "Ação — größer ✓", "wrap": True}],
    "actions": [{"type": "Action.Execute", "verb": "lead.refresh", "data": {"lead_id": "L1"}}],
}


def _reply() -> Activity:
    incoming = Activity(
        type=ActivityTypes.message,
        id="incoming-1",
        service_url="https://smba.example/amer/",
        channel_id="msteams",
        conversation=ConversationAccount(
            id="a:chat/1", tenant_id="tenant-1", conversation_type="personal"
        ),
        from_property=ChannelAccount(id="29:user", name="Ana", aad_object_id="aad-ana"),
        recipient=ChannelAccount(id="28:bot", name="TeamCRM"),
        locale="pt-BR",
    )
    reply = MessageFactory.attachment(
        Attachment(content_type="application/vnd.microsoft.card.adaptive", content=CARD)
    )
    reply.entities = [
        Mention(mentioned=ChannelAccount(id="29:user", name="Ana"), text="<at>Ana</at>")
    ]
    reply.channel_data = {"notification": {"alert": True}, "tenant": {"id": "tenant-1"}}
    reply.timestamp = datetime(2026, 11, 23, 13, 5, 7, 123456, tzinfo=timezone(timedelta(hours=-3)))
    return TurnContext.apply_conversation_reference(
        reply, TurnContext.get_conversation_reference(incoming)
    )


@pytest.mark.parametrize(
    "activity",
    [
        _reply(),
        MessageFactory.text("plain text, no card"),
        Activity(
            type=ActivityTypes.message,
            text="proactive",
            conversation=ConversationAccount(id="19:channel@thread.tacv2", is_group=True),
            recipient=ChannelAccount(id="29:someone"),
            timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        ),
    ],
    ids=["reply with card, mention and channel data", "text", "proactive"],
)
def test_the_wire_form_is_the_sdks(activity: Activity) -> None:
    ours = json.loads(dumps(activity))
    sdks = activity.serialize()
    assert ours == sdks
    assert "attachments" not in ours or ours["attachments"][0]["content"] == CARD


def _with_card(card: dict[str, Any]) -> Activity:
    return MessageFactory.attachment(
        Attachment(content_type="application/vnd.microsoft.card.adaptive", content=card)
    )


def test_a_measured_card_goes_out_as_the_json_it_was_measured_as() -> None:
    card = measured(CARD)
    body = dumps(_with_card(card)).decode()
    assert json.loads(body) == _with_card(dict(CARD)).serialize()
    assert card_json_of(card) in body  # spliced, not encoded again (non-ASCII stays escaped)
    assert "Ação" not in body


def test_the_measured_json_is_what_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proof that the card is not encoded a second time: the JSON it carries is sent (the
    suite's staleness check is off here, as in production)."""
    monkeypatch.setattr(elements, "VERIFY_MEASURED", False)
    card = measured(CARD)
    card.encoded = '{"type":"AdaptiveCard","marker":"kept"}'
    assert json.loads(encode({"statusCode": 200, "value": card}))["value"]["marker"] == "kept"


def test_a_changed_measured_card_is_encoded_afresh() -> None:
    card = measured(CARD)
    card["version"] = "1.4"
    assert json.loads(encode({"value": card}))["value"] == {**CARD, "version": "1.4"}


@pytest.mark.parametrize(
    "text", ["\x00teamcrm-card-0\x00", "\\u0000teamcrm-card-0\\u0000", '"\x00"', "-{}"]
)
def test_text_that_looks_like_a_placeholder_is_left_alone(text: str) -> None:
    card = measured({**CARD, "speak": text})
    answer = {"statusCode": 200, "note": text, "value": card}
    assert json.loads(encode(answer)) == {**answer, "value": {**CARD, "speak": text}}


def test_non_ascii_text_goes_out_as_utf8() -> None:
    body = dumps(_reply())
    assert "Ação — größer ✓".encode() in body


class _Credentials(AppCredentials):  # type: ignore[misc]  # botbuilder is untyped
    def get_access_token(self, force_refresh: bool = False) -> str:
        return "token-abc"


async def _conversations(
    connector: StandInConnector, credentials: Any = None
) -> tuple[FastConversations, Outbound]:
    outbound = Outbound()
    return FastConversations(object(), connector.url, credentials, outbound), outbound


async def test_reply_send_and_update_reach_the_connector_with_the_token() -> None:
    connector = StandInConnector()
    await connector.start()
    conversations, outbound = await _conversations(
        connector, _Credentials(app_id="app-1", oauth_scope="https://api.botframework.com")
    )
    try:
        activity = MessageFactory.text("hello")
        first = await conversations.send_to_conversation("a:chat/1", activity)
        reply = await conversations.reply_to_activity("a:chat/1", "msg 1", activity)
        await conversations.update_activity("a:chat/1", "msg 1", activity)
    finally:
        await outbound.close()
        await connector.stop()
    assert first.id
    assert reply.id
    assert first.id != reply.id
    # Ids are quoted whole: the "/" inside the conversation id stays inside its segment.
    assert [(s.method, s.conversation_id, s.path) for s in connector.sent] == [
        ("POST", "a:chat/1", "/v3/conversations/a:chat/1/activities"),
        ("POST", "a:chat/1", "/v3/conversations/a:chat/1/activities/msg 1"),
        ("PUT", "a:chat/1", "/v3/conversations/a:chat/1/activities/msg 1"),
    ]
    assert {s.authorization for s in connector.sent} == {"Bearer token-abc"}
    assert connector.sent[0].body == {
        "type": "message",
        "text": "hello",
        "inputHint": "acceptingInput",
    }


async def test_a_token_is_asked_for_once_a_minute_not_once_a_send(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[int] = []

    class Counting(AppCredentials):  # type: ignore[misc]  # botbuilder is untyped
        def get_access_token(self, force_refresh: bool = False) -> str:
            asked.append(1)
            return f"token-{len(asked)}"

    connector = StandInConnector()
    await connector.start()
    conversations, outbound = await _conversations(
        connector, Counting(app_id="app-1", oauth_scope="https://api.botframework.com")
    )
    clock = [1000.0]
    monkeypatch.setattr(outbound_module.time, "monotonic", lambda: clock[0])
    try:
        for _ in range(3):
            await conversations.send_to_conversation("a:chat/1", MessageFactory.text("hi"))
        clock[0] += outbound_module.TOKEN_REUSE_SECONDS
        await conversations.send_to_conversation("a:chat/1", MessageFactory.text("hi"))
    finally:
        await outbound.close()
        await connector.stop()
    assert [s.authorization for s in connector.sent] == ["Bearer token-1"] * 3 + ["Bearer token-2"]


async def test_anonymous_sends_carry_no_token() -> None:
    connector = StandInConnector()
    await connector.start()
    conversations, outbound = await _conversations(connector, AppCredentials(app_id=""))
    try:
        await conversations.send_to_conversation("a:chat/1", MessageFactory.text("hi"))
    finally:
        await outbound.close()
        await connector.stop()
    assert connector.sent[0].authorization is None


async def test_a_refused_send_says_status_code_and_retry_after() -> None:
    connector = StandInConnector()
    await connector.start()
    connector.fail_next(
        "a:chat/1",
        Failure(429, {"error": {"code": "Throttled"}}, {"Retry-After": "3"}),
        Failure(403, {"error": {"code": "MessageWritesBlocked"}}),
    )
    conversations, outbound = await _conversations(connector)
    try:
        with pytest.raises(ConnectorError) as throttled:
            await conversations.send_to_conversation("a:chat/1", MessageFactory.text("hi"))
        with pytest.raises(ConnectorError) as blocked:
            await conversations.send_to_conversation("a:chat/1", MessageFactory.text("hi"))
    finally:
        await outbound.close()
        await connector.stop()
    first = _error(throttled.value)
    assert (first.status, first.code, first.retry_after, first.retryable) == (
        429,
        "Throttled",
        3.0,
        True,
    )
    second = _error(blocked.value)
    assert (second.status, second.unreachable, second.retryable) == (403, True, False)
    assert not connector.sent


async def test_other_operations_are_the_sdks() -> None:
    class Inner:
        def get_conversation_member(self, conversation_id: str, member_id: str) -> str:
            return f"{conversation_id}/{member_id}"

    conversations = FastConversations(Inner(), "https://x.example", None, Outbound())
    assert conversations.get_conversation_member("c", "m") == "c/m"


def test_references_keep_their_shape() -> None:
    reference = ConversationReference(
        conversation=ConversationAccount(id="c"), service_url="https://x.example/"
    )
    assert json.loads(dumps(reference)) == reference.serialize()
