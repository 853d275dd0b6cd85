"""Notification benchmark (issues 5 and 8): one change on a lead followed by many colleagues, each
in their own 1:1 chat, delivered by the Dispatcher to a stand-in Bot Connector on loopback. The
issue asks for 1,000 followers; a lead takes at most 1,000 (``FOLLOWERS_MAX``, the owner
included), so the full run uses the owner and 999 followers.

    python bench/notify.py [--quick] [--engines sqlite,postgresql]

(a) rate limits off: the Dispatcher's delivery rate (from the commit to the last card at the
    connector: fan-out, claim, cards drawn, sends, settling) against a plain aiohttp client
    posting the same number of cards to the same connector, in the same run;
(b) the 30-per-second tenant limit on, against a connector that enforces Teams' limits with
    429s: the rate achieved and the 429s received;
(c) idle latency from the commit of a single change to its card's arrival at the connector,
    with the dispatcher running (``Dispatcher.run`` woken by ``wake()``), p50 over 50 changes.
The connector runs in its own process (bench/servers.py); the dispatcher and the plain client
share this one. Full runs write ``## Notifications`` of BENCHMARKS.md; ``--quick`` (CI) uses 100
followers and writes nothing. Exits non-zero only on a crash, never on a missed target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    ROOT,
    Child,
    children,
    fix_path,
    free_port,
    load_average,
    machine,
    now_utc,
    percentile,
    spawn,
    verdict,
    wait_ready,
    write_section,
)

fix_path()

import aiohttp  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from bot.adapter import build_adapter  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.notify.dispatcher import Dispatcher, DispatcherOptions  # noqa: E402
from bot.notify.limits import TENANT_PER_SECOND, Limits  # noqa: E402
from bot.notify.sender import Sender  # noqa: E402
from bot.outbound import Outbound  # noqa: E402
from cards.i18n import Translator  # noqa: E402
from cards.lead import lead_card  # noqa: E402
from domain.ids import LeadId, TenantId, UserId  # noqa: E402
from domain.leads import FOLLOWERS_MAX  # noqa: E402
from domain.services import CRM  # noqa: E402
from storage.conversations import ConversationRef, ConversationType  # noqa: E402
from storage.database import Database, normalize_url  # noqa: E402

TENANT = TenantId("bench-notify")
OWNER = UserId("bench-notify-owner")
BOT_ID = "28:teamcrm-bench"
SQLITE_FILE = Path(f"/tmp/teamcrm-notify-bench-{os.getpid()}.db")  # noqa: S108 - a scratch file
PG_DATABASE = f"teamcrm_notify_bench_{os.getpid()}"  # two runs never share a database
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
DEFAULTS = DispatcherOptions()
PLAIN_CONCURRENCY = DEFAULTS.concurrency  # like for like with the dispatcher's sends
WORKER_THREADS = 8

RATE_SHARE_TARGET = 0.5  # (a) >= 50% of the plain client
LIMIT_SHARE_TARGET = 0.9  # (b) >= 90% of the configured limit, zero 429s
LATENCY_P50_TARGET_MS = 200.0  # (c)


@dataclass
class Results:
    engine: str
    followers: int
    seed_seconds: float
    dispatcher_seconds: float = 0.0
    dispatcher_sent: int = 0
    first_card_s: float = 0.0
    send_phase_rate: float = 0.0
    plain_seconds: float = 0.0
    plain_sent: int = 0
    limited_sent: int = 0
    limited_rate: float = 0.0
    limited_429: int = 0
    limited_seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    latency_methods: dict[str, int] = field(default_factory=dict)

    @property
    def dispatcher_rate(self) -> float:
        return self.dispatcher_sent / self.dispatcher_seconds if self.dispatcher_seconds else 0.0

    @property
    def plain_rate(self) -> float:
        return self.plain_sent / self.plain_seconds if self.plain_seconds else 0.0


class Connector:
    def __init__(self, child: Child) -> None:
        self.child = child
        self.url = child.url + "/"

    async def stats(self, *, arrivals: bool = False) -> dict[str, Any]:
        query = "?arrivals=1" if arrivals else ""
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.child.url}/bench/stats{query}") as response,
        ):
            stats: dict[str, Any] = await response.json()
            return stats

    async def reset(self, *, limits: bool) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.child.url}/bench/reset", json={"limits": limits}) as response,
        ):
            await response.read()

    async def wait_for(self, count: int, timeout: float) -> dict[str, Any]:
        deadline = time.perf_counter() + timeout
        while True:
            stats = await self.stats()
            if stats["sent"] >= count or time.perf_counter() > deadline:
                return stats
            await asyncio.sleep(0.005)


# --- data -------------------------------------------------------------------------------------


def open_database(engine: str, pg_url: str) -> tuple[Database, Callable[[], None]]:
    if engine == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_FILE}{suffix}").unlink(missing_ok=True)
        database = Database(f"sqlite:///{SQLITE_FILE}")

        def drop() -> None:
            database.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{SQLITE_FILE}{suffix}").unlink(missing_ok=True)

    else:
        admin = create_engine(normalize_url(pg_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"))
            connection.execute(text(f"CREATE DATABASE {PG_DATABASE}"))
        database = Database(normalize_url(pg_url).set(database=PG_DATABASE))

        def drop() -> None:
            database.dispose()
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"))
            admin.dispose()

    database.upgrade()
    return database, drop


def follower_id(n: int) -> UserId:
    return UserId(f"bench-notify-follower-{n:05d}")


def conversation_of(user: str) -> str:
    return f"a:personal-{user}"


def seed(database: Database, crm: CRM, followers: int, service_url: str) -> tuple[LeadId, LeadId]:
    """The owner (first user: admin), ``followers`` colleagues who each opened a 1:1 chat with
    the bot, a lead they all follow and a lead one of them follows (for the idle latency)."""
    crm.register_user(TENANT, OWNER, display_name="Bench Owner")
    conversations = database.conversations(TENANT)
    for n in range(followers):
        user = follower_id(n)
        crm.register_user(TENANT, user, display_name=f"Follower {n:05d}")
        conversations.upsert(
            ConversationRef(
                conversation_id=conversation_of(user),
                conversation_type=ConversationType.PERSONAL,
                service_url=service_url,
                channel_id="msteams",
                bot_id=BOT_ID,
                user_id=f"29:{user}",
                aad_object_id=user,
            )
        )
    big = crm.create_lead(TENANT, OWNER, title="Fleet renewal for everyone").id
    for n in range(followers):
        crm.add_follower(TENANT, OWNER, big, follower_id(n))
    small = crm.create_lead(TENANT, OWNER, title="Pilot for one").id
    crm.add_follower(TENANT, OWNER, small, follower_id(0))
    settle_outbox(database)
    return big, small


def settle_outbox(database: Database) -> None:
    """The follower additions above are events too: settle them so only the change measured
    reaches anyone."""
    outbox = database.outbox()
    while batch := outbox.claim("bench-seed", limit=500, lease=timedelta(minutes=5)):
        for message in batch:
            outbox.mark_done(message.id, "bench-seed")


# --- the three measurements -------------------------------------------------------------------


def stages_of(crm: CRM, lead: LeadId) -> tuple[str, str]:
    pipeline = crm.pipelines(TENANT)[0]
    return pipeline.stages[1].id, pipeline.stages[2].id


def change(crm: CRM, lead: LeadId, stages: tuple[str, str]) -> float:
    """Flip the lead's stage; the wall-clock time of the commit."""
    current = crm.get_lead(TENANT, OWNER, lead).stage_id
    target = stages[0] if current != stages[0] else stages[1]
    crm.change_stage(TENANT, OWNER, lead, target)
    return time.time()


