"""What the service and notification benchmarks share: child processes, a closed-loop load
generator on aiohttp, latency statistics, the machine's description and BENCHMARKS.md sections.

Every process started here is stopped by its pid; every request goes to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


def fix_path() -> None:
    """Run as ``python bench/x.py``, Python puts bench/ first on the path, where storage.py
    would shadow the ``storage`` package: put the checkout first and drop bench/."""
    sys.path[:] = [str(ROOT)] + [
        p for p in sys.path if p and Path(p).resolve() not in {BENCH, ROOT}
    ]


# --- the machine ---------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    return (
        f"{os.cpu_count()} cores ({cpu_model()}), {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}"
    )


def load_average() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def now_utc() -> str:
    return f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


# --- processes -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_pids(pid: int) -> list[int]:
    """Direct children (the processes of ``teamcrm serve --processes N``)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text(encoding="utf-8").split()]
    except OSError:
        return []


def _proc_texts(pid: int, name: str) -> Iterator[str]:
    """``/proc/<pid>/<name>`` of a process and each of its live children."""
    for each in [pid, *child_pids(pid)]:
        try:
            yield Path(f"/proc/{each}/{name}").read_text(encoding="utf-8")
        except OSError:
            continue  # the process ended meanwhile


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live children so far, from /proc."""
    total = 0.0
    for stat in _proc_texts(pid, "stat"):
        fields = stat.rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def rss_mb(pid: int) -> float:
    """Resident set size from /proc, in MiB, of a process and its live children."""
    total = 0.0
    for status in _proc_texts(pid, "status"):
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total or float("nan")


@dataclass
class Child:
    """One server process of ours; ``stop`` ends it by its pid (SIGTERM, then SIGKILL)."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    started: float
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def spawn(
    name: str,
    args: Sequence[str],
    *,
    port: int,
    env: dict[str, str] | None = None,
    log_dir: Path = Path("/tmp"),  # noqa: S108 - scratch logs of our own children
) -> Child:
    log = log_dir / f"teamcrm-bench-{name}-{port}.log"
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and scripts
            [sys.executable, *args],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return Child(name, process, f"http://127.0.0.1:{port}", started, log)


async def wait_ready(child: Child, path: str, timeout: float = 60.0) -> float:
    """Poll ``path`` until it answers 200; seconds since the process was started."""
    deadline = time.perf_counter() + timeout
    async with aiohttp.ClientSession() as http:
        while time.perf_counter() < deadline:
            if child.process.poll() is not None:
                raise RuntimeError(f"{child.name} exited early:\n{child.tail()}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(child.url + path) as response:
                    if response.status == 200:
                        return time.perf_counter() - child.started
            await asyncio.sleep(0.005)
    raise RuntimeError(f"{child.name} not ready after {timeout} s:\n{child.tail()}")


class Children:
    """Every child started in a run, stopped on the way out whatever happened."""

    def __init__(self) -> None:
        self._all: list[Child] = []

    def add(self, child: Child) -> Child:
        self._all.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self._all):
            child.stop()
        self._all.clear()


@contextlib.contextmanager
def children() -> Iterator[Children]:
    running = Children()
    try:
        yield running
    finally:
        running.stop_all()


# --- statistics ----------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class LoadResult:
    name: str
    concurrency: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    answered: int = 0  # every answer, warm-up and stragglers included (for CPU per request)
    cpu_ms: float = float("nan")  # the server's CPU time per answered request

    @property
    def count(self) -> int:
        return len(self.latencies_ms)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


# One request: returns None when the answer is right, else a short reason (counted as an error).
Request = Callable[[aiohttp.ClientSession, int], Awaitable[str | None]]


