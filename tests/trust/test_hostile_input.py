"""Over ten thousand generated requests at the real app: broken JSON, wrong types, missing and
huge fields, unicode edge cases, unknown activity types, forged card data.

Whatever arrives: never a 5xx, nothing logged at ERROR (an escaped exception is logged there),
every card answered is a valid one, and a refused request (4xx) leaves every table as it was.

Each test drives one app on a private event loop, so hypothesis (synchronous) can post one
example after another to the same running service. Derandomized: CI sees the same inputs.
The full counts run on SQLite; PostgreSQL runs a tenth of them (its own encoding rules, such as
no NUL in text, are what it adds).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import MetaData, func, inspect, select
from sqlalchemy.engine import URL

from cards import verbs
from storage.database import Database
from tests.bot.conftest import (
    ALICE,
    BOB,
    CARD_BUDGET_BYTES,
    Service,
    check_card,
    settings_for,
)
from tests.storage.conftest import empty_tables
from tests.support import activities
from tests.support.activities import Person
from tests.support.connector import StandInConnector
from tests.trust.conftest import Running, run_service, tenant_rows
from tests.trust.sweep import Target, create_target

TENANT = "tenant-hostile"
FOREIGN = "tenant-foreign"
MAX_BODY = 64 * 1024
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
# Refusals bot/http.py makes before anything is read or written. Others come from the turn,
# after it recorded the user and the conversation (an invoke the bot does not offer, or one
# botbuilder refuses itself): the user's profile may be updated (with its history and outbox
# rows), the CRM's records may not.
BEFORE_THE_TURN = frozenset(
    {"malformed JSON", "not an activity", "request too large", "expected application/json"}
)
CRM_TABLES = frozenset(
    {
        "accounts",
        "leads",
        "contacts",
        "comments",
        "lead_followers",
        "lead_participants",
        "reminders",
        "account_labels",
        "contact_tags",
        "lead_tags",
    }
)
# The stand-in connector routes only well-formed conversation and activity ids (as the real
# one answers only for conversations that exist); a refused reply is the 503 path that
# tests/bot/test_service.py covers, so generated ids that could not be routed are replaced.
ROUTABLE = re.compile(r"[A-Za-z0-9:@_;=-][A-Za-z0-9:@._;=-]*")


class ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Hostile:
    """The running app on its own loop, and what a test needs to judge each answer."""

    loop: asyncio.AbstractEventLoop
    running: Running
    database: Database
    connector: StandInConnector
    engine: str
    own: Target
    foreign: Target
    errors: ErrorRecords
    tables: list[Any] = field(default_factory=list)
    validated: set[str] = field(default_factory=set)

    @property
    def service(self) -> Service:
        return self.running.service

    def scaled(self, count: int) -> int:
        return count if self.engine == "sqlite" else max(count // 10, 10)

    def counts(self) -> dict[str, int]:
        """Rows in every table, in one round trip (this runs twice per example)."""
        statement = select(
            *(select(func.count()).select_from(t).scalar_subquery() for t in self.tables)
        )
        with self.database.engine.connect() as connection:
            row = connection.execute(statement).one()
        return dict(zip((t.name for t in self.tables), row, strict=True))

    def post(
        self, body: bytes, content_type: str = "application/json"
    ) -> tuple[int, bytes, list[dict[str, Any]]]:
        """POST raw bytes; the status, the body, and the cards sent to the connector."""

        async def send() -> tuple[int, bytes]:
            async with self.service.http.post(
                f"{self.service.url}/api/messages",
                data=body,
                headers={"Content-Type": content_type},
            ) as response:
                return response.status, await response.read()

        before = len(self.connector.sent)
        status, raw = self.loop.run_until_complete(send())
        cards = [card for sent in self.connector.sent[before:] for card in sent.cards]
        return status, raw, cards

    def post_json(self, value: Any) -> tuple[int, bytes, list[dict[str, Any]]]:
        # ensure_ascii: lone surrogates travel as \ud800 escapes, the way a hostile client sends
        return self.post(json.dumps(value, ensure_ascii=True).encode())

    def judge(self, value: Any, *, refused_only: bool = False) -> int:
        """Post, then hold the answer to the rules above; returns the status."""
        before = self.counts()
        self.errors.records.clear()
        status, raw, cards = self.post_json(value)
        self.check(status, raw, cards, before)
        if refused_only:
            assert 400 <= status < 500, status
        return status

    def check(
        self, status: int, raw: bytes, cards: list[dict[str, Any]], before: dict[str, int]
    ) -> None:
        assert status < 500, (status, raw[:300])
        assert self.errors.records == [], [
            (r.getMessage(), r.exc_info and repr(r.exc_info[1])) for r in self.errors.records
        ][:3]
        if status >= 400:
            after = self.counts()
            answer = json.loads(raw) if raw else None
            if not (isinstance(answer, dict) and answer.get("error") in BEFORE_THE_TURN):
                # Refused by the turn: who spoke may be recorded, nothing of the CRM moved.
                after = {k: v for k, v in after.items() if k in CRM_TABLES}
                before = {k: v for k, v in before.items() if k in CRM_TABLES}
            assert after == before
            return
        for card in cards:
            self.check_card(card)
        if status == 200 and raw:
            answer = json.loads(raw)
            if isinstance(answer, dict) and answer.get("type") == CARD_TYPE:
                self.check_card(answer["value"])

    def check_card(self, card: dict[str, Any]) -> None:
        """Schema and budget, with the schema run once per card structure: validating a lead
        card costs over 100 ms, and thousands of answers share a few dozen structures."""
        size = len(json.dumps(card, separators=(",", ":"), ensure_ascii=False).encode())
        assert size <= CARD_BUDGET_BYTES, size
        shape = json.dumps(_skeleton(card), sort_keys=True)
        if shape not in self.validated:
            check_card(card)
            self.validated.add(shape)


@pytest.fixture
def hostile(engine_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hostile]:
    if engine_name == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, tmp_path / "teamcrm.db")
        database = Database(f"sqlite:///{tmp_path / 'teamcrm.db'}")
    else:
        url: URL = request.getfixturevalue("postgres_url")
        database = Database(url)
        empty_tables(database)
    loop = asyncio.new_event_loop()
    connector = StandInConnector()
    errors = ErrorRecords()
    logging.getLogger().addHandler(errors)

    async def start() -> tuple[Running, Target, Target]:
        await connector.start()
        running = await run_service(
            settings_for(database, max_body_bytes=MAX_BODY), connector, TENANT
        )
        foreign = await create_target(
            running.service,
            BOB,
            FOREIGN,
            title="Foreign secret",
            account="Foreign Inc",
            contact="Fiona Far",
        )
        own = await create_target(
            running.service,
            ALICE,
            TENANT,
            title="Own deal",
            account="Own Co",
            contact="Olga Own",
        )
        return running, own, foreign

    running, own, foreign = loop.run_until_complete(start())
    reflected = MetaData()
    reflected.reflect(database.engine, only=inspect(database.engine).get_table_names())
    fixture = Hostile(
        loop=loop,
        running=running,
        database=database,
        connector=connector,
        engine=engine_name,
        own=own,
        foreign=foreign,
        errors=errors,
        tables=[t for t in reflected.sorted_tables if t.name != "alembic_version"],
    )
    foreign_before = tenant_rows(database, FOREIGN)
    try:
        yield fixture
        # Whatever was pressed with the foreign tenant's ids, its records did not move.
        assert tenant_rows(database, FOREIGN) == foreign_before
    finally:
        logging.getLogger().removeHandler(errors)
        loop.run_until_complete(running.stop())
        loop.run_until_complete(connector.stop())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        database.dispose()


def _skeleton(node: Any) -> Any:
    """The card with its free text blanked: what the schema judges besides string types."""
    if isinstance(node, dict):
        return {k: v if k == "type" else _skeleton(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_skeleton(item) for item in node]
    return "" if isinstance(node, str) else node


def run_examples(
    count: int,
    strategy: st.SearchStrategy[Any],
    test: Callable[[Any], None],
    pinned: tuple[Any, ...] = (),
) -> None:
    """``count`` generated examples, after the ``pinned`` ones (run on every engine)."""

    @settings(
        max_examples=count,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(strategy)
    def inner(value: Any) -> None:
        test(value)

    for value in pinned:
        inner = example(value)(inner)
    inner()


# --- strategies ------------------------------------------------------------------------------

EDGE_TEXT = st.sampled_from(
    [
        "\x00",
        "a\x00b",
        "\ud800",
        "\udfff lone low",
        "x\ud83d",
        "\u202eRTL override\u202c",
        "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
        "\U0001f680\U0001f9d1\u200d\U0001f4bc emoji",
        "e\u0301\u0301\u0301\u0301\u0301\u0301",
        "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319",
        "\ufeffbom",
        "\u200b\u200c\u200d",
        "\uffff\ufffe",
        "<at>TeamCRM</at>",
        "'; DROP TABLE leads; --",
        "%s%s%s{0}{}",
        "../../etc/passwd",
        "\r\n\t",
        "",
        " ",
    ]
)
TEXT = st.one_of(
    st.text(max_size=60),
    EDGE_TEXT,
    st.builds(lambda a, b: a + b, EDGE_TEXT, st.text(max_size=20)),
    # Long values, built by repetition: drawing thousands of characters one by one is slow.
    st.builds(
        lambda part, times: part * times, st.text(min_size=1, max_size=8), st.integers(100, 400)
    ),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=8,
)

ACTIVITY_TYPES = st.sampled_from(
    [
        "message",
        "invoke",
        "conversationUpdate",
        "installationUpdate",
        "messageReaction",
        "typing",
        "endOfConversation",
        "event",
        "deleteUserData",
        "handoff",
        "x-unknown",
        "",
    ]
)
INVOKE_NAMES = st.sampled_from(
    [
        "adaptiveCard/action",
        "composeExtension/query",
        "composeExtension/fetchTask",
        "task/fetch",
        "signin/verifyState",
        "fileConsent/invoke",
        "actionableMessage/executeAction",
        "unknown/thing",
    ]
)
PATHS = st.sampled_from(
    [
        ("type",),
        ("id",),
        ("text",),
        ("locale",),
        ("name",),
        ("value",),
        ("serviceUrl",),
        ("channelId",),
        ("from",),
        ("from", "id"),
        ("from", "aadObjectId"),
        ("from", "name"),
        ("recipient",),
        ("recipient", "id"),
        ("conversation",),
        ("conversation", "id"),
        ("conversation", "conversationType"),
        ("conversation", "tenantId"),
        ("channelData",),
        ("channelData", "tenant"),
        ("channelData", "tenant", "id"),
        ("entities",),
        ("membersAdded",),
        ("attachments",),
        ("value", "action"),
        ("value", "action", "verb"),
        ("value", "action", "data"),
        ("value", "parameters"),
        ("timestamp",),
        ("replyToId",),
    ]
)


def _set(activity: dict[str, Any], path: tuple[str, ...], value: Any, *, delete: bool) -> None:
    node: Any = activity
    for key in path[:-1]:
        if not isinstance(node, dict):
            return
        node = node.setdefault(key, {})
    if not isinstance(node, dict):
        return
    if delete:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


# --- the tests ---------------------------------------------------------------------------------


def test_bytes_that_are_not_json_are_refused_with_nothing_stored(hostile: Hostile) -> None:
    bodies = st.one_of(
        st.binary(max_size=300),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
        JSON.map(lambda v: json.dumps(v).encode()[:-1] + b"\x00"),
        st.sampled_from([b"", b"{", b"[", b'{"type": "message"', b"\xff\xfe{}", b"nul\x00"]),
        # Nesting deeper than the parser's recursion limit, within the size limit.
        st.integers(2000, 20000).map(lambda n: b"[" * n + b"]" * n),
        st.integers(2000, 6000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    )

    def check(body: bytes) -> None:
        before = hostile.counts()
        hostile.errors.records.clear()
        status, raw, cards = hostile.post(body)
        hostile.check(status, raw, cards, before)
        # A generated JSON value can outgrow the size limit: then it is refused unread.
        assert status == (413 if len(body) > MAX_BODY else 400), (body[:80], len(body), status)

    run_examples(hostile.scaled(2000), bodies, check)


def test_json_that_is_not_an_activity_is_refused_with_nothing_stored(hostile: Hostile) -> None:
    def check(value: Any) -> None:
        # 413 when escaping made the body outgrow the limit
        assert hostile.judge(value, refused_only=True) in {400, 413}

    not_activities = st.one_of(
        JSON,
        st.dictionaries(
            st.sampled_from(["type", "text", "serviceUrl", "conversation", "from", "value"]),
            SCALARS,
            max_size=6,
        ),
    )
    run_examples(hostile.scaled(2000), not_activities, check)


def _seed(hostile: Hostile, kind: str, user: Person) -> dict[str, Any]:
    url = hostile.connector.url
    if kind == "message":
        return activities.message("help", service_url=url, tenant_id=TENANT, user=user)
    if kind == "invoke":
        return activities.card_action(
            verbs.LEAD_SHOW,
            {verbs.LEAD_ID: hostile.own.lead_id},
            service_url=url,
            tenant_id=TENANT,
            user=user,
        )
    return activities.installed(service_url=url, tenant_id=TENANT, user=user)


@st.composite
def mutated_activities(draw: st.DrawFn, hostile: Hostile) -> dict[str, Any]:
    activity = _seed(
        hostile,
        draw(st.sampled_from(["message", "invoke", "installed"])),
        draw(st.sampled_from([ALICE, BOB])),
    )
    if draw(st.booleans()):
        activity["type"] = draw(ACTIVITY_TYPES)
    if activity.get("type") == "invoke" and draw(st.booleans()):
        activity["name"] = draw(INVOKE_NAMES)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(PATHS)
        delete = draw(st.integers(0, 3)) == 0
        value = draw(JSON)
        if path == ("serviceUrl",):
            # Never a reachable host other than the stand-in: replies go only to loopback.
            value = draw(st.one_of(SCALARS.filter(lambda v: not _is_url(v)), st.just(None)))
        _set(activity, path, value, delete=delete)
    conversation = activity.get("conversation")
    if (
        isinstance(conversation, dict)
        and isinstance(conversation.get("id"), str)
        and not ROUTABLE.fullmatch(conversation["id"])
    ):
        conversation["id"] = "a:conversation-renamed"
    for key in ("id", "replyToId"):
        if isinstance(activity.get(key), str) and not ROUTABLE.fullmatch(activity[key]):
            del activity[key]
    return activity


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.lower().lstrip().startswith(("http://", "https://"))


def test_mutated_activities_never_break_the_service(hostile: Hostile) -> None:
    def check(activity: dict[str, Any]) -> None:
        hostile.judge(activity)

    run_examples(hostile.scaled(3500), mutated_activities(hostile), check)


def test_hostile_text_in_every_command_gets_a_valid_card(hostile: Hostile) -> None:
    prefixes = st.sampled_from(
        [
            "",
            "new lead ",
            "find ",
            "lead ",
            "lead #",
            "account ",
            "contact ",
            "follow ",
            "unfollow ",
            "my leads ",
            "new lead x for ",
            "nouveau lead ",
            "<at>TeamCRM</at> ",
        ]
    )
    texts = st.builds(lambda p, t: p + t, prefixes, TEXT)
    seen = {"count": 0}

    def check(text: str) -> None:
        activity = activities.message(
            text,
            service_url=hostile.connector.url,
            tenant_id=TENANT,
            user=ALICE,
            locale="pt-BR" if seen["count"] % 3 == 0 else "en-US",
        )
        seen["count"] += 1
        status = hostile.judge(activity)
        if _has_lone_surrogate(text):
            assert status == 400  # no database can store it: refused before anything is read
        else:
            assert status in {200, 201}

    pinned = tuple(
        prefix + text
        for prefix in ("new lead ", "find ", "lead #", "account ", "contact ")
        for text in ("a\x00b", "\x00", "\u202eRTL\u202c", "e\u0301\u0301", "\U0001f680", "\ud800")
    )
    run_examples(hostile.scaled(1000), texts, check, pinned)


@st.composite
def card_presses(draw: st.DrawFn, hostile: Hostile) -> dict[str, Any]:
    verb = draw(st.one_of(st.sampled_from(sorted(verbs.CONTRACT)), TEXT))
    own, foreign = hostile.own, hostile.foreign
    ids = st.one_of(
        st.sampled_from(
            [*own.ids, *foreign.ids, *own.stage_ids, own.pipeline_id, foreign.pipeline_id]
        ),
        TEXT,
        SCALARS,
    )
    versions = st.one_of(
        st.integers(min_value=-5, max_value=10),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from(["1", "01", " 2 ", "1e3", "-1", "99999999999999", True, 1.5, None, ""]),
    )
    keys = sorted({key for fixed, inputs in verbs.CONTRACT.values() for key in (*fixed, *inputs)})
    data: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(keys), max_size=6)):
        data[key] = draw(versions if key == verbs.VERSION else st.one_of(ids, TEXT))
    action: Any = {"type": "Action.Execute", "verb": verb, "data": data}
    if draw(st.integers(0, 9)) == 0:
        action = draw(JSON)
    elif draw(st.integers(0, 19)) == 0:
        depth = draw(st.integers(100, 900))  # deep, yet within what the parser accepts
        action = {
            "type": "Action.Execute",
            "verb": verb,
            "data": json.loads("[" * depth + "]" * depth),
        }
    activity = activities.card_action(
        "help",
        {},
        service_url=hostile.connector.url,
        tenant_id=TENANT,
        user=draw(st.sampled_from([ALICE, BOB])),
    )
    activity["value"] = {"action": action, "trigger": "manual"}
    return activity


def test_forged_card_data_gets_a_card_and_moves_nothing_foreign(hostile: Hostile) -> None:
    def check(activity: dict[str, Any]) -> None:
        status = hostile.judge(activity)
        assert status == (
            400 if _has_lone_surrogate(json.dumps(activity, ensure_ascii=False)) else 200
        )

    run_examples(hostile.scaled(1500), card_presses(hostile), check)


def test_bodies_over_the_limit_are_a_413_with_nothing_stored(hostile: Hostile) -> None:
    def check(size: int) -> None:
        activity = activities.message(
            "new lead " + "x" * size,
            service_url=hostile.connector.url,
            tenant_id=TENANT,
            user=ALICE,
        )
        before = hostile.counts()
        hostile.errors.records.clear()
        status, raw, cards = hostile.post(json.dumps(activity).encode())
        hostile.check(status, raw, cards, before)
        assert status == 413

    run_examples(hostile.scaled(60), st.integers(MAX_BODY, 4 * MAX_BODY), check)
