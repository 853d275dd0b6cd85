"""Storage benchmark: seed a realistic data set, then time every list query and a stage change.

    python bench/storage.py --engine sqlite|postgresql [--quick] [--url URL] [--write]

Full size: 100,000 accounts, 300,000 contacts and 200,000 leads over 10 tenants, one of them
holding 55% of everything. Queries run against the large tenant, as an admin (sees all) and as
a member (access filters at work), for the first page and for a page 2,000 rows deep.
``--quick`` seeds 1% of that so CI can run it in seconds. Results go to ``## Storage`` of
BENCHMARKS.md (full runs by default, quick runs only with ``--write``).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, select
from sqlalchemy.schema import CreateSchema, DropSchema

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from domain.access import Viewer  # noqa: E402 - after the path tweak, so the bench runs from a checkout
from domain.accounts import Classification  # noqa: E402
from domain.common import Stamp  # noqa: E402
from domain.ids import AccountId, ContactId, LeadId, PipelineId, TenantId, UserId  # noqa: E402
from domain.queries import AccountFilter, ContactFilter, LeadFilter  # noqa: E402
from domain.services import CRM  # noqa: E402
from domain.settings import Pipeline  # noqa: E402
from domain.statuses import CustomerStatus, LeadStatus, ProspectStatus  # noqa: E402
from domain.users import Role  # noqa: E402
from storage.database import Database, normalize_url  # noqa: E402
from storage.mapping import pipeline_values, sort_key  # noqa: E402
from storage.queries import SqlQueries  # noqa: E402
from storage.rows import (  # noqa: E402
    AccountLabelRow,
    AccountRow,
    ContactRow,
    ContactTagRow,
    HistoryRow,
    LeadFollowerRow,
    LeadParticipantRow,
    LeadRow,
    LeadTagRow,
    PipelineRow,
    SettingsRow,
    UserRow,
)

FULL = {"accounts": 100_000, "contacts": 300_000, "leads": 200_000}
TENANTS = 10
LARGE_SHARE = 0.55
TAGS = [f"tag{i:02d}" for i in range(30)]
CHARACTERISTICS = [f"char{i}" for i in range(10)]
INTERESTS = [f"area{i}" for i in range(10)]
SYLLABLES = ["ka", "lo", "mi", "ne", "ra", "to", "vu", "zi", "bo", "de", "fa", "gu", "hi", "jo"]
DEEP_ROWS = 2_000
CHUNK = 5_000
QUERY_TARGET_MS = 20.0
STAGE_TARGET_MS = {"sqlite": 5.0, "postgresql": 10.0}


def word(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


@dataclass
class Tenant:
    id: TenantId
    users: list[UserId]
    admin: UserId
    member: UserId
    pipeline: Pipeline
    accounts: list[str] = field(default_factory=list)
    contacts: list[str] = field(default_factory=list)
    leads: list[str] = field(default_factory=list)


@dataclass
class Seeded:
    tenants: list[Tenant]
    rows: int
    seconds: float


def chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def seed(database: Database, scale: float, rng: random.Random) -> Seeded:  # noqa: PLR0915 - one pass per tenant over every table reads best whole
    """Bulk inserts straight into the tables (Core executemany), as an import would."""
    now = datetime.now(UTC)
    stamp = Stamp(actor_id=None, at=now)
    shares = [LARGE_SHARE] + [(1 - LARGE_SHARE) / (TENANTS - 1)] * (TENANTS - 1)
    tenants: list[Tenant] = []
    written = 0
    started = time.perf_counter()
    for index, share in enumerate(shares):
        tenant_id = TenantId(f"bench-{index}")
        user_count = 200 if index == 0 else 20
        users = [UserId(f"{tenant_id}-user-{n}") for n in range(user_count)]
        pipeline = Pipeline.default(tenant_id, stamp)
        tenant = Tenant(tenant_id, users, users[0], users[1], pipeline)
        tenants.append(tenant)
        tables: dict[Any, list[dict[str, Any]]] = {
            key: []
            for key in (
                UserRow,
                SettingsRow,
                PipelineRow,
                AccountRow,
                AccountLabelRow,
                ContactRow,
                ContactTagRow,
                LeadRow,
                LeadFollowerRow,
                LeadTagRow,
                LeadParticipantRow,
                HistoryRow,
            )
        }
        managers = users[2:12]
        for n, user in enumerate(users):
            role = Role.ADMIN if n == 0 else Role.MANAGER if user in managers else Role.MEMBER
            name = f"{word(rng, 2)} {word(rng, 3)}"
            tables[UserRow].append(
                {
                    "tenant_id": tenant_id,
                    "id": user,
                    "display_name": name,
                    "name_key": sort_key(name),
                    "email": f"{user}@example.com",
                    "role": role.value,
                    "manager_id": rng.choice(managers) if role is Role.MEMBER and n > 1 else None,
                    "version": 1,
                }
            )
        tables[SettingsRow].append(
            {
                "tenant_id": tenant_id,
                "other_label": "Other",
                "default_currency": "EUR",
                "characteristics": [],
                "interest_areas": [],
                "custom_fields": [],
                "version": 1,
            }
        )
        tables[PipelineRow].append({**pipeline_values(pipeline), "version": 1})
        stages = [stage.id for stage in pipeline.stages]

        for _ in range(max(1, int(FULL["accounts"] * scale * share))):
            account_id = uuid.uuid4().hex
            name = f"{word(rng, rng.randint(2, 4))} {rng.choice(['SA', 'GmbH', 'Ltd', 'Inc'])}"
            key = sort_key(name)
            responsibles = rng.sample(users[1:], rng.randint(1, 2))
            tags = rng.sample(TAGS, rng.randint(0, 3))
            characteristics = rng.sample(CHARACTERISTICS, rng.randint(0, 2))
            interests = rng.sample(INTERESTS, rng.randint(0, 2))
            tables[AccountRow].append(
                {
                    "tenant_id": tenant_id,
                    "id": account_id,
                    "name": name,
                    "name_key": key,
                    "classification": rng.choice(list(Classification)).value,
                    "characteristics": characteristics,
                    "interests": interests,
                    "disinterests": [],
                    "responsible_ids": sorted(responsibles),
                    "relationships": [],
                    "documents": [],
                    "tags": tags,
                    "custom_fields": {},
                    "prospect_status": rng.choice(list(ProspectStatus)).value,
                    "customer_status": rng.choice(list(CustomerStatus)).value,
                    "created_by": responsibles[0],
                    "created_at": now,
                    "version": 1,
                }
            )
            for kind, values in (
                ("responsible", responsibles),
                ("tag", tags),
                ("characteristic", characteristics),
                ("interest", interests),
            ):
                tables[AccountLabelRow].extend(
                    {
                        "tenant_id": tenant_id,
                        "account_id": account_id,
                        "kind": kind,
                        "value": value,
                        "name_key": key,
                    }
                    for value in values
                )
            tenant.accounts.append(account_id)

        for _ in range(max(1, int(FULL["contacts"] * scale * share))):
            contact_id = uuid.uuid4().hex
            name = f"{word(rng, 2)} {word(rng, 3)}"
            email = f"{name.replace(' ', '.').lower()}{rng.randint(1, 999)}@example.com"
            tags = rng.sample(TAGS, rng.randint(0, 2))
            tables[ContactRow].append(
                {
                    "tenant_id": tenant_id,
                    "id": contact_id,
                    "name": name,
                    "name_key": sort_key(name),
                    "job_title": None,
                    "email": email,
                    "email_key": sort_key(email),
                    "phone": None,
                    "account_id": rng.choice(tenant.accounts) if rng.random() < 0.8 else None,
                    "tags": tags,
                    "custom_fields": {},
                    "prospect_status": rng.choice(list(ProspectStatus)).value,
                    "customer_status": rng.choice(list(CustomerStatus)).value,
                    "created_by": rng.choice(users),
                    "created_at": now,
                    "version": 1,
                }
            )
            tables[ContactTagRow].extend(
                {
                    "tenant_id": tenant_id,
                    "contact_id": contact_id,
                    "tag": tag,
                    "name_key": sort_key(name),
                }
                for tag in tags
            )
            tenant.contacts.append(contact_id)

        statuses = (
            [LeadStatus.OPEN] * 12
            + [LeadStatus.WON] * 4
            + [LeadStatus.LOST] * 3
            + [LeadStatus.UNQUALIFIED]
        )
        for number in range(1, max(2, int(FULL["leads"] * scale * share)) + 1):
            lead_id = uuid.uuid4().hex
            owner = rng.choice(users[1:])
            followers = {owner, *rng.sample(users, rng.randint(0, 2))}
            tags = rng.sample(TAGS, rng.randint(0, 2))
            participants = rng.sample(tenant.contacts, rng.randint(0, 2))
            title = f"{word(rng, 3)} {rng.choice(['renewal', 'upsell', 'pilot', 'fleet'])}"
            status = rng.choice(statuses)
            activity = now - timedelta(minutes=rng.randint(0, 180 * 24 * 60))
            lead_account = rng.choice(tenant.accounts) if rng.random() < 0.8 else None
            tables[LeadRow].append(
                {
                    "tenant_id": tenant_id,
                    "id": lead_id,
                    "number": number,
                    "title": title,
                    "title_key": sort_key(title),
                    "owner_id": owner,
                    "pipeline_id": pipeline.id,
                    "stage_id": rng.choice(stages),
                    "account_id": lead_account,
                    "contact_id": rng.choice(tenant.contacts) if rng.random() < 0.7 else None,
                    "participants": [{"contact_id": c, "role": None} for c in participants],
                    "follower_ids": sorted(followers),
                    "status": status.value,
                    "lost_reason": None,
                    "amount_cents": rng.randint(1_000, 10_000_000),
                    "currency": "EUR",
                    "close_date": None,
                    "tags": tags,
                    "description": None,
                    "custom_fields": {},
                    "origin_lead_id": None,
                    "created_at": activity,
                    "last_activity_at": activity,
                    "closed_at": None if status is LeadStatus.OPEN else activity,
                    "version": 1,
                }
            )
            tables[LeadFollowerRow].extend(
                {"tenant_id": tenant_id, "lead_id": lead_id, "user_id": u, "number": number}
                for u in followers
            )
            tables[LeadTagRow].extend(
                {"tenant_id": tenant_id, "lead_id": lead_id, "tag": t, "number": number}
                for t in tags
            )
            tables[LeadParticipantRow].extend(
                {"tenant_id": tenant_id, "lead_id": lead_id, "contact_id": c, "number": number}
                for c in participants
            )
            tables[HistoryRow].append(
                {
                    "tenant_id": tenant_id,
                    "subject_kind": "lead",
                    "subject_id": lead_id,
                    "account_id": lead_account,
                    "event_name": "lead.created",
                    "actor_id": owner,
                    "occurred_at": activity,
                    "payload": {"name": "lead.created", "title": title},
                }
            )
            tenant.leads.append(lead_id)

        with database.engine.begin() as connection:
            for row, table_rows in tables.items():
                for chunk in chunks(table_rows):
                    connection.execute(insert(row), chunk)
                written += len(table_rows)
    return Seeded(tenants, written, time.perf_counter() - started)


def analyze(database: Database) -> None:
    """Fresh statistics, as a maintained database has (autovacuum / PRAGMA optimize)."""
    if database.dialect == "sqlite":
        with database.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    else:
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE")


@dataclass
class Result:
    name: str
    timings: list[float]
    target: float

    @property
    def p50(self) -> float:
        return statistics.median(self.timings)

    @property
    def p99(self) -> float:
        ordered = sorted(self.timings)
        return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def timed(call: Callable[[], object], runs: int) -> list[float]:
    call()  # warm the statement cache and the pages
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def deep_cursor(fetch: Callable[..., Any]) -> str | None:
    """The cursor after ``DEEP_ROWS`` rows (or as deep as the list goes)."""
    cursor = None
    for _ in range(DEEP_ROWS // 100):
        page = fetch(limit=100, cursor=cursor)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return cursor


def query_cases(
    queries: SqlQueries, tenant: Tenant, rng: random.Random
) -> list[tuple[str, Callable[..., Any]]]:
    """Each case is called as ``case(viewer, limit=..., cursor=...)``; typical parameters."""
    account = AccountId(rng.choice(tenant.accounts))
    contact = ContactId(rng.choice(tenant.contacts))
    user = tenant.users[5]
    accounts, contacts, leads = queries.accounts, queries.contacts, queries.leads

    def users(_viewer: Viewer, **page: Any) -> object:
        return queries.users(name_prefix="k", **page)

    def stale(viewer: Viewer, **page: Any) -> object:
        return queries.stale_leads(viewer, idle_days=30, now=datetime.now(UTC), **page)

    return [
        ("accounts: all, by name", accounts),
        (
            "accounts: classification",
            partial(accounts, where=AccountFilter(classification=Classification.CLIENT)),
        ),
        ("accounts: tag", partial(accounts, where=AccountFilter(tag=TAGS[3]))),
        ("accounts: responsible", partial(accounts, where=AccountFilter(responsible_id=user))),
        (
            "accounts: characteristic",
            partial(accounts, where=AccountFilter(characteristic=CHARACTERISTICS[2])),
        ),
        (
            "accounts: area of interest",
            partial(accounts, where=AccountFilter(interest=INTERESTS[4])),
        ),
        ("accounts: name prefix", partial(accounts, where=AccountFilter(name_prefix="ka"))),
        ("contacts: all, by name", contacts),
        (
            "contacts: prospect status",
            partial(contacts, where=ContactFilter(prospect_status=ProspectStatus.CURRENT)),
        ),
        (
            "contacts: customer status",
            partial(contacts, where=ContactFilter(customer_status=CustomerStatus.PAST)),
        ),
        ("contacts: tag", partial(contacts, where=ContactFilter(tag=TAGS[7]))),
        ("contacts: account", partial(contacts, where=ContactFilter(account_id=account))),
        ("contacts: name/email prefix", partial(contacts, where=ContactFilter(text_prefix="mi"))),
        ("leads: all, newest first", leads),
        (
            "leads: pipeline",
            partial(leads, where=LeadFilter(pipeline_id=PipelineId(tenant.pipeline.id))),
        ),
        ("leads: stage", partial(leads, where=LeadFilter(stage_id=tenant.pipeline.stages[1].id))),
        ("leads: status", partial(leads, where=LeadFilter(status=LeadStatus.WON))),
        ("leads: tag", partial(leads, where=LeadFilter(tag=TAGS[11]))),
        ("leads: account", partial(leads, where=LeadFilter(account_id=account))),
        ("leads: owner", partial(leads, where=LeadFilter(owner_id=user))),
        ("leads: follower", partial(leads, where=LeadFilter(follower_id=user))),
        ("leads: participant", partial(leads, where=LeadFilter(participant_id=contact))),
        ("leads: stale (30 days idle)", stale),
        ("my leads (open first)", queries.my_leads),
        ("users: name prefix", users),
    ]


def run(database: Database, quick: bool, runs: int) -> tuple[Seeded, list[Result]]:
    rng = random.Random(7)  # noqa: S311 - reproducible test data, not secrets
    seeded = seed(database, 0.01 if quick else 1.0, rng)
    analyze(database)
    tenant = seeded.tenants[0]
    queries = database.queries(tenant.id)
    viewers = {"admin": queries.viewer(tenant.admin), "member": queries.viewer(tenant.member)}
    results: list[Result] = []

    def measure(name: str, call: Callable[[], object]) -> None:
        results.append(Result(name, timed(call, runs), QUERY_TARGET_MS))

    for name, case in query_cases(queries, tenant, rng):
        for who, viewer in viewers.items():
            fetch = partial(case, viewer)
            measure(f"{name} [{who}, first page]", partial(fetch, limit=20))
            cursor = deep_cursor(fetch)
            if cursor is not None:
                measure(
                    f"{name} [{who}, {DEEP_ROWS} deep]", partial(fetch, limit=20, cursor=cursor)
                )
    number = str(len(tenant.leads) // 2)
    for who, viewer in viewers.items():
        measure(
            f"pipeline summary [{who}]",
            partial(queries.pipeline_summary, viewer, PipelineId(tenant.pipeline.id)),
        )
        measure(f"find 'kalo' [{who}]", partial(queries.find, viewer, "kalo"))
        measure(f"find lead #{number} [{who}]", partial(queries.find, viewer, f"#{number}"))
    lead = LeadId(rng.choice(tenant.leads))
    measure("history of a lead [admin]", partial(queries.history, viewers["admin"], "lead", lead))
    results.append(stage_change(database, tenant, rng, runs * 2))
    return seeded, results


def stage_change(database: Database, tenant: Tenant, rng: random.Random, runs: int) -> Result:
    """CRM.change_stage as the bot calls it: load viewer, lead, account, pipeline; write the
    lead, its history row and its outbox row; commit."""
    crm = CRM(database.uow)
    with database.sessions() as session:
        open_leads = list(
            session.scalars(
                select(LeadRow.id)
                .where(LeadRow.tenant_id == tenant.id, LeadRow.status == "open")
                .limit(runs + 1)
            )
        )
    stages = [s.id for s in tenant.pipeline.stages]
    leads = iter(open_leads)

    def once() -> None:
        lead_id = next(leads)
        current = crm.get_lead(tenant.id, tenant.admin, lead_id).stage_id
        target = rng.choice([s for s in stages if s != current])
        started = time.perf_counter()
        crm.change_stage(tenant.id, tenant.admin, lead_id, target)
        timings.append((time.perf_counter() - started) * 1000)

    timings: list[float] = []
    for _ in range(runs):
        once()
    return Result(
        "stage change (CRM.change_stage, + history + outbox)",
        timings[1:],
        STAGE_TARGET_MS[database.dialect],
    )


def open_database(
    engine: str, url: str | None, *, keep: bool = False
) -> tuple[Database, Callable[[], None]]:
    if engine == "sqlite":
        path = Path(url.removeprefix("sqlite:///")) if url else Path("/tmp/teamcrm-bench.db")  # noqa: S108 - a scratch file
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        database = Database(f"sqlite:///{path}")
        database.upgrade()
        return database, database.dispose
    base = normalize_url(
        url
        or os.environ.get("TEAMCRM_TEST_POSTGRES_URL")
        or "postgresql://postgres@127.0.0.1:5432/test"
    )
    schema = "teamcrm_bench"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(DropSchema(schema, cascade=True, if_exists=True))
        connection.execute(CreateSchema(schema))
    database = Database(base.update_query_dict({"options": f"-csearch_path={schema}"}))
    database.upgrade()

    def close() -> None:
        database.dispose()
        if not keep:
            with admin.begin() as connection:
                connection.execute(DropSchema(schema, cascade=True, if_exists=True))
        admin.dispose()

    return database, close


def markdown(
    engine: str,
    *,
    quick: bool,
    seeded: Seeded,
    results: Sequence[Result],
    command: str,
    load: tuple[float, float],
) -> str:
    rate = seeded.rows / seeded.seconds
    lines = [
        f"### {'SQLite' if engine == 'sqlite' else 'PostgreSQL'}{' (quick)' if quick else ''}",
        "",
        f"`{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {os.cpu_count()} cores, "
        f"{platform.system()} {platform.machine()}, Python {platform.python_version()}; "
        f"load average {load[0]:.1f} at start, {load[1]:.1f} at end (the machine is shared).",
        "",
        f"Seeding: {seeded.rows:,} rows (with index tables and one history row per lead) in "
        f"{seeded.seconds:.1f} s = **{rate:,.0f} rows/s**.",
        "",
        "| operation | p50 ms | p99 ms | target (p99, stage change p50) |",
        "|---|---:|---:|---|",
    ]
    for result in results:
        value = result.p50 if result.name.startswith("stage change") else result.p99
        verdict = "ok" if value <= result.target else "**missed**"
        target = f"<= {result.target:g} ms: {verdict}"
        lines.append(f"| {result.name} | {result.p50:.2f} | {result.p99:.2f} | {target} |")
    return "\n".join(lines) + "\n"


def write_section(path: Path, engine_block: str) -> None:
    """Keep other engines' blocks and other sections; replace only this engine's block."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    heading = engine_block.splitlines()[0].removesuffix(" (quick)")
    if "## Storage" not in text:
        text = text.rstrip("\n") + "\n\n## Storage\n\n"
    before, _, rest = text.partition("## Storage\n")
    next_section = rest.find("\n## ")
    section, after = (
        (rest, "") if next_section < 0 else (rest[: next_section + 1], rest[next_section + 1 :])
    )
    blocks = section.split("\n### ")
    intro, engines = blocks[0], ["### " + b for b in blocks[1:]]
    engines = [b for b in engines if b.splitlines()[0].removesuffix(" (quick)") != heading]
    engines.append(engine_block)
    engines.sort()
    section = intro.rstrip("\n") + "\n\n" + "\n".join(e.rstrip("\n") + "\n" for e in engines)
    path.write_text(
        before + "## Storage\n" + section + ("\n" + after if after else ""), encoding="utf-8"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument("--quick", action="store_true", help="1%% of the data, for CI")
    parser.add_argument("--url", help="database URL (default: a scratch SQLite file / local PG)")
    parser.add_argument("--runs", type=int, help="timed runs per query (default 100, quick 10)")
    parser.add_argument("--write", action="store_true", help="write BENCHMARKS.md on quick runs")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL bench schema")
    args = parser.parse_args(argv)
    runs = args.runs or (10 if args.quick else 100)
    database, close = open_database(args.engine, args.url, keep=args.keep)
    load_before = os.getloadavg()[0]
    try:
        seeded, results = run(database, args.quick, runs)
    finally:
        close()
    load = (load_before, os.getloadavg()[0])
    command = "python bench/storage.py --engine " + args.engine + (" --quick" if args.quick else "")
    block = markdown(
        args.engine, quick=args.quick, seeded=seeded, results=results, command=command, load=load
    )
    sys.stdout.write(block)
    if args.write or not args.quick:
        write_section(ROOT / "BENCHMARKS.md", block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
