"""Incoming activities: the fast reader builds exactly what msrest builds, and hands anything
unusual to msrest."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from botbuilder.schema import Activity
from msrest.serialization import Model

from bot import inbound
from bot.inbound import activity_from
from tests.support import activities
from tests.support.activities import Person

USER = Person("aad-ana", "Ana Souza", "ana@example.com")
WHERE = {"service_url": "https://smba.example/amer/", "tenant_id": "tenant-1", "user": USER}


def _state(value: Any) -> Any:
    """Everything an object holds, recursively, so two objects can be compared."""
    if isinstance(value, Model):
        return (type(value).__name__, {k: _state(v) for k, v in sorted(vars(value).items())})
    if isinstance(value, list):
        return [_state(v) for v in value]
    if isinstance(value, dict):
        return {k: _state(v) for k, v in value.items()}
    return value


def _teams_message() -> dict[str, Any]:
    """The shape of a real Teams message, extra keys and 7-digit fractions included."""
    body = activities.message("new lead Ação", **WHERE, mention_bot=True)
    body["timestamp"] = "2026-11-23T13:05:07.1234567Z"
    body["localTimestamp"] = "2026-11-23T10:05:07.1234567-03:00"
    body["localTimezone"] = "America/Sao_Paulo"
    body["from"]["role"] = "user"
    body["from"]["userPrincipalName"] = "ana@example.com"  # not in the SDK's model
    body["conversation"]["isGroup"] = False
    body["attachments"] = [{"contentType": "text/html", "content": "<p>new lead</p>"}]
    body["entities"].append({"type": "clientInfo", "locale": "pt-BR", "country": "BR"})
    body["rawTimestamp"] = "2026-11-23T13:05:07.1234567Z"  # unknown at the top level too
    return body


def _member_added() -> dict[str, Any]:
    body = activities.installed(**WHERE, conversation_type="channel", conversation_id="19:c;m=1")
    body["membersRemoved"] = []
    return body


CORPUS = {
    "message": lambda: activities.message("help", **WHERE),
    "teams message": _teams_message,
    "card action": lambda: activities.card_action(
        "lead.change_stage", {"lead_id": "L1", "version": 3, "stage_id": "s2"}, **WHERE
    ),
    "installed in a channel": _member_added,
    "compose search": lambda: {
        **activities.card_action("x", {}, **WHERE),
        "name": "composeExtension/query",
        "value": {"commandId": "search", "parameters": [{"name": "query", "value": "acme"}]},
    },
    "nulls": lambda: {**activities.message("hi", **WHERE), "text": None, "entities": None},
    # Unusual values: msrest's reading is kept, whatever it is.
    "a list where text belongs": lambda: {**activities.message("x", **WHERE), "text": ["a"]},
    "a number where the id belongs": lambda: {
        **activities.message("x", **WHERE),
        "from": {"id": 29, "name": "N"},
    },
    "a string where a flag belongs": lambda: {
        **activities.message("x", **WHERE),
        "historyDisclosed": "yes",
    },
    "entities not a list": lambda: {**activities.message("x", **WHERE), "entities": {"a": 1}},
    "a bad timestamp": lambda: {**activities.message("x", **WHERE), "timestamp": "yesterday"},
    "listenFor of numbers": lambda: {**activities.message("x", **WHERE), "listenFor": [1, 2]},
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_the_fast_reader_builds_what_msrest_builds(name: str) -> None:
    body = CORPUS[name]()
    try:
        expected = _state(Activity().deserialize(copy.deepcopy(body)))
    except Exception as error:  # noqa: BLE001 - then ours must fail the same way
        with pytest.raises(type(error)):
            activity_from(copy.deepcopy(body))
        return
    assert _state(activity_from(body)) == expected


def test_usual_activities_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards the speed-up itself: the SDK's deserializer is not called for these."""

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("msrest was asked")

    monkeypatch.setattr(Activity, "deserialize", refuse)
    for name in ("message", "teams message", "card action", "installed in a channel"):
        activity = activity_from(CORPUS[name]())
        assert activity.conversation is not None
        assert activity.from_property is not None
    assert inbound._MODELS["ChannelAccount"].__name__ == "ChannelAccount"
