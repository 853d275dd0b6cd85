"""No password, token or client secret ever reaches a log line.

The service runs with the logging set-up of ``teamcrm serve`` (``configure_logging`` with the
app password as a secret), at DEBUG so every library speaks, while it receives valid and
forged tokens, replies with its own token, fails a reply, and logs exceptions.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from urllib.parse import quote_plus

import pytest

from bot.logs import MASK, RedactingFilter, configure_logging
from storage.database import Database
from tests.bot.conftest import ALICE, Service, settings_for
from tests.support import activities
from tests.support.connector import StandInConnector
from tests.trust.conftest import (
    APP_ID,
    OUTBOUND_TOKEN,
    WEBCHAT_KID,
    Issuer,
    StaticCredentialsFactory,
    run_service,
)

# Characters that change when URL- or JSON-encoded, so every encoded form is looked for too.
PASSWORD = 'Pw+known/app=secret&"quoted"~42'
GARBAGE_TOKEN = "garbage-bearer-token-7d3e41"


@pytest.fixture
def serve_logging() -> Iterator[io.StringIO]:
    """``teamcrm serve``'s logging (one root handler, redacting), put back afterwards. Only
    the handler's stream changes: from stderr to a buffer the test reads."""
    root = logging.getLogger()
    access = logging.getLogger("aiohttp.access")
    saved = (root.handlers[:], root.level, access.level)
    configure_logging(secrets=[PASSWORD], level=logging.DEBUG)
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)
    yield buffer
    root.handlers[:], root.level = saved[0], saved[1]
    access.setLevel(saved[2])


@pytest.fixture
async def with_password(
    database: Database,
    connector: StandInConnector,
    issuer: Issuer,
    sdk_class_state: None,
    serve_logging: io.StringIO,
) -> AsyncIterator[Service]:
    settings = settings_for(
        database,
        app_id=APP_ID,
        app_password=PASSWORD,
        openid_metadata_url=issuer.metadata_url,
    )
    running = await run_service(settings, connector, "tenant-secrets", StaticCredentialsFactory())
    yield running.service
    await running.stop()


def _forms(secret: str) -> set[str]:
    return {secret, quote_plus(secret), json.dumps(secret)[1:-1]}


async def test_tokens_and_the_password_never_reach_the_logs(
    with_password: Service, issuer: Issuer, serve_logging: io.StringIO
) -> None:
    service = with_password
    url = service.connector.url
    valid = issuer.bearer(url)
    forged = {
        "garbage": f"Bearer {GARBAGE_TOKEN}",
        "bad signature": issuer.bearer(url, key=issuer.rogue_key),
        "expired": issuer.bearer(url, exp=1_000_000, iat=999_000, nbf=999_000),
        "wrong audience": issuer.bearer(url, aud="someone-else"),
        "not endorsed": issuer.bearer(url, key=issuer.webchat_key, kid=WEBCHAT_KID),
        "unknown key": issuer.bearer(url, kid="nope"),
    }
    message = activities.message(
        f"new lead {PASSWORD} {valid}", service_url=url, tenant_id=service.tenant_id, user=ALICE
    )
    assert (await service.post(message, Authorization=valid)).status in {200, 201}
    assert service.connector.sent[-1].authorization == f"Bearer {OUTBOUND_TOKEN}"
    for header in forged.values():
        assert (await service.post(message, Authorization=header)).status == 401
    # A reply that cannot be sent: the turn's exception is logged with its traceback.
    dead = "http://127.0.0.1:9/"
    unreachable = activities.message(
        "help", service_url=dead, tenant_id=service.tenant_id, user=ALICE
    )
    response = await service.post(unreachable, Authorization=issuer.bearer(dead))
    assert response.status == 503
    # What a careless line in any library could do, with the secrets in every position.
    careless = logging.getLogger("botframework.connector.careless")
    careless.debug("configured with %s", {"MicrosoftAppPassword": PASSWORD})
    careless.debug("token request body: client_secret=%s", quote_plus(PASSWORD))
    careless.debug("headers: %s", {"Authorization": f"Bearer {OUTBOUND_TOKEN}"})
    careless.warning("%s and %s", "a format with a missing argument")
    try:
        raise PermissionError(f"Unauthorized: {valid} / {PASSWORD}")
    except PermissionError:
        careless.exception("authentication blew up")

    logged = serve_logging.getvalue()
    assert "rejected unauthenticated request" in logged  # the capture saw the service's lines
    assert "turn failed" in logged
    assert "Traceback" in logged
    assert " DEBUG " in logged
    assert MASK in logged
    secrets = {PASSWORD, OUTBOUND_TOKEN, GARBAGE_TOKEN, valid.split()[1]}
    secrets.update(header.split()[1] for header in forged.values())
    leaked = sorted(form for secret in secrets for form in _forms(secret) if form in logged)
    assert leaked == []


def test_a_bad_log_call_does_not_raise_through_the_filter() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s %s", ("one",), None)
    assert RedactingFilter([PASSWORD]).filter(record) is True
    assert "one" in str(record.msg)