async def dispatcher_burst(  # noqa: PLR0917 - the pieces of one measurement
    database: Database,
    crm: CRM,
    dispatcher: Dispatcher,
    connector: Connector,
    lead: LeadId,
    followers: int,
    results: Results,
) -> None:
    await connector.reset(limits=False)
    committed = await asyncio.to_thread(change, crm, lead, stages_of(crm, lead))
    started = time.perf_counter()
    await dispatcher.drain(rounds=10_000)
    results.dispatcher_seconds = time.perf_counter() - started
    stats = await connector.stats(arrivals=True)
    results.dispatcher_sent = stats["sent"]
    times = sorted(t for t, _method, _cid in stats["arrivals"])
    if times:
        results.first_card_s = times[0] - committed
        span = times[-1] - times[0]
        results.send_phase_rate = (len(times) - 1) / span if span > 0 else 0.0
    if results.dispatcher_sent != followers:
        print(f"  ! dispatcher sent {results.dispatcher_sent} of {followers}", flush=True)  # noqa: T201


async def plain_client(
    database: Database, crm: CRM, connector: Connector, lead: LeadId, followers: int
) -> tuple[int, float]:
    """The same number of cards (one real lead card, as large as the notifications), posted by
    aiohttp alone to each follower's conversation, 16 at a time."""
    await connector.reset(limits=False)
    card = lead_card(crm.lead_view(TENANT, follower_id(0), lead), Translator.for_teams("en-US"))
    gate = asyncio.Semaphore(PLAIN_CONCURRENCY)
    sent = 0

    async def post(http: aiohttp.ClientSession, n: int) -> None:
        nonlocal sent
        conversation = conversation_of(follower_id(n))
        activity = {
            "type": "message",
            "from": {"id": BOT_ID},
            "recipient": {"id": f"29:{follower_id(n)}"},
            "conversation": {"id": conversation, "tenantId": TENANT},
            "attachments": [{"contentType": CARD_TYPE, "content": card}],
        }
        async with (
            gate,
            http.post(
                f"{connector.url}v3/conversations/{conversation}/activities",
                data=json.dumps(activity),
                headers={"Content-Type": "application/json"},
            ) as response,
        ):
            await response.read()
            if response.status == 200:
                sent += 1

    started = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(post(http, n) for n in range(followers)))
    return sent, time.perf_counter() - started


