"""With an app id configured, only requests carrying a valid Bot Framework token get a turn.

Tokens come from a local issuer the SDK is pointed at; every forged, expired, misdirected or
mis-endorsed token must be a 401 (never a 500 from the SDK, never a 201), and store nothing.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from cards import verbs
from storage.database import Database
from tests.bot.conftest import ALICE, Service
from tests.support import activities
from tests.support.cards import texts
from tests.trust.conftest import APP_ID, OUTBOUND_TOKEN, TEAMS_KID, WEBCHAT_KID, Issuer, row_counts


def _message(service: Service, text: str = "help") -> dict[str, Any]:
    return activities.message(
        text, service_url=service.connector.url, tenant_id=service.tenant_id, user=ALICE
    )


def _unsigned(claims: dict[str, Any], header: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


def _hs256_with_public_key(issuer: Issuer, url: str) -> str:
    """The classic algorithm confusion: HMAC keyed with the RSA public key."""
    public = issuer.teams_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": TEAMS_KID}
    signing_input = _unsigned(issuer.claims(url), header).rstrip(".")
    import hashlib  # noqa: PLC0415
    import hmac  # noqa: PLC0415

    signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


Forge = Callable[[Issuer, str], str | None]

FORGED: dict[str, Forge] = {
    "no header": lambda i, url: None,
    "empty header": lambda i, url: "",
    "bearer without token": lambda i, url: "Bearer ",
    "garbage": lambda i, url: "Bearer not-a-jwt",
    "three garbage parts": lambda i, url: "Bearer eyJhbGciOi.eyJpc3Mi.c2ln",
    "wrong scheme": lambda i, url: f"Basic {i.token(url)}",
    "no scheme": lambda i, url: i.token(url),
    "extra parts in header": lambda i, url: f"Bearer {i.token(url)} extra",
    "alg none": lambda i, url: (
        "Bearer " + _unsigned(i.claims(url), {"alg": "none", "typ": "JWT", "kid": TEAMS_KID})
    ),
    "alg none without kid": lambda i, url: (
        "Bearer " + _unsigned(i.claims(url), {"alg": "none", "typ": "JWT"})
    ),
    "hs256 keyed with the public key": lambda i, url: f"Bearer {_hs256_with_public_key(i, url)}",
    "bad signature": lambda i, url: i.bearer(url, key=i.rogue_key),
    "tampered payload": lambda i, url: (
        "Bearer "
        + ".".join(
            [
                i.token(url).split(".")[0],
                _unsigned(i.claims(url, aud=APP_ID, extra="x"), {}).split(".")[1],
                i.token(url).split(".")[2],
            ]
        )
    ),
    "unknown key id": lambda i, url: i.bearer(url, kid="no-such-key"),
    "no key id": lambda i, url: (
        "Bearer " + jwt.encode(i.claims(url), i.teams_key, algorithm="RS256")
    ),
    "key not endorsed for msteams": lambda i, url: i.bearer(
        url, key=i.webchat_key, kid=WEBCHAT_KID
    ),
    "wrong audience": lambda i, url: i.bearer(url, aud="another-bot-app-id"),
    "no audience": lambda i, url: i.bearer(url, aud=None),
    "wrong issuer": lambda i, url: i.bearer(url, iss="https://sts.windows.net/evil/"),
    "no issuer": lambda i, url: i.bearer(url, iss=None),
    "expired": lambda i, url: i.bearer(
        url, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200
    ),
    "not yet valid": lambda i, url: i.bearer(url, nbf=int(time.time()) + 3600),
    "service url of another connector": lambda i, url: i.bearer(
        url, serviceurl="https://smba.trafficmanager.net/evil/"
    ),
    "no service url claim": lambda i, url: i.bearer(url, serviceurl=None),
}


@pytest.mark.parametrize("case", sorted(FORGED))
async def test_a_request_without_a_valid_token_is_a_401_and_stores_nothing(
    secured: Service, database: Database, issuer: Issuer, case: str
) -> None:
    before = row_counts(database)
    header = FORGED[case](issuer, secured.connector.url)
    headers = {} if header is None else {"Authorization": header}
    for activity in (
        _message(secured, "new lead Forged for Evil Corp"),
        activities.card_action(
            verbs.LEAD_CREATE,
            {verbs.IN_LEAD_TITLE: "Forged"},
            service_url=secured.connector.url,
            tenant_id=secured.tenant_id,
            user=ALICE,
        ),
    ):
        response = await secured.post(activity, **headers)
        assert response.status == 401, (case, response.status)
    assert secured.connector.sent == []
    assert row_counts(database) == before


async def test_a_valid_token_gets_the_turn_and_the_reply_carries_the_bots_token(
    secured: Service, issuer: Issuer
) -> None:
    activity = _message(secured, "help")
    response = await secured.post(activity, Authorization=issuer.bearer(secured.connector.url))
    assert response.status in {200, 201}
    assert len(secured.connector.sent) == 1
    reply = secured.connector.sent[0]
    assert reply.authorization == f"Bearer {OUTBOUND_TOKEN}"
    assert "new lead" in texts(reply.cards[0])


async def test_a_valid_token_on_an_invoke_gets_the_card_in_the_response(
    secured: Service, issuer: Issuer
) -> None:
    activity = activities.card_action(
        verbs.LEAD_CREATE,
        {verbs.IN_LEAD_TITLE: "Signed and sealed"},
        service_url=secured.connector.url,
        tenant_id=secured.tenant_id,
        user=ALICE,
    )
    response = await secured.post(activity, Authorization=issuer.bearer(secured.connector.url))
    assert response.status == 200
    body = await response.json()
    assert "Signed and sealed" in texts(body["value"])


async def test_a_token_for_one_activity_cannot_redirect_replies_elsewhere(
    secured: Service, issuer: Issuer
) -> None:
    """The serviceurl claim pins the token to the connector it was issued for."""
    token = issuer.bearer(secured.connector.url)
    activity = activities.message(
        "help", service_url="http://127.0.0.1:9/evil/", tenant_id=secured.tenant_id, user=ALICE
    )
    response = await secured.post(activity, Authorization=token)
    assert response.status == 401
    assert secured.connector.sent == []


async def test_a_token_with_the_clock_skew_the_sdk_allows_is_accepted(
    secured: Service, issuer: Issuer
) -> None:
    """Expired two minutes ago is within the SDK's five minutes of tolerance."""
    token = issuer.bearer(secured.connector.url, exp=int(time.time()) - 120)
    response = await secured.post(_message(secured), Authorization=token)
    assert response.status in {200, 201}
    assert len(secured.connector.sent) == 1
