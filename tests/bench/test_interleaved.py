"""Cases measured in round-robin slices: each gets its share of time, answers and errors."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from tests.bench.test_report import _common


async def test_cases_take_turns_and_their_slices_add_up() -> None:
    common = _common()
    order: list[str] = []
    refused = 0

    def case(name: str, refuse_every: int = 0) -> Any:
        async def request(_http: object, n: int) -> str | None:
            nonlocal refused
            if not order or order[-1] != name:
                order.append(name)
            await asyncio.sleep(0.002)
            if refuse_every and n % refuse_every == 0:
                refused += 1  # as the connector would count a refusal card
            return "HTTP 500" if name == "broken" else None

        return common.Case(name, request, os.getpid())

    async def refusals() -> int:
        return refused

    cases = [case("a"), case("b", refuse_every=5), case("broken")]
    results = await common.interleaved(
        cases, concurrency=2, seconds=0.6, warmup=0.05, slices=3, settle=0.01, refusals=refusals
    )

    assert order == ["a", "b", "broken"] * 3  # round-robin, one slice each per turn
    a, b, broken = results["a"], results["b"], results["broken"]
    assert a.seconds == b.seconds == 0.6
    assert a.count > 50  # 2 clients, 2 ms a request, 0.6 s measured
    assert not a.errors
    assert b.errors.get("refusal card", 0) > 0  # only b's slices refused anything
    assert broken.count == 0
    assert broken.errors["HTTP 500"] > 50
    assert a.answered >= a.count
