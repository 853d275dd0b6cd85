"""What the trust suite needs besides the bot suite's harness: a local Bot Framework token
issuer, static outbound credentials, and snapshots of every table to prove nothing changed.

The issuer serves OpenID metadata and a JWKS from a thread, not from the bot's event loop,
because botbuilder fetches them with a blocking ``requests.get`` while the loop waits.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from botframework.connector.auth import (
    AppCredentials,
    ChannelValidation,
    JwtTokenExtractor,
    ServiceClientCredentialsFactory,
)
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import MetaData, func, inspect, select

from bot.app import create_app
from bot.config import Settings
from storage.database import Database
from tests.bot.conftest import Service, connector, service, settings_for  # noqa: F401
from tests.storage.conftest import (  # noqa: F401 - fixtures shared with the storage suite
    clock,
    database,
    engine_name,
    postgres_schemas,
    postgres_url,
    sqlite_template,
)
from tests.support.connector import StandInConnector

APP_ID = "00000000-1111-2222-3333-444444444444"
APP_PASSWORD = "Pw~known.APP-password_0123456789"
OUTBOUND_TOKEN = "outbound-static-token-5f1c9e"
ISSUER = "https://api.botframework.com"
TEAMS_KID = "teams-signing-key"
WEBCHAT_KID = "webchat-only-key"


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _jwk(key: rsa.RSAPrivateKey, kid: str, endorsements: list[str]) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "use": "sig",
        "kid": kid,
        "n": _b64(numbers.n),
        "e": _b64(numbers.e),
        "endorsements": endorsements,
    }


class Issuer:
    """A Bot Framework-like token service on 127.0.0.1: metadata, keys, and signed tokens."""

    def __init__(self) -> None:
        self.teams_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.webchat_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rogue_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.requests = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.requests += 1
                body: dict[str, Any]
                if self.path == "/.well-known/openidconfiguration":
                    body = {"issuer": ISSUER, "jwks_uri": f"{issuer.base}/keys"}
                elif self.path == "/keys":
                    body = {
                        "keys": [
                            _jwk(issuer.teams_key, TEAMS_KID, ["msteams", "webchat"]),
                            _jwk(issuer.webchat_key, WEBCHAT_KID, ["webchat"]),
                        ]
                    }
                else:
                    self.send_error(404)
                    return
                payload = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the suite reads logs for secrets and errors."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.metadata_url = f"{self.base}/.well-known/openidconfiguration"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def claims(self, service_url: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": APP_ID,
            "serviceurl": service_url,
            "nbf": now - 60,
            "iat": now - 60,
            "exp": now + 3600,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(
        self,
        service_url: str,
        *,
        key: rsa.RSAPrivateKey | None = None,
        kid: str = TEAMS_KID,
        **claims: Any,
    ) -> str:
        return jwt.encode(
            self.claims(service_url, **claims),
            key or self.teams_key,
            algorithm="RS256",
            headers={"kid": kid},
        )

    def bearer(self, service_url: str, **options: Any) -> str:
        return f"Bearer {self.token(service_url, **options)}"


@pytest.fixture(scope="session")
def issuer() -> Iterator[Issuer]:
    running = Issuer()
    running.start()
    yield running
    running.stop()


@pytest.fixture
def sdk_class_state() -> Iterator[None]:
    """botbuilder keeps the metadata URL and the fetched keys on classes: put them back."""
    endpoint = ChannelValidation.open_id_metadata_endpoint
    cache = dict(JwtTokenExtractor.metadataCache)
    yield
    ChannelValidation.open_id_metadata_endpoint = endpoint
    JwtTokenExtractor.metadataCache.clear()
    JwtTokenExtractor.metadataCache.update(cache)


class StaticCredentials(AppCredentials):  # type: ignore[misc]  # botbuilder is untyped
    """Outbound credentials with a fixed token: no Microsoft login is ever attempted."""

    def get_access_token(self, force_refresh: bool = False) -> str:
        return OUTBOUND_TOKEN


class StaticCredentialsFactory(ServiceClientCredentialsFactory):  # type: ignore[misc]
    def __init__(self, app_id: str = APP_ID) -> None:
        self.app_id = app_id
        self.created = 0

    async def is_valid_app_id(self, app_id: str) -> bool:
        return app_id == self.app_id

    async def is_authentication_disabled(self) -> bool:
        return not self.app_id

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> AppCredentials:
        self.created += 1
        return StaticCredentials(app_id=app_id, oauth_scope=oauth_scope)


@dataclass
class Running:
    service: Service
    runner: web.AppRunner

    async def stop(self) -> None:
        await self.service.http.close()
        await self.runner.cleanup()


async def run_service(
    settings: Settings,
    stand_in: StandInConnector,
    tenant_id: str,
    credentials_factory: ServiceClientCredentialsFactory | None = None,
) -> Running:
    """``tests.bot.conftest.start_service`` with outbound credentials of the test's choosing."""
    app = create_app(settings, credentials_factory=credentials_factory)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    http = aiohttp.ClientSession()
    return Running(Service(f"http://127.0.0.1:{port}", http, stand_in, app, tenant_id), runner)


@pytest.fixture
async def secured(
    database: Database,  # noqa: F811 - imported fixture
    connector: StandInConnector,  # noqa: F811 - imported fixture
    issuer: Issuer,
    sdk_class_state: None,
) -> AsyncIterator[Service]:
    """The service with an app id: every request needs a token from ``issuer``."""
    settings = settings_for(
        database,
        app_id=APP_ID,
        app_password=APP_PASSWORD,
        app_type="MultiTenant",
        openid_metadata_url=issuer.metadata_url,
    )
    running = await run_service(settings, connector, "tenant-secured", StaticCredentialsFactory())
    yield running.service
    await running.stop()


# --- proving that nothing changed --------------------------------------------------------------


def _tables(db: Database) -> list[Any]:
    """The tables the migrations really created (others may be mid-flight in the models)."""
    reflected = MetaData()
    reflected.reflect(db.engine, only=inspect(db.engine).get_table_names())
    return [t for t in reflected.sorted_tables if t.name != "alembic_version"]


def row_counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in _tables(db)
        }


def tenant_rows(db: Database, tenant_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of one tenant in every table, in a stable order: a before/after snapshot."""
    snapshot: dict[str, list[tuple[Any, ...]]] = {}
    with db.engine.connect() as connection:
        for table in _tables(db):
            if "tenant_id" in table.c:
                statement = select(table).where(table.c.tenant_id == tenant_id)
            elif "payload" in table.c:
                statement = select(table)  # cross-tenant tables (outbox): all of them
            else:
                continue
            rows = connection.execute(statement).all()
            snapshot[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return snapshot
