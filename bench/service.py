"""Service benchmark (issue 8): TeamCRM's turns against a bare aiohttp handler and the stock
botbuilder echo bot, in the same run, over loopback with a stand-in Bot Connector.

    python bench/service.py [--quick] [--engines sqlite,postgresql] [--profile]

Each server runs in its own process (bench/servers.py for the baselines and the connector,
``python -m bot serve`` for TeamCRM); the load generator here is a closed loop on aiohttp.
Workloads, each at concurrency 1, 16 and 64: TeamCRM read (``lead.refresh`` Action.Execute),
write (``lead.change_stage`` Action.Execute answered with the refreshed card, alternating two
stages), search (``find <text>`` answered through the connector), new lead (``new lead <title>``);
the echo bot's message and Action.Execute; bare aiohttp. Also the service's start-up time
(process start to ``/readyz`` 200, schema migrated) and its RSS after 10,000 requests.
Cases at one concurrency run interleaved in slices of about a second, so baselines and
TeamCRM share the machine's phases. The full run seeds bench/storage.py's data set (200,000
leads) on SQLite and PostgreSQL and writes ``## Service`` of BENCHMARKS.md; ``--quick`` (CI)
seeds 1% on SQLite, runs briefly and writes nothing. Exits non-zero only on a crash, never on
a missed target.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import importlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    ROOT,
    Case,
    Child,
    Children,
    LoadResult,
    Request,
    children,
    closed_loop,
    fix_path,
    free_port,
    interleaved,
    load_average,
    machine,
    now_utc,
    rss_mb,
    spawn,
    verdict,
    wait_ready,
    write_section,
)

fix_path()

import aiohttp  # noqa: E402
from sqlalchemy import create_engine, select, text  # noqa: E402

from cards import verbs  # noqa: E402
from storage.database import Database, normalize_url  # noqa: E402
from storage.rows import LeadRow  # noqa: E402
from tests.support import activities  # noqa: E402
from tests.support.activities import Person  # noqa: E402

LEVELS = (1, 16, 64)
GIL: list[str] = []
SERVED_FOR_RSS = 10_000
STARTS = 3
SQLITE_FILE = Path(f"/tmp/teamcrm-service-bench-{os.getpid()}.db")  # noqa: S108 - a scratch file
PG_DATABASE = f"teamcrm_service_bench_{os.getpid()}"  # two runs never share a database
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
ERROR_TITLE = b"That didn't work"
SEARCH_WORDS = ["kalo", "mira", "neto", "zibo", "defa", "guhi", "jora", "vune", "toka", "bomi"]
CARD_TYPE = "application/vnd.microsoft.card.adaptive"

# Targets of issue 8: throughput ratios against the echo bot, latency and resources.
WRITE_RATIO = 1.5
READ_RATIO = 2.0
MESSAGE_RATIO = 1.0
P99_MS_AT_16 = 100.0
PROFILE_LEVEL = 16
RSS_MB = 250.0
STARTUP_S = 2.0


def storage_bench() -> Any:
    """bench/storage.py's seeder (the storage engineer's): imported, never copied."""
    module = importlib.import_module("bench.storage")
    for name in ("seed", "analyze"):
        if not callable(getattr(module, name, None)):
            raise RuntimeError(
                f"bench/storage.py no longer offers {name}(); update bench/service.py"
            )
    return module


# --- data -------------------------------------------------------------------------------------


@dataclass
class DataSet:
    engine: str
    url: str
    tenant_id: str
    admin: str
    stages: list[str]
    leads: list[str]
    open_leads: dict[str, str]  # lead id -> its stage now, as the benchmark keeps track
    rows: int
    seed_seconds: float
    drop: Callable[[], None]


def prepare(engine: str, scale: float, pg_url: str) -> DataSet:
    bench_storage = storage_bench()
    if engine == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_FILE}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{SQLITE_FILE}"

        def drop() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{SQLITE_FILE}{suffix}").unlink(missing_ok=True)

    else:
        admin = create_engine(normalize_url(pg_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"))
            connection.execute(text(f"CREATE DATABASE {PG_DATABASE}"))
        url = normalize_url(pg_url).set(database=PG_DATABASE).render_as_string(False)

        def drop() -> None:
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"))
            admin.dispose()

    database = Database(url)
    try:
        database.upgrade()
        seeded = bench_storage.seed(database, scale, random.Random(7))  # noqa: S311 - test data
        bench_storage.analyze(database)
        settle(database)
        tenant = seeded.tenants[0]
        with database.sessions() as session:
            rows = session.execute(
                select(LeadRow.id, LeadRow.stage_id)
                .where(LeadRow.tenant_id == tenant.id, LeadRow.status == "open")
                .limit(50_000)
            )
            open_leads = dict(rows.all())
    finally:
        database.dispose()
    return DataSet(
        engine=engine,
        url=url,
        tenant_id=tenant.id,
        admin=tenant.admin,
        stages=[stage.id for stage in tenant.pipeline.stages],
        leads=list(tenant.leads),
        open_leads=open_leads,
        rows=seeded.rows,
        seed_seconds=seeded.seconds,
        drop=drop,
    )


def settle(database: Database) -> None:
    """Write the seeding out before anything is measured. Otherwise PostgreSQL's checkpoint
    of it (or the copy of SQLite's write-ahead log into the file) runs during the first
    measurements: PostgreSQL start-ups took 1.4-1.6 s in one run and 1.9-2.2 s in the next,
    and 1.0-1.2 s on the same data at rest."""
    statement = "PRAGMA wal_checkpoint(TRUNCATE)" if database.dialect == "sqlite" else "CHECKPOINT"
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(statement)


def check_stages(data: DataSet, sample: int = 50) -> int:
    """After the write runs: how many of a sample of leads hold the stage we last set."""
    database = Database(data.url)
    try:
        wanted = dict(list(data.open_leads.items())[:sample])
        with database.sessions() as session:
            rows = session.execute(
                select(LeadRow.id, LeadRow.stage_id).where(
                    LeadRow.tenant_id == data.tenant_id, LeadRow.id.in_(list(wanted))
                )
            )
            found = dict(rows.all())
    finally:
        database.dispose()
    return sum(1 for lead, stage in wanted.items() if found.get(lead) == stage)


# --- requests ---------------------------------------------------------------------------------


def _post(url: str, activity: dict[str, Any]) -> tuple[str, bytes]:
    return url + "/api/messages", json.dumps(activity, separators=(",", ":")).encode()


HEADERS = {"Content-Type": "application/json"}


def message_request(
    base: str, connector: str, tenant: str, user: Person, texts: Callable[[int], str]
) -> Request:
    """A message; right when answered 200/201 (the reply went to the connector first)."""

    async def request(http: aiohttp.ClientSession, n: int) -> str | None:
        activity = activities.message(texts(n), service_url=connector, tenant_id=tenant, user=user)
        url, body = _post(base, activity)
        async with http.post(url, data=body, headers=HEADERS) as response:
            await response.read()
            return None if response.status in {200, 201, 202} else f"HTTP {response.status}"

    return request


def invoke_request(  # noqa: PLR0917 - one request shape, read at every call site
    base: str,
    connector: str,
    tenant: str,
    user: Person,
    data: Callable[[int], tuple[str, dict[str, Any]]],
    done: Callable[[int], None] | None = None,
) -> Request:
    """An Action.Execute; right when the invoke response carries a card that is no refusal."""

    async def request(http: aiohttp.ClientSession, n: int) -> str | None:
        verb, values = data(n)
        activity = activities.card_action(
            verb, values, service_url=connector, tenant_id=tenant, user=user
        )
        url, body = _post(base, activity)
        async with http.post(url, data=body, headers=HEADERS) as response:
            raw = await response.read()
            if response.status != 200:
                return f"HTTP {response.status}"
            if CARD_TYPE.encode() not in raw:
                return "no card"
            if ERROR_TITLE in raw:
                return "error card"
        if done is not None:
            done(n)
        return None

    return request


class StagePresses:
    """Change-stage presses that always change something: each lead flips between two
    stages; leads are taken in turn so no two presses of one lead are in flight together."""

    def __init__(self, data: DataSet) -> None:
        self._state = data.open_leads
        self._leads = list(data.open_leads)
        self._a, self._b = data.stages[1], data.stages[2]
        self._pending: dict[int, tuple[str, str]] = {}

    def press(self, n: int) -> tuple[str, dict[str, Any]]:
        lead = self._leads[n % len(self._leads)]
        target = self._a if self._state[lead] != self._a else self._b
        self._pending[n] = (lead, target)
        return verbs.LEAD_CHANGE_STAGE, {verbs.LEAD_ID: lead, verbs.IN_STAGE_ID: target}

    def done(self, n: int) -> None:
        lead, target = self._pending.pop(n)
        self._state[lead] = target


# --- running ----------------------------------------------------------------------------------


@dataclass
class Options:
    quick: bool
    seconds: float
    warmup: float
    engines: list[str]
    pg_url: str
    profile: bool
    write: bool
    processes: int = 1
    slices: int = 1


@dataclass
class EngineRun:
    engine: str
    data_rows: int
    seed_seconds: float
    leads: int
    startups: list[float]
    rss_ready: float
    rss_after: float
    served: int
    results: dict[tuple[str, int], LoadResult] = field(default_factory=dict)
    baselines: dict[tuple[str, int], LoadResult] = field(default_factory=dict)
    connector_errors: int = 0
    stages_checked: tuple[int, int] = (0, 0)
    profile: str = ""


class Connector:
    def __init__(self, child: Child) -> None:
        self.child = child
        self.url = child.url + "/"

    async def stats(self) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.child.url + "/bench/stats") as response,
        ):
            stats: dict[str, Any] = await response.json()
            return stats


async def start(
    kids: Children, name: str, args: list[str], env: dict[str, str] | None = None
) -> Child:
    port = free_port()
    child = kids.add(spawn(name, [*args, "--port", str(port)], port=port, env=env))
    await wait_ready(child, "/readyz")
    return child


def teamcrm_env(url: str, processes: int = 1) -> dict[str, str]:
    return {
        "TEAMCRM_PROCESSES": str(processes),
        "TEAMCRM_DATABASE_URL": url,
        "TEAMCRM_DISPATCHER": "0",  # the notification benchmark measures delivery
        "MicrosoftAppId": "",
        "MicrosoftAppPassword": "",
    }


async def start_teamcrm(kids: Children, url: str, processes: int = 1) -> tuple[Child, float]:
    port = free_port()
    child = kids.add(
        spawn(
            "teamcrm",
            ["-m", "bot", "--host", "127.0.0.1", "--port", str(port)],
            port=port,
            env=teamcrm_env(url, processes),
        )
    )
    return child, await wait_ready(child, "/readyz")


@contextlib.contextmanager
def py_spy(pid: int, seconds: float, out: Path) -> Iterator[subprocess.Popen[bytes] | None]:
    """Sample every thread of the server while the block runs (needs ptrace)."""
    tool = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(tool).exists():
        yield None
        return
    process = subprocess.Popen(  # noqa: S603 - a profiler we pass our own child's pid
        [
            tool,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
            *GIL,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield process
    finally:
        try:
            process.wait(seconds + 30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


OUR_CODE = ("bot/", "domain/", "storage/", "cards/")


def summarize_profile(raw: Path, top: int = 15) -> str:
    """From py-spy's collapsed stacks: where the samples are, inclusive, among our own functions
    (bot/, domain/, storage/, cards/), and the functions where samples land (self)."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame(f) for f in stack.split(";") if f]
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            own[frames[-1]] += count
    if total == 0:
        return "(no samples)"
    ours = [k for k, _ in inclusive.most_common() if k.split("(", 1)[-1].startswith(OUR_CODE)]
    lines = [
        f"{total:,} samples. Our functions, by share of samples spent in them or below:",
        "",
        "| inclusive | function |",
        "|---:|---|",
    ]
    lines.extend(f"| {100 * inclusive[k] / total:.1f}% | `{k}` |" for k in ours[:top])
    lines += ["", "Where the samples land (self):", "", "| self | function |", "|---:|---|"]
    lines.extend(f"| {100 * n / total:.1f}% | `{k}` |" for k, n in own.most_common(top // 2 + 2))
    return "\n".join(lines)


def _frame(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (file.py)``: lines would split one function."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if parts else path
    return f"{name.strip()} ({short})"


async def run_level(  # noqa: PLR0917 - the servers and state of one engine's run
    options: Options,
    level: int,
    bare: Child,
    echo: Child,
    server: Child,
    connector: Connector,
    data: DataSet,
    presses: StagePresses,
    run: EngineRun,
    profile_out: Path | None,
) -> int:
    """Baselines then TeamCRM's four workloads at one concurrency; returns requests sent."""
    cid = connector.url
    tenant, user = data.tenant_id, Person(data.admin, "Bench Admin", f"{data.admin}@example.com")
    echo_user = Person("aad-echo", "Echo User", "echo@example.com")
    rng = random.Random(level)  # noqa: S311 - which lead to show
    leads = data.leads

    def bare_request() -> Request:
        async def request(http: aiohttp.ClientSession, n: int) -> str | None:
            async with http.post(
                bare.url + "/api/messages", data=b'{"type":"message"}', headers=HEADERS
            ) as r:
                await r.read()
                return None if r.status == 200 else f"HTTP {r.status}"

        return request

    def search_text(n: int) -> str:
        return f"find {SEARCH_WORDS[n % len(SEARCH_WORDS)]}"

    async def refusals() -> int:
        return int((await connector.stats())["error_cards"])

    baselines = [
        Case("bare aiohttp", bare_request(), bare.pid),
        Case(
            "echo: message",
            message_request(echo.url, cid, "tenant-echo", echo_user, lambda n: f"hello {n}"),
            echo.pid,
        ),
        Case(
            "echo: Action.Execute",
            invoke_request(echo.url, cid, "tenant-echo", echo_user, lambda n: ("echo", {"n": n})),
            echo.pid,
        ),
    ]
    write = invoke_request(server.url, cid, tenant, user, presses.press, presses.done)
    workloads = [
        Case(
            "read (lead.refresh)",
            invoke_request(
                server.url,
                cid,
                tenant,
                user,
                lambda n: (verbs.LEAD_REFRESH, {verbs.LEAD_ID: rng.choice(leads)}),
            ),
            server.pid,
        ),
        Case("write (change stage)", write, server.pid),
        Case(
            "search (find)",
            message_request(server.url, cid, tenant, user, search_text),
            server.pid,
        ),
        Case(
            "new lead",
            message_request(
                server.url, cid, tenant, user, lambda n: f"new lead Bench pilot {level}-{n}"
            ),
            server.pid,
        ),
    ]
    results = await interleaved(
        [*baselines, *workloads],
        concurrency=level,
        seconds=options.seconds,
        warmup=options.warmup,
        slices=options.slices,
        refusals=refusals,
    )
    sent = 0
    for case in [*baselines, *workloads]:
        result = results[case.name]
        _print(data.engine, level, result)
        if case in baselines:
            run.baselines[(case.name, level)] = result
        else:
            run.results[(case.name, level)] = result
            sent += result.count + result.error_count
    if profile_out is not None and level == PROFILE_LEVEL:
        # Apart from the measured slices: py-spy slows the process it samples.
        with py_spy(server.pid, options.seconds, profile_out):
            spied = await closed_loop(
                "write (profiled)", write, concurrency=level, seconds=options.seconds, warmup=0
            )
        sent += spied.count + spied.error_count
    return sent


def _print(engine: str, level: int, result: LoadResult) -> None:
    print(  # noqa: T201 - progress on the terminal
        f"  {engine:<10} c={level:<3} {result.name:<22} {result.rate:8.1f}/s "
        f"p50 {result.p(50):7.2f} p95 {result.p(95):7.2f} p99 {result.p(99):7.2f} ms "
        f"cpu {result.cpu_ms:5.1f} ms/req n={result.count + result.error_count} "
        f"errors={result.errors or 0}",
        flush=True,
    )


async def run_engine(  # noqa: PLR0917 - the run's servers, passed along
    options: Options, kids: Children, engine: str, bare: Child, echo: Child, connector: Connector
) -> EngineRun:
    scale = 0.01 if options.quick else 1.0
    print(f"== {engine}: seeding {scale:.0%} of the storage data set", flush=True)  # noqa: T201
    data = prepare(engine, scale, options.pg_url)
    try:
        startups: list[float] = []
        server: Child | None = None
        for attempt in range(1 if options.quick else STARTS):
            if server is not None:
                server.stop()
            server, seconds = await start_teamcrm(kids, data.url, options.processes)
            startups.append(seconds)
            print(f"  start-up {attempt + 1}: {seconds:.2f} s", flush=True)  # noqa: T201
        if server is None:
            raise RuntimeError("TeamCRM did not start")
        run = EngineRun(
            engine=engine,
            data_rows=data.rows,
            seed_seconds=data.seed_seconds,
            leads=len(data.leads),
            startups=startups,
            rss_ready=rss_mb(server.pid),
            rss_after=0.0,
            served=0,
        )
        before = await connector.stats()
        presses = StagePresses(data)
        profile_out = Path(f"/tmp/teamcrm-write-profile-{engine}.txt") if options.profile else None  # noqa: S108
        served = 0
        for level in LEVELS:
            served += await run_level(
                options, level, bare, echo, server, connector, data, presses, run, profile_out
            )
        if not options.quick and served < SERVED_FOR_RSS:
            user = Person(data.admin, "Bench Admin", f"{data.admin}@example.com")
            rng = random.Random(1)  # noqa: S311
            extra = await closed_loop(
                "top-up",
                invoke_request(
                    server.url,
                    connector.url,
                    data.tenant_id,
                    user,
                    lambda n: (verbs.LEAD_REFRESH, {verbs.LEAD_ID: rng.choice(data.leads)}),
                ),
                concurrency=16,
                seconds=120,
                warmup=0,
                max_requests=SERVED_FOR_RSS - served,
            )
            served += extra.count + extra.error_count
        run.served = served
        run.rss_after = rss_mb(server.pid)
        after = await connector.stats()
        run.connector_errors = after["error_cards"] - before["error_cards"]
        run.stages_checked = (check_stages(data), min(50, len(data.open_leads)))
        if profile_out is not None and profile_out.exists():
            run.profile = summarize_profile(profile_out)
        server.stop()
        log = server.tail(5)
        if "Traceback" in log:
            print(f"  server log tail:\n{log}", flush=True)  # noqa: T201
        return run
    finally:
        data.drop()


# --- report -----------------------------------------------------------------------------------


def ratio(a: LoadResult, b: LoadResult) -> float:
    return a.rate / b.rate if b.rate else float("nan")


def render(options: Options, runs: list[EngineRun], command: str, started: str, load: str) -> str:
    lines = [
        f"`{command}` on {started}; machine: {machine()}; load average at start {load} "
        "(other engineers share this machine: figures move by 20% or more between runs).",
        "",
        "Each server in its own process, the load generator (a closed loop on aiohttp) and the "
        "stand-in connector in two more; all over 127.0.0.1. TeamCRM runs as shipped "
        f"(`python -m bot serve`, {options.processes} process"
        f"{'es' if options.processes > 1 else ''}, anonymous, dispatcher off), as the "
        "bench/storage.py tenant's "
        "admin on its largest tenant. Measured "
        f"{options.seconds:g} s per case after {options.warmup:g} s of warm-up, in "
        f"{options.slices} slices taken round-robin with the baselines (bare aiohttp, echo bot) "
        "at each concurrency, so the shared machine's slow and fast phases fall on both sides "
        "of every ratio.",
        "",
    ]
    for run in runs:
        title = "SQLite" if run.engine == "sqlite" else "PostgreSQL"
        lines += [
            f"### {title}",
            "",
            f"Data: {run.data_rows:,} rows seeded by bench/storage.py ({run.leads:,} leads in "
            f"the tenant used).",
            "",
            "| workload | c | req/s | p50 ms | p95 ms | p99 ms | server CPU ms/req | errors "
            "| vs echo | target |",
            "|---|---:|---:|---:|---:|---:|---:|---|---:|---|",
        ]
        for level in LEVELS:
            bare = run.baselines[("bare aiohttp", level)]
            echo_msg = run.baselines[("echo: message", level)]
            echo_inv = run.baselines[("echo: Action.Execute", level)]
            for name, result in (
                ("bare aiohttp", bare),
                ("echo: message", echo_msg),
                ("echo: Action.Execute", echo_inv),
            ):
                versus = "" if name == "bare aiohttp" else f"{ratio(result, bare):.2f}x bare"
                lines.append(_row(name, result, versus, ""))
            for name, against, need in (
                ("read (lead.refresh)", echo_inv, READ_RATIO),
                ("write (change stage)", echo_inv, WRITE_RATIO),
                ("search (find)", echo_msg, MESSAGE_RATIO),
                ("new lead", echo_msg, MESSAGE_RATIO),
            ):
                result = run.results[(name, level)]
                r = ratio(result, against)
                target = f">= {need:g}x: {verdict(r >= need)}"
                if level == 16:
                    target += (
                        f"; p99 <= {P99_MS_AT_16:g} ms: {verdict(result.p(99) <= P99_MS_AT_16)}"
                    )
                lines.append(_row(f"**TeamCRM {name}**", result, f"{r:.2f}x", target))
        median_start = statistics.median(run.startups)
        lines += [
            "",
            f"- Start-up (process start to `/readyz` 200, schema migrated): "
            f"{', '.join(f'{s:.2f}' for s in run.startups)} s; median {median_start:.2f} s, "
            f"slowest {max(run.startups):.2f} s; target <= {STARTUP_S:g} s for every start: "
            f"{verdict(max(run.startups) <= STARTUP_S)}.",
            f"- RSS: {run.rss_ready:.0f} MiB when ready, {run.rss_after:.0f} MiB after "
            f"{run.served:,} requests; target <= {RSS_MB:g} MB: "
            f"{verdict(run.rss_after <= RSS_MB)}.",
            f"- Checks: {run.stages_checked[0]} of {run.stages_checked[1]} sampled leads hold the "
            f"stage last set; {run.connector_errors} refusal cards reached the connector.",
            "",
        ]
    return "\n".join(lines)


def _errors(result: LoadResult) -> str:
    return ", ".join(f"{n} {why}" for why, n in result.errors.items()) or "0"


def _row(name: str, result: LoadResult, versus: str, target: str) -> str:
    return (
        f"| {name} | {result.concurrency} | {result.rate:,.0f} | {result.p(50):.1f} | "
        f"{result.p(95):.1f} | {result.p(99):.1f} | {result.cpu_ms:.1f} | {_errors(result)} | "
        f"{versus} | {target} |"
    )


async def main_async(options: Options, command: str) -> list[EngineRun]:
    started, load = now_utc(), load_average()
    runs: list[EngineRun] = []
    with children() as kids:
        connector = Connector(
            await start(kids, "connector", [str(ROOT / "bench" / "servers.py"), "connector"])
        )
        bare = await start(kids, "bare", [str(ROOT / "bench" / "servers.py"), "bare"])
        echo = await start(kids, "echo", [str(ROOT / "bench" / "servers.py"), "echo"])
        runs = [
            await run_engine(options, kids, engine, bare, echo, connector)
            for engine in options.engines
        ]
    report = render(options, runs, command, started, load)
    print(report)  # noqa: T201
    if options.write:
        profiles = [r for r in runs if r.profile]
        write_section(ROOT / "BENCHMARKS.md", "Service", report + "\n" + _profile_text(profiles))
    return runs


def _profile_text(runs: list[EngineRun]) -> str:
    text_parts = []
    for run in runs:
        text_parts += [
            f"### Profile of the write path ({run.engine}, c=16, py-spy, all threads)",
            "",
            run.profile,
            "",
        ]
    return "\n".join(text_parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1%% of the data, SQLite, short runs")
    parser.add_argument("--engines", help="comma-separated: sqlite,postgresql")
    parser.add_argument("--seconds", type=float, help="measured seconds per case")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per case")
    parser.add_argument(
        "--pg-url", default=DEFAULT_PG, help="a PostgreSQL to create the bench DB in"
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the write path at c=16")
    parser.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    parser.add_argument(
        "--processes", type=int, default=1, help="TeamCRM service processes (TEAMCRM_PROCESSES)"
    )
    parser.add_argument(
        "--slices",
        type=int,
        help="each case's seconds cut into this many turns, round-robin with the others "
        "(default: one per second)",
    )
    args = parser.parse_args(argv)
    engines = (args.engines or ("sqlite" if args.quick else "sqlite,postgresql")).split(",")
    seconds = args.seconds or (0.8 if args.quick else 5.0)
    options = Options(
        quick=args.quick,
        seconds=seconds,
        warmup=args.warmup or (0.3 if args.quick else 2.0),
        engines=[e.strip() for e in engines if e.strip()],
        pg_url=args.pg_url,
        profile=args.profile,
        # BENCHMARKS.md holds the shipped default (one process); other counts print only.
        write=not args.quick and not args.no_write and args.processes == 1,
        processes=args.processes,
        slices=max(1, args.slices or round(seconds)),
    )
    command = "python bench/service.py " + " ".join(argv if argv is not None else sys.argv[1:])
    # A SIGTERM unwinds like Ctrl-C, so every child process and scratch database goes too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    asyncio.run(main_async(options, command.strip()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
