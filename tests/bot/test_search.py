"""The compose-box search (message extension): cards the user may see, nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from tests.bot.conftest import ALICE, BOB, Service, check_card
from tests.support import activities
from tests.support.cards import texts


def _query(service: Service, user: Any, value: object) -> dict[str, Any]:
    activity = activities.card_action(
        "unused", {}, service_url=service.connector.url, tenant_id=service.tenant_id, user=user
    )
    activity["name"] = "composeExtension/query"
    activity["value"] = value
    return activity


def _search(service: Service, user: Any, text: object) -> dict[str, Any]:
    return _query(
        service,
        user,
        {
            "commandId": "searchCrm",
            "parameters": [{"name": "query", "value": text}],
            "queryOptions": {"skip": 0, "count": 25},
        },
    )


async def _results(service: Service, activity: dict[str, Any]) -> dict[str, Any]:
    response = await service.post(activity)
    assert response.status == 200
    body: dict[str, Any] = (await response.json())["composeExtension"]
    return body


async def test_search_returns_the_lead_and_account_cards(service: Service) -> None:
    await service.say("new lead Solar panels for Acme Energy")
    result = await _results(service, _search(service, ALICE, "acme"))
    assert result["type"] == "result"
    attachments = result["attachments"]
    titles = [a["preview"]["content"]["title"] for a in attachments]
    assert "Acme Energy" in titles
    for attachment in attachments:
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        check_card(attachment["content"])
    lead_results = await _results(service, _search(service, ALICE, "solar"))
    assert any("Solar panels" in texts(a["content"]) for a in lead_results["attachments"])


async def test_search_respects_the_portfolio(service: Service) -> None:
    await service.say("new lead Solar panels for Acme Energy")
    await service.say("help", user=BOB)
    result = await _results(service, _search(service, BOB, "acme"))
    assert result["attachments"] == []
    result = await _results(service, _search(service, BOB, "solar"))
    assert result["attachments"] == []


@pytest.mark.parametrize("text", ["", "   ", None, 42, "x" * 5000, "\u0000\ufffd"])
async def test_odd_queries_get_an_answer(service: Service, text: object) -> None:
    result = await _results(service, _search(service, ALICE, text))
    assert result["type"] == "result"
    assert isinstance(result["attachments"], list)


@pytest.mark.parametrize("value", [None, "text", [], {"parameters": "no"}, {"parameters": [1]}])
async def test_malformed_search_invokes_get_an_empty_result(
    service: Service, value: object
) -> None:
    result = await _results(service, _query(service, ALICE, value))
    assert result["attachments"] == []
