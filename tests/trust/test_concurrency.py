"""A hundred presses at once on one lead, over HTTP: comments and stage changes racing.

No comment may be lost, no answer may be a 5xx, and the history must tell one consistent
story: every stage change starts where the previous one ended, and the lead's version counts
exactly the changes recorded. A stage change pressed from a stale card may be refused with the
"changed" card; that is the optimistic lock doing its job.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import MetaData, select

from cards import verbs
from storage.database import Database
from tests.bot.conftest import ALICE, Service, check_card
from tests.support import activities
from tests.support.cards import action_data, choices, texts

COMMENTS = 50
STAGE_PRESSES = 50


def _lead_rows(
    database: Database, tenant_id: str, lead_id: str
) -> tuple[Any, list[Any], list[Any]]:
    tables = MetaData()
    tables.reflect(database.engine, only=["leads", "comments", "history"])
    leads, comments, history = (tables.tables[n] for n in ("leads", "comments", "history"))
    with database.engine.connect() as connection:
        lead = (
            connection.execute(
                select(leads).where(leads.c.tenant_id == tenant_id, leads.c.id == lead_id)
            )
            .mappings()
            .one()
        )
        notes = (
            connection.execute(select(comments).where(comments.c.tenant_id == tenant_id))
            .mappings()
            .all()
        )
        events = (
            connection.execute(
                select(history)
                .where(history.c.tenant_id == tenant_id, history.c.subject_id == lead_id)
                .order_by(history.c.id)
            )
            .mappings()
            .all()
        )
    return lead, list(notes), list(events)


def _payload(event: Any) -> dict[str, Any]:
    payload = event["payload"]
    return json.loads(payload) if isinstance(payload, str) else dict(payload)


def _stage_change(event: Any) -> tuple[str, str]:
    """(from, to) of a stage-change history row, whatever shape its ``changes`` take."""
    changes = _payload(event)["changes"]
    if isinstance(changes, dict):
        change = changes["stage_id"]
    else:
        change = next(c for c in changes if c.get("field") == "stage_id")
    before = change.get("before", change.get("old"))
    after = change.get("after", change.get("new"))
    return str(before), str(after)


async def test_a_hundred_concurrent_comments_and_stage_changes_lose_nothing(
    service: Service, database: Database
) -> None:
    card = await service.say("new lead Race condition for Acme Racing")
    lead_id = action_data(card, verbs.LEAD_REFRESH)[verbs.LEAD_ID]
    stages = list(choices(card, verbs.IN_STAGE_ID).values())
    lead, _notes, events = _lead_rows(database, service.tenant_id, lead_id)
    first_stage, version_0, events_0 = lead["stage_id"], lead["version"], len(events)
    targets = [s for s in stages if s != first_stage]
    assert len(targets) >= 2

    presses: list[tuple[str, dict[str, Any]]] = []
    for i in range(max(COMMENTS, STAGE_PRESSES)):
        if i < COMMENTS:
            presses.append(
                (
                    verbs.LEAD_COMMENT,
                    {verbs.LEAD_ID: lead_id, verbs.IN_COMMENT: f"race note {i:03d}"},
                )
            )
        if i < STAGE_PRESSES:
            data = {verbs.LEAD_ID: lead_id, verbs.IN_STAGE_ID: targets[i % len(targets)]}
            if i % 2 == 0:
                data[verbs.VERSION] = version_0  # the card everyone had open
            presses.append((verbs.LEAD_CHANGE_STAGE, data))

    async def press(verb: str, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        activity = activities.card_action(
            verb, data, service_url=service.connector.url, tenant_id=service.tenant_id, user=ALICE
        )
        response = await service.http.post(f"{service.url}/api/messages", json=activity)
        body = await response.json() if response.status == 200 else {}
        return response.status, body

    answers = await asyncio.gather(*(press(verb, data) for verb, data in presses))

    assert [status for status, _ in answers] == [200] * len(presses)
    refused_stage, accepted_stage = 0, []
    for (verb, data), (_status, body) in zip(presses, answers, strict=True):
        shown = texts(check_card(body["value"]))
        if verb == verbs.LEAD_COMMENT:
            assert data[verbs.IN_COMMENT] in shown or "Race condition" in shown
            continue
        if "changed" in shown:
            # From the stale card, or beaten to the row by a concurrent write: either way the
            # lock refused rather than overwrote, and the card offers the latest version.
            refused_stage += 1
        else:
            accepted_stage.append(data)
    assert refused_stage >= 1  # 25 presses from one stale card cannot all win

    lead, notes, events = _lead_rows(database, service.tenant_id, lead_id)
    kept = sorted(n["text"] for n in notes if str(n["text"]).startswith("race note"))
    assert kept == [f"race note {i:03d}" for i in range(COMMENTS)]

    new_events = events[events_0:]
    stage_events = [e for e in new_events if e["event_name"] == "lead.stage_changed"]
    assert stage_events, "some stage change went through"
    assert len(stage_events) <= len(accepted_stage)
    # One story: each change starts where the previous one ended (a lost update would not).
    at = first_stage
    for event in stage_events:
        before, after = _stage_change(event)
        assert before == at, (before, at)
        at = after
    assert lead["stage_id"] == at
    assert lead["stage_id"] in targets
    # Comments are rows of their own: they do not move the lead's version.
    lead_changes = [e for e in new_events if e["event_name"] != "lead.comment_added"]
    assert lead["version"] == version_0 + len(lead_changes), (
        lead["version"],
        version_0,
        [e["event_name"] for e in new_events],
    )
