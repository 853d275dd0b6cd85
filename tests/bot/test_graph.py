"""Followers who never opened TeamCRM: the bot installs itself for them through Microsoft Graph,
opens the 1:1 chat and delivers; without the permission they wait, without a retry storm.

Microsoft is out of reach: a stand-in token authority and Graph run over https on 127.0.0.1 with
a certificate made here, and only the test's HTTP client trusts it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.config import Settings
from bot.graph import GraphInstaller, graph_installer
from bot.notify.dispatcher import Dispatcher, DispatcherOptions
from bot.notify.sender import Sender
from cards import verbs
from domain.installer import InstallOutcome
from storage.database import Database
from tests.bot.conftest import ALICE, Service, check_card, settings_for, start_service
from tests.support.activities import Person
from tests.support.cards import action_data, choices, has_action
from tests.support.connector import Failure, StandInConnector

APP_ID = "00000000-0000-0000-0000-0000000000b0"
SECRET = "s3cret-value-never-logged"
CATALOG_ID = "6f0c2d4e-1b1a-4c55-9d0e-3f2a7b9c8d11"
TENANT = "tenant-graph"
FAST = DispatcherOptions(backoff_base=0.01, poll_interval=0.05, lease=timedelta(seconds=30))

DAVE = Person("aad-dave", "Dave Director", "dave@contoso.example")
ERIN = Person("aad-erin", "Erin Engineer", "erin@contoso.example")
FRANK = Person("aad-frank", "Frank Finance", "frank@contoso.example")


# --- a certificate for 127.0.0.1 ----------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TeamCRM test loopback")])
    now = datetime.now(UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("loopback-tls")
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_path, key_path)


# --- the stand-in token authority and Graph -----------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None


@dataclass
class StandInGraph:
    """Plays login.microsoftonline.com (OpenID configuration, client-credentials tokens) and the
    Graph routes of a proactive installation; records every request."""

    certificate: Certificate
    requests: list[Seen] = field(default_factory=list)
    installed: set[str] = field(default_factory=set)
    install_failures: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = field(
        default_factory=dict
    )
    token_error: str | None = None
    url: str = ""
    _tokens: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    # --- what the tests read ---

    def seen(self, method: str, suffix: str) -> list[Seen]:
        return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    @property
    def token_requests(self) -> list[Seen]:
        return self.seen("POST", "/oauth2/v2.0/token")

    def installs(self, person: Person | None = None) -> list[Seen]:
        wanted = f"/users/{person.aad_object_id}/teamwork/installedApps" if person else ""
        return [
            r
            for r in self.seen("POST", "/teamwork/installedApps")
            if not wanted or r.path.endswith(wanted)
        ]

    def fail_install(
        self, person: Person, status: int, code: str, headers: dict[str, str] | None = None
    ) -> None:
        self.install_failures.setdefault(person.aad_object_id, []).append(
            (status, {"error": {"code": code, "message": "scripted"}}, headers or {})
        )

    # --- lifecycle ---

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._openid)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_post("/v1.0/users/{user}/teamwork/installedApps", self._install)
        app.router.add_get("/v1.0/users/{user}/teamwork/installedApps", self._list)
        app.router.add_get(
            "/v1.0/users/{user}/teamwork/installedApps/{installation}/chat", self._chat
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, "127.0.0.1", 0, ssl_context=self.certificate.server_context()
        )
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"https://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- routes ---

    async def _record(self, request: web.Request) -> Seen:
        raw = await request.read()
        body: Any
        if request.content_type == "application/x-www-form-urlencoded":
            body = dict(await request.post())
        else:
            body = json.loads(raw) if raw else None
        seen = Seen(
            request.method,
            request.path,
            dict(request.query),
            body,
            request.headers.get("Authorization"),
        )
        self.requests.append(seen)
        return seen

    async def _openid(self, request: web.Request) -> web.Response:
        await self._record(request)
        tenant = request.match_info["tenant"]
        base = f"{self.url}/{tenant}"
        return web.json_response(
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
            }
        )

    async def _token(self, request: web.Request) -> web.Response:
        await self._record(request)
        if self.token_error:
            return web.json_response(
                {"error": self.token_error, "error_description": "AADSTS7000215: scripted"},
                status=401,
            )
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "access_token": f"graph-token-{next(self._tokens)}",
            }
        )

    async def _install(self, request: web.Request) -> web.Response:
        await self._record(request)
        user = request.match_info["user"]
        scripted = self.install_failures.get(user)
        if scripted:
            status, body, headers = scripted.pop(0)
            return web.json_response(body, status=status, headers=headers)
        if user in self.installed:
            return web.json_response(
                {"error": {"code": "Conflict", "message": "App is already installed."}},
                status=409,
            )
        self.installed.add(user)
        return web.Response(status=201)

    async def _list(self, request: web.Request) -> web.Response:
        await self._record(request)
        user = request.match_info["user"]
        found = [{"id": f"installation-{user}"}] if user in self.installed else []
        return web.json_response({"value": found})

    async def _chat(self, request: web.Request) -> web.Response:
        await self._record(request)
        user = request.match_info["user"]
        return web.json_response({"id": f"19:{user}_{APP_ID}@unq.gbl.spaces"})


@pytest.fixture
async def graph(certificate: Certificate) -> AsyncIterator[StandInGraph]:
    stand_in = StandInGraph(certificate)
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


@pytest.fixture
def installer(graph: StandInGraph, certificate: Certificate) -> Iterator[GraphInstaller]:
    session = requests.Session()
    # Trust the loopback certificate, and only it; ignore the environment's CA bundle and
    # proxies (requests lets REQUESTS_CA_BUNDLE override ``session.verify``).
    session.trust_env = False
    session.verify = str(certificate.cert)
    yield GraphInstaller(
        client_id=APP_ID,
        client_secret=SECRET,
        catalog_app_id=CATALOG_ID,
        graph_base_url=f"{graph.url}/v1.0",
        authority_host=graph.url,
        session=session,
    )
    session.close()


@pytest.fixture
async def notifying(
    database: Database,
    connector: StandInConnector,
) -> AsyncIterator[Service]:
    """The service with its dispatcher stopped: tests drive delivery step by step."""
    running, runner = await start_service(
        settings_for(database, run_dispatcher=False), connector, TENANT
    )
    yield running
    await running.http.close()
    await runner.cleanup()


def dispatcher(
    service: Service,
    installer: GraphInstaller,
    options: DispatcherOptions = FAST,
    **kwargs: Any,
) -> Dispatcher:
    runtime = service.runtime
    return Dispatcher(
        runtime.database,
        runtime.crm,
        Sender(runtime.adapter, ""),
        runtime.executor,
        options,
        installer=installer,
        **kwargs,
    )


# --- the story: Alice's lead, followed by colleagues who never opened the bot -------------------


async def lead_followed_by(service: Service, *people: Person) -> dict[str, Any]:
    await service.say("help", user=ALICE)
    card = await service.say("new lead Fleet renewal for Acme")
    for person in people:
        # Known to the tenant (an admin registered them) but never talked to the bot.
        service.runtime.crm.register_user(
            service.tenant_id,  # type: ignore[arg-type]
            person.aad_object_id,  # type: ignore[arg-type]
            display_name=person.name,
        )
        card = await service.press(
            verbs.LEAD_ADD_FOLLOWER,
            {
                **action_data(card, verbs.LEAD_ADD_FOLLOWER),
                verbs.IN_FOLLOWER_USER_ID: person.aad_object_id,
            },
        )
    return await service.press(
        verbs.LEAD_REFRESH, {verbs.LEAD_ID: action_data(card, verbs.LEAD_REFRESH)[verbs.LEAD_ID]}
    )


async def change_stage(service: Service, card: dict[str, Any], probability: str) -> dict[str, Any]:
    stage = next(v for t, v in choices(card, verbs.IN_STAGE_ID).items() if probability in t)
    return await service.press(
        verbs.LEAD_CHANGE_STAGE,
        {**action_data(card, verbs.LEAD_CHANGE_STAGE), verbs.IN_STAGE_ID: stage},
    )


async def comment(service: Service, card: dict[str, Any], text: str) -> dict[str, Any]:
    return await service.press(
        verbs.LEAD_COMMENT, {**action_data(card, verbs.LEAD_COMMENT), verbs.IN_COMMENT: text}
    )


def notifications_in(service: Service, conversation_id: str) -> list[dict[str, Any]]:
    return [
        card
        for sent in service.connector.to(conversation_id)
        if sent.method == "POST"
        for card in sent.cards
        if has_action(card, verbs.NOTIFY_LEAD)
    ]


def opened_chat(person: Person) -> str:
    """The conversation id the stand-in connector gives a new 1:1 chat."""
    return f"a:1on1-{person.aad_object_id}"


def statuses(service: Service, person: Person) -> list[str]:
    store = service.runtime.database.notifications()
    return [row["status"] for row in store.for_recipient(service.tenant_id, person.aad_object_id)]


async def drain_until_settled(worker: Dispatcher, service: Service, person: Person) -> None:
    """Retries are scheduled a little later: keep delivering until nothing is pending."""
    for _ in range(60):
        await worker.drain()
        if not {"pending", "processing"} & set(statuses(service, person)):
            return
        await asyncio.sleep(0.05)


# --- installed, then delivered ------------------------------------------------------------------


async def test_a_follower_who_never_opened_the_bot_gets_it_installed_and_the_card(
    notifying: Service, graph: StandInGraph, installer: GraphInstaller
) -> None:
    lead = await lead_followed_by(notifying, DAVE)
    await change_stage(notifying, lead, "50")
    await dispatcher(notifying, installer).drain()

    [install] = graph.installs(DAVE)
    assert install.body == {
        "teamsApp@odata.bind": f"{graph.url}/v1.0/appCatalogs/teamsApps/{CATALOG_ID}"
    }
    assert install.authorization == "Bearer graph-token-1"
    [token] = graph.token_requests
    assert token.body["grant_type"] == "client_credentials"
    assert token.body["client_id"] == APP_ID
    assert token.body["scope"].split() == ["https://graph.microsoft.com/.default"]
    assert token.path == f"/{TENANT}/oauth2/v2.0/token"

    [created] = notifying.connector.created
    assert created["members"] == [{"id": DAVE.aad_object_id}]
    assert created["isGroup"] is False
    assert created["channelData"] == {"tenant": {"id": TENANT}}
    [card] = notifications_in(notifying, opened_chat(DAVE))
    check_card(card)
    assert statuses(notifying, DAVE) == ["sent"]
    conversations = notifying.runtime.database.conversations(TENANT)
    reference = conversations.personal_for_user(DAVE.aad_object_id)
    assert reference is not None
    assert reference.conversation_id == opened_chat(DAVE)
    assert reference.service_url == notifying.connector.url  # the tenant's own connector


async def test_the_next_card_goes_to_the_chat_opened_without_graph(
    notifying: Service, graph: StandInGraph, installer: GraphInstaller
) -> None:
    lead = await lead_followed_by(notifying, DAVE)
    worker = dispatcher(notifying, installer, replace(FAST, window=timedelta(0)))
    lead = await change_stage(notifying, lead, "25")
    await worker.drain()
    await change_stage(notifying, lead, "50")
    await worker.drain()
    assert len(graph.installs()) == 1
    assert len(notifications_in(notifying, opened_chat(DAVE))) == 2


async def test_already_installed_is_still_delivered(
    notifying: Service, graph: StandInGraph, installer: GraphInstaller
) -> None:
    graph.installed.add(DAVE.aad_object_id)  # e.g. a setup policy installed it, never opened
    lead = await lead_followed_by(notifying, DAVE)
    await change_stage(notifying, lead, "50")
    await dispatcher(notifying, installer).drain()
    assert len(graph.installs(DAVE)) == 1
    assert len(notifications_in(notifying, opened_chat(DAVE))) == 1
    assert statuses(notifying, DAVE) == ["sent"]


async def test_when_the_chat_cannot_be_opened_the_chat_graph_named_is_used(
    notifying: Service, graph: StandInGraph, installer: GraphInstaller
) -> None:
    notifying.connector.fail_next(
        f"create:{DAVE.aad_object_id}", Failure(400, {"error": {"code": "BadSyntax"}})
    )
    lead = await lead_followed_by(notifying, DAVE)
    await change_stage(notifying, lead, "50")
    await dispatcher(notifying, installer).drain()
    [listing] = graph.seen("GET", f"/users/{DAVE.aad_object_id}/teamwork/installedApps")
    assert listing.query == {"$expand": "teamsApp", "$filter": f"teamsApp/id eq '{CATALOG_ID}'"}
    chat = f"19:{DAVE.aad_object_id}_{APP_ID}@unq.gbl.spaces"
    assert len(notifications_in(notifying, chat)) == 1
    assert statuses(notifying, DAVE) == ["sent"]


async def test_one_token_serves_several_installations(
    notifying: Service, graph: StandInGraph, installer: GraphInstaller
) -> None:
    lead = await lead_followed_by(notifying, DAVE, ERIN, FRANK)
    await change_stage(notifying, lead, "50")
    await dispatcher(notifying, installer).drain()
    assert {r.path for r in graph.installs()} == {
        f"/v1.0/users/{p.aad_object_id}/teamwork/installedApps" for p in (DAVE, ERIN, FRANK)
    }
    assert len(graph.token_requests) == 1
    assert len(graph.seen("GET", "/.well-known/openid-configuration")) == 1
    assert {r.authorization for r in graph.installs()} == {"Bearer graph-token-1"}
    for person in (DAVE, ERIN, FRANK):
        assert len(notifications_in(notifying, opened_chat(person))) == 1, person.name


# --- refused: wait, and don't ask again for an hour ---------------------------------------------


async def test_without_consent_the_card_waits_and_graph_is_not_asked_again_within_the_hour(
    notifying: Service, graph: StandInGraph, installer: GraphInstaller
) -> None:
    for _ in range(3):
        graph.fail_install(DAVE, 403, "Forbidden")
    clock = [datetime.now(UTC)]
    worker = dispatcher(
        notifying, installer, replace(FAST, window=timedelta(0)), now=lambda: clock[0]
    )
    lead = await lead_followed_by(notifying, DAVE)
    for text in ("first", "second", "third"):
        lead = await comment(notifying, lead, text)
        await worker.drain()
    assert statuses(notifying, DAVE) == ["waiting", "waiting", "waiting"]
    assert len(graph.installs(DAVE)) == 1
    assert notifying.connector.created == []

    clock[0] += timedelta(hours=1, minutes=1)
    await comment(notifying, lead, "an hour later")
    await worker.drain()
    assert len(graph.installs(DAVE)) == 2
    assert statuses(notifying, DAVE) == ["waiting"] * 4


async def test_a_refused_token_means_waiting_without_calling_graph(
    notifying: Service, graph: StandInGraph, installer: GraphInstaller
) -> None:
    graph.token_error = "invalid_client"
    lead = await lead_followed_by(notifying, DAVE)
    await change_stage(notifying, lead, "50")
    await dispatcher(notifying, installer).drain()
    assert statuses(notifying, DAVE) == ["waiting"]
    assert graph.installs() == []


async def test_waiting_cards_go_out_once_the_installation_works(
    notifying: Service, graph: StandInGraph, installer: GraphInstaller
) -> None:
    graph.fail_install(DAVE, 403, "Forbidden")
    clock = [datetime.now(UTC)]
    worker = dispatcher(
        notifying, installer, replace(FAST, window=timedelta(0)), now=lambda: clock[0]
    )
    lead = await lead_followed_by(notifying, DAVE)
    lead = await change_stage(notifying, lead, "25")
    await worker.drain()
    assert statuses(notifying, DAVE) == ["waiting"]
    clock[0] += timedelta(hours=2)  # meanwhile the admin consented
    await change_stage(notifying, lead, "50")
    await worker.drain()
    assert statuses(notifying, DAVE) == ["sent", "sent"]
    assert len(notifications_in(notifying, opened_chat(DAVE))) == 2


# --- passing faults: retried ----------------------------------------------------------------------


async def test_throttled_installation_is_retried_then_delivered(
    notifying: Service, graph: StandInGraph, installer: GraphInstaller
) -> None:
    graph.fail_install(DAVE, 429, "TooManyRequests", {"Retry-After": "0.1"})
    graph.fail_install(DAVE, 503, "ServiceUnavailable")
    lead = await lead_followed_by(notifying, DAVE)
    await change_stage(notifying, lead, "50")
    worker = dispatcher(notifying, installer)
    await drain_until_settled(worker, notifying, DAVE)
    assert statuses(notifying, DAVE) == ["sent"]
    assert len(graph.installs(DAVE)) == 3
    store = notifying.runtime.database.notifications()
    [row] = store.for_recipient(notifying.tenant_id, DAVE.aad_object_id)
    assert [outcome for outcome, _code in store.attempts(row["id"])] == ["retry", "retry", "sent"]


async def test_a_throttled_chat_opening_is_retried(
    notifying: Service, graph: StandInGraph, installer: GraphInstaller
) -> None:
    notifying.connector.fail_next(
        f"create:{DAVE.aad_object_id}",
        Failure(429, {"error": {"code": "Throttled"}}, {"Retry-After": "0.1"}),
    )
    lead = await lead_followed_by(notifying, DAVE)
    await change_stage(notifying, lead, "50")
    await drain_until_settled(dispatcher(notifying, installer), notifying, DAVE)
    assert statuses(notifying, DAVE) == ["sent"]
    assert len(graph.installs(DAVE)) == 2  # installed, then "already installed" on the retry
    assert len(notifications_in(notifying, opened_chat(DAVE))) == 1


# --- secrets --------------------------------------------------------------------------------------


async def test_neither_the_secret_nor_a_token_reaches_the_logs(
    notifying: Service,
    graph: StandInGraph,
    installer: GraphInstaller,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    graph.fail_install(ERIN, 403, "Forbidden")
    lead = await lead_followed_by(notifying, DAVE, ERIN)
    await change_stage(notifying, lead, "50")
    await dispatcher(notifying, installer).drain()
    assert statuses(notifying, DAVE) == ["sent"]
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "Graph installation" in logged  # the outcome is logged...
    assert SECRET not in logged  # ...but never the secret
    assert "graph-token-" not in logged  # nor the token
    store = notifying.runtime.database.notifications()
    for person in (DAVE, ERIN):
        for row in store.for_recipient(TENANT, person.aad_object_id):
            for outcome, _code in store.attempts(row["id"]):
                assert SECRET not in outcome


# --- settings -------------------------------------------------------------------------------------


def test_the_feature_is_off_without_the_catalog_app_id_or_credentials() -> None:
    assert graph_installer(Settings()) is None
    assert graph_installer(Settings(app_id=APP_ID, app_password=SECRET)) is None
    assert graph_installer(Settings(teams_app_id=CATALOG_ID, app_id=APP_ID)) is None
    on = graph_installer(Settings(teams_app_id=CATALOG_ID, app_id=APP_ID, app_password=SECRET))
    assert on is not None
    on.close()


def test_settings_read_the_graph_options_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "TEAMCRM_TEAMS_APP_ID": CATALOG_ID.upper(),
            "TEAMCRM_GRAPH_BASE_URL": "https://graph.microsoft.us/v1.0/",
            "TEAMCRM_AUTHORITY_HOST": "https://login.microsoftonline.us",
        },
        dotenv=Path("/nonexistent/.env"),
    )
    assert settings.teams_app_id == CATALOG_ID
    assert settings.graph_base_url == "https://graph.microsoft.us/v1.0"
    assert settings.authority_host == "https://login.microsoftonline.us"
    defaults = Settings.from_env({}, dotenv=Path("/nonexistent/.env"))
    assert defaults.graph_base_url == "https://graph.microsoft.com/v1.0"
    assert defaults.authority_host == "https://login.microsoftonline.com"
    assert not defaults.graph_install


@pytest.mark.parametrize(
    "environment",
    [
        {"TEAMCRM_TEAMS_APP_ID": "x' or 1 eq 1 or teamsApp/id eq 'y"},
        {"TEAMCRM_GRAPH_BASE_URL": "http://graph.example/v1.0"},
        {"TEAMCRM_AUTHORITY_HOST": "http://login.example"},
    ],
)
def test_settings_refuse_a_catalog_id_that_is_not_a_guid_and_plain_http(
    environment: dict[str, str],
) -> None:
    with pytest.raises(ValueError, match="TEAMCRM_"):
        Settings.from_env(environment, dotenv=Path("/nonexistent/.env"))


def test_an_installer_without_credentials_reports_not_permitted_without_a_request() -> None:
    session = requests.Session()
    try:
        unconfigured = GraphInstaller(
            client_id=APP_ID, client_secret="", catalog_app_id=CATALOG_ID, session=session
        )
        result = unconfigured.install_for(TENANT, DAVE.aad_object_id)
    finally:
        session.close()
    assert result.outcome is InstallOutcome.NOT_PERMITTED
    assert result.detail == "not configured"