async def closed_loop(
    name: str,
    request: Request,
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
    max_requests: int = 200_000,
) -> LoadResult:
    """``concurrency`` clients each sending the next request once the last one was answered,
    for ``warmup`` then ``seconds``; answers that arrive in the latter window count (rate =
    those / ``seconds``), bounded by ``max_requests``."""
    result = LoadResult(name, concurrency, 0.0)
    counter = iter(range(max_requests))
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        loop = asyncio.get_running_loop()
        start = loop.time()
        measure_from = start + warmup
        stop_at = measure_from + seconds

        async def client() -> None:
            for n in counter:
                sent = loop.time()
                if sent >= stop_at:
                    return
                try:
                    problem = await request(http, n)
                except (aiohttp.ClientError, TimeoutError, OSError) as error:
                    problem = type(error).__name__
                done = loop.time()
                result.answered += 1
                # Answers that arrive inside the window count, whenever they were asked.
                if not measure_from <= done <= stop_at:
                    continue
                if problem is None:
                    result.latencies_ms.append((done - sent) * 1000)
                else:
                    result.errors[problem] = result.errors.get(problem, 0) + 1

        await asyncio.gather(*(client() for _ in range(concurrency)))
        result.seconds = seconds
    return result


@dataclass
class Case:
    """One workload of an interleaved run: its requests and the process that serves them."""

    name: str
    request: Request
    pid: int


async def interleaved(
    cases: Sequence[Case],
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
    slices: int,
    settle: float = 0.25,
    refusals: Callable[[], Awaitable[int]] | None = None,
) -> dict[str, LoadResult]:
    """Every case for ``seconds`` in all, in ``slices`` turns taken round-robin: the machine's
    slow and fast phases (it is shared) fall on baselines and TeamCRM alike, so their ratio
    holds still where figures measured one after the other swung by a third. Each case is
    warmed up for ``warmup`` before its first slice and ``settle`` before the others (the
    closed loop ramping up); CPU per request counts every answer, as ``closed_loop`` does.
    ``refusals`` counts refusal cards that reached the connector: a case's slices that added
    some get them as errors (a refused message is still answered 201)."""
    results = {c.name: LoadResult(c.name, concurrency, 0.0) for c in cases}
    cpu = dict.fromkeys(results, 0.0)
    for turn in range(slices):
        for case in cases:
            before = cpu_seconds(case.pid)
            refused = await refusals() if refusals is not None else 0
            part = await closed_loop(
                case.name,
                case.request,
                concurrency=concurrency,
                seconds=seconds / slices,
                warmup=warmup if turn == 0 else settle,
            )
            cpu[case.name] += cpu_seconds(case.pid) - before
            if refusals is not None and (refused := await refusals() - refused):
                part.errors["refusal card"] = part.errors.get("refusal card", 0) + refused
            total = results[case.name]
            total.seconds += part.seconds
            total.latencies_ms += part.latencies_ms
            total.answered += part.answered
            for problem, n in part.errors.items():
                total.errors[problem] = total.errors.get(problem, 0) + n
    for name, total in results.items():
        total.cpu_ms = cpu[name] * 1000 / max(total.answered, 1)
    return results


# --- BENCHMARKS.md ---------------------------------------------------------------------------


def write_section(path: Path, heading: str, body: str, keep: str = "### Findings") -> None:
    """Replace (or append) the ``## heading`` section, leaving every other section as it is and
    carrying over the section's hand-written part: the ``keep`` subsection and every subsection
    after it (the analysis of the figures, the profiles). Re-reads the file right before
    writing: other benchmarks write their own sections."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    marker = f"## {heading}\n"
    kept = ""
    if marker in text:
        before, _, rest = text.partition(marker)
        next_section = rest.find("\n## ")
        old, after = (
            (rest, "") if next_section < 0 else (rest[: next_section + 1], rest[next_section + 1 :])
        )
        start = old.find(keep + "\n")
        if start >= 0:
            kept = old[start:]
    else:
        before, after = text.rstrip("\n") + "\n\n", ""
    section = (
        marker + "\n" + body.strip("\n") + "\n" + ("\n" + kept.strip("\n") + "\n" if kept else "")
    )
    path.write_text(before + section + ("\n" + after if after else ""), encoding="utf-8")


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"