async def limited_burst(  # noqa: PLR0917 - the pieces of one measurement
    crm: CRM,
    dispatcher: Dispatcher,
    connector: Connector,
    lead: LeadId,
    followers: int,
    results: Results,
) -> None:
    await connector.reset(limits=True)
    await asyncio.to_thread(change, crm, lead, stages_of(crm, lead))
    started = time.perf_counter()
    await dispatcher.drain(rounds=10_000)
    results.limited_seconds = time.perf_counter() - started
    stats = await connector.stats(arrivals=True)
    results.limited_sent = stats["sent"]
    results.limited_429 = stats["throttled"]
    times = sorted(t for t, _method, _cid in stats["arrivals"])
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    results.limited_rate = (len(times) - 1) / span if span > 0 else 0.0
    await connector.reset(limits=False)


async def idle_latency(  # noqa: PLR0917 - the pieces of one measurement
    crm: CRM,
    dispatcher: Dispatcher,
    connector: Connector,
    lead: LeadId,
    changes: int,
    results: Results,
) -> None:
    """The dispatcher idles in ``run`` (woken like the service wakes it after a turn)."""
    await connector.reset(limits=False)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    stages = stages_of(crm, lead)
    try:
        await asyncio.sleep(0.2)
        for n in range(changes):
            committed = await asyncio.to_thread(change, crm, lead, stages)
            dispatcher.wake()
            await connector.wait_for(n + 1, timeout=10.0)
            await asyncio.sleep(0.1)  # idle again before the next change
            stats = await connector.stats(arrivals=True)
            if len(stats["arrivals"]) > n:
                arrived, method, _cid = stats["arrivals"][n]
                results.latencies_ms.append((arrived - committed) * 1000)
                results.latency_methods[method] = results.latency_methods.get(method, 0) + 1
    finally:
        stop.set()
        await asyncio.wait({task}, timeout=10)


async def run_engine(engine: str, args: argparse.Namespace, connector: Connector) -> Results:
    followers = 100 if args.quick else args.followers
    if followers > FOLLOWERS_MAX - 1:
        # The domain refuses more followers on one lead (the owner is one); the issue asked
        # for 1,000.
        followers = FOLLOWERS_MAX - 1
        print(f"  a lead takes {FOLLOWERS_MAX} followers, its owner included: {followers}")  # noqa: T201
    print(f"== {engine}: {followers} followers", flush=True)  # noqa: T201
    database, drop = open_database(engine, args.pg_url)
    executor = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="bench-notify")
    outbound = Outbound()
    try:
        crm = CRM(database.uow)
        started = time.perf_counter()
        big, small = await asyncio.to_thread(seed, database, crm, followers, connector.url)
        results = Results(engine, followers, time.perf_counter() - started)
        adapter = build_adapter(Settings(run_dispatcher=False), outbound=outbound)
        base = DispatcherOptions(limits=Limits(enabled=False))
        unlimited = Dispatcher(database, crm, Sender(adapter, ""), executor, base)
        await dispatcher_burst(database, crm, unlimited, connector, big, followers, results)
        print(  # noqa: T201
            f"  (a) dispatcher: {results.dispatcher_sent} cards in "
            f"{results.dispatcher_seconds:.2f} s "
            f"= {results.dispatcher_rate:.0f}/s (first card {results.first_card_s * 1000:.0f} ms "
            f"after the commit; sending phase {results.send_phase_rate:.0f}/s)",
            flush=True,
        )
        results.plain_sent, results.plain_seconds = await plain_client(
            database, crm, connector, big, followers
        )
        print(  # noqa: T201
            f"  (a) plain aiohttp: {results.plain_sent} in {results.plain_seconds:.2f} s = "
            f"{results.plain_rate:.0f}/s",
            flush=True,
        )
        # A fresh dispatcher (fresh limiter) and a window of 0: every change is a new card,
        # as after a quiet spell; with the default window they would update cards in place.
        limited = Dispatcher(
            database,
            crm,
            Sender(adapter, ""),
            executor,
            replace(base, limits=Limits(enabled=True), window=timedelta(0)),
        )
        await limited_burst(crm, limited, connector, big, followers, results)
        print(  # noqa: T201
            f"  (b) limited: {results.limited_sent} cards at {results.limited_rate:.1f}/s "
            f"(limit {TENANT_PER_SECOND}/s), {results.limited_429} 429s, "
            f"{results.limited_seconds:.1f} s",
            flush=True,
        )
        idle = Dispatcher(database, crm, Sender(adapter, ""), executor, DispatcherOptions())
        await idle_latency(crm, idle, connector, small, 10 if args.quick else 50, results)
        print(  # noqa: T201
            f"  (c) idle latency p50 {percentile(results.latencies_ms, 50):.0f} ms, "
            f"p95 {percentile(results.latencies_ms, 95):.0f} ms over "
            f"{len(results.latencies_ms)} changes {results.latency_methods}",
            flush=True,
        )
        return results
    finally:
        await outbound.close()
        executor.shutdown(wait=True)
        drop()


