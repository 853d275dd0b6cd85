"""The real service on loopback: aiohttp app on 127.0.0.1:0, a real database (SQLite, and
PostgreSQL when configured), and the stand-in connector recording what the bot sends."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.app import RUNTIME, Runtime, create_app
from bot.config import Settings
from storage.database import Database
from tests.cards.conftest import schema_validator
from tests.storage.conftest import (  # noqa: F401 - fixtures shared with the storage suite
    clock,
    database,
    engine_name,
    postgres_schemas,
    postgres_url,
    sqlite_template,
    url_of,
)
from tests.support import activities
from tests.support.activities import Person
from tests.support.connector import StandInConnector

_tenants = itertools.count(1)
_validator = schema_validator()
CARD_BUDGET_BYTES = 28 * 1024


def check_card(card: dict[str, Any]) -> dict[str, Any]:
    """Every card the bot sends in any test must be a valid Adaptive Card 1.5 within budget."""
    errors = [error.message for error in _validator.iter_errors(card)]
    assert errors == [], errors[:3]
    size = len(json.dumps(card, separators=(",", ":"), ensure_ascii=False).encode())
    assert size <= CARD_BUDGET_BYTES, size
    return card


ALICE = Person("aad-alice", "Alice Seller", "alice@contoso.example")
BOB = Person("aad-bob", "Bob Seller", "bob@contoso.example")
CAROL = Person("aad-carol", "Carol Director", "carol@contoso.example")


@dataclass
class Service:
    """The running bot, as Teams (and a test) sees it."""

    url: str
    http: aiohttp.ClientSession
    connector: StandInConnector
    app: web.Application
    tenant_id: str

    @property
    def runtime(self) -> Runtime:
        return self.app[RUNTIME]

    async def post(self, activity: dict[str, Any], **headers: str) -> aiohttp.ClientResponse:
        response = await self.http.post(f"{self.url}/api/messages", json=activity, headers=headers)
        await response.read()
        return response

    def message(self, text: str, user: Person = ALICE, **options: Any) -> dict[str, Any]:
        """A message activity to this service's tenant (to post it yourself, e.g. twice)."""
        return activities.message(
            text,
            service_url=self.connector.url,
            tenant_id=options.pop("tenant_id", self.tenant_id),
            user=user,
            **options,
        )

    async def say(self, text: str, user: Person = ALICE, **options: Any) -> dict[str, Any]:
        """Send a message; return the card the bot sent back to the connector."""
        before = len(self.connector.sent)
        response = await self.post(self.message(text, user, **options))
        assert response.status in {200, 201}, response.status
        sent = self.connector.sent[before:]
        assert len(sent) == 1, f"expected one reply, got {len(sent)}"
        cards = sent[0].cards
        assert len(cards) == 1
        return check_card(cards[0])

    async def press(
        self, verb: str, data: dict[str, Any], user: Person = ALICE, **options: Any
    ) -> dict[str, Any]:
        """Press an Action.Execute button; return the card of the invoke response."""
        activity = activities.card_action(
            verb,
            data,
            service_url=self.connector.url,
            tenant_id=options.pop("tenant_id", self.tenant_id),
            user=user,
            **options,
        )
        response = await self.post(activity)
        assert response.status == 200, response.status
        body = await response.json()
        assert body["statusCode"] == 200
        assert body["type"] == "application/vnd.microsoft.card.adaptive"
        card: dict[str, Any] = body["value"]
        return check_card(card)


@pytest.fixture
async def connector() -> AsyncIterator[StandInConnector]:
    stand_in = StandInConnector()
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


def settings_for(db: Database, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url_of(db),
        "auto_migrate": False,
        "run_dispatcher": False,
    }
    values.update(overrides)
    return Settings(**values)


async def start_service(
    settings: Settings, connector: StandInConnector, tenant_id: str
) -> tuple[Service, web.AppRunner]:
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    http = aiohttp.ClientSession()
    service = Service(f"http://127.0.0.1:{port}", http, connector, app, tenant_id)
    return service, runner


@pytest.fixture
async def service(
    database: Database,  # noqa: F811 - the storage suite's fixture, imported above
    connector: StandInConnector,
) -> AsyncIterator[Service]:
    running, runner = await start_service(
        settings_for(database), connector, f"tenant-{next(_tenants)}"
    )
    yield running
    await running.http.close()
    await runner.cleanup()