def render(runs: list[Results], command: str, started: str, load: str) -> str:
    lines = [
        f"`{command}` on {started}; machine: {machine()}; load average at start {load} "
        "(the machine is shared with other engineers' test runs).",
        "",
        "One change (a stage change by the lead's owner) on a lead followed by every seeded "
        "colleague, each with a stored 1:1 conversation reference. The Dispatcher runs with its "
        f"defaults (batch {DEFAULTS.batch_size}, {DEFAULTS.concurrency} concurrent sends, "
        f"{WORKER_THREADS} worker threads) in this process, sending through the connector "
        "client the service's own CloudAdapter caches (bot/adapter.py, bot/outbound.py); the "
        "stand-in connector runs in its own process and answers at once.",
        "",
        "| engine | (a) dispatcher, limits off | (a) plain aiohttp | (a) ratio, target >= 50% "
        "| (b) 30/s limit on: rate, 429s | (b) target >= 27/s, 0 429s | (c) idle p50 / p95 "
        "| (c) target p50 <= 200 ms |",
        "|---|---:|---:|---|---|---|---|---|",
    ]
    for r in runs:
        share = r.dispatcher_rate / r.plain_rate if r.plain_rate else 0.0
        limited_ok = r.limited_rate >= LIMIT_SHARE_TARGET * TENANT_PER_SECOND and r.limited_429 == 0
        p50 = percentile(r.latencies_ms, 50)
        lines.append(
            f"| {r.engine} ({r.followers:,} followers) | {r.dispatcher_rate:,.0f}/s "
            f"({r.dispatcher_sent} in {r.dispatcher_seconds:.2f} s) | {r.plain_rate:,.0f}/s "
            f"({r.plain_sent} in {r.plain_seconds:.2f} s) | {share:.0%}: "
            f"{verdict(share >= RATE_SHARE_TARGET)} | {r.limited_rate:.1f}/s, {r.limited_429} "
            f"| {verdict(limited_ok)} | {p50:.0f} / {percentile(r.latencies_ms, 95):.0f} ms "
            f"| {verdict(p50 <= LATENCY_P50_TARGET_MS)} |"
        )
    lines.append("")
    lines.extend(
        f"- {r.engine}: seeding {r.followers:,} users, references and followers took "
        f"{r.seed_seconds:.1f} s. (a) first card at the connector "
        f"{r.first_card_s * 1000:.0f} ms after the commit; once cards flow, "
        f"{r.send_phase_rate:,.0f}/s. (b) {r.limited_sent} cards in "
        f"{r.limited_seconds:.1f} s. (c) {len(r.latencies_ms)} changes, deliveries "
        f"{r.latency_methods} (a later change inside the 30 s window updates the card)."
        for r in runs
    )
    return "\n".join(lines) + "\n"


async def main_async(args: argparse.Namespace, command: str) -> list[Results]:
    started, load = now_utc(), load_average()
    runs: list[Results] = []
    with children() as kids:
        port = free_port()
        child = kids.add(
            spawn(
                "notify-connector",
                [str(ROOT / "bench" / "servers.py"), "connector", "--port", str(port)],
                port=port,
            )
        )
        await wait_ready(child, "/readyz")
        connector = Connector(child)
        runs = [await run_engine(engine, args, connector) for engine in args.engines]
    report = render(runs, command, started, load)
    print(report)  # noqa: T201
    if not args.quick and not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", "Notifications", report)
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100 followers, SQLite, for CI")
    parser.add_argument("--engines", help="comma-separated: sqlite,postgresql")
    parser.add_argument("--followers", type=int, default=1000, help="capped by the domain (500)")
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="where to create the bench DB")
    parser.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    args = parser.parse_args(argv)
    engines = args.engines or ("sqlite" if args.quick else "sqlite,postgresql")
    args.engines = [e.strip() for e in engines.split(",") if e.strip()]
    command = "python bench/notify.py " + " ".join(argv if argv is not None else sys.argv[1:])
    # A SIGTERM unwinds like Ctrl-C, so every child process and scratch database goes too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    asyncio.run(main_async(args, command.strip()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
