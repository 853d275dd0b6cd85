"""A unit of work reads outside any transaction and writes in one: the write transaction opens
at the first write (the commit, or taking a lead number) and is over when the commit or the
rollback returns."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import event

from domain.errors import Conflict
from domain.services import CRM
from storage.database import Database
from tests.storage.conftest import ADMIN, ALICE, TENANT
from tests.storage.test_unit_of_work import STAMP, seed_lead


class Checkouts:
    """The DBAPI connections handed out by the pool, to ask them about their transaction."""

    def __init__(self) -> None:
        self.connections: list[Any] = []

    def __call__(self, dbapi_connection: Any, *_: Any) -> None:
        self.connections.append(dbapi_connection)

    def in_transaction(self) -> bool:
        connection = self.connections[-1]
        if isinstance(connection, sqlite3.Connection):
            return connection.in_transaction
        return bool(connection.info.transaction_status != TransactionStatus.IDLE)


@pytest.fixture
def checkouts(database: Database) -> Iterator[Checkouts]:
    listener = Checkouts()
    for engine in database.engines:
        event.listen(engine, "checkout", listener)
    yield listener
    for engine in database.engines:
        event.remove(engine, "checkout", listener)


def test_a_unit_of_work_that_only_reads_opens_no_transaction(
    crm: CRM, database: Database, checkouts: Checkouts
) -> None:
    lead = seed_lead(database)
    with database.uow(TENANT) as uow:
        assert uow.users.get(ALICE) is not None
        assert uow.leads.get(lead.id) is not None
        assert uow.pipelines.list()
        assert not checkouts.in_transaction()
        uow.commit()  # nothing changed: nothing to send either
        assert not checkouts.in_transaction()
    crm.lead_view(TENANT, ADMIN, lead.id)
    assert not checkouts.in_transaction()


def test_the_write_transaction_spans_the_commit_only(
    database: Database, checkouts: Checkouts
) -> None:
    lead = seed_lead(database)
    with database.uow(TENANT) as uow:
        loaded = uow.leads.get(lead.id)
        pipeline = uow.pipelines.default()
        assert loaded is not None
        assert pipeline is not None
        loaded.change_stage(pipeline, pipeline.stages[1].id, STAMP)
        assert not checkouts.in_transaction()
        uow.commit()
        assert not checkouts.in_transaction()
        assert loaded.version == lead.version + 1


def test_a_lead_number_opens_the_write_transaction_and_a_rollback_gives_it_back(
    crm: CRM, database: Database, checkouts: Checkouts
) -> None:
    """The counter stays taken (and held) until the commit; leaving without one returns it."""
    with database.uow(TENANT) as uow:
        number = uow.leads.next_number()
        assert checkouts.in_transaction()
        assert uow.users.get(ALICE) is not None  # reads after it run inside it
        assert checkouts.in_transaction()
    assert not checkouts.in_transaction()
    assert crm.create_lead(TENANT, ALICE, title="Fleet").number == number


def test_a_conflict_rolls_the_write_transaction_back(
    database: Database, checkouts: Checkouts
) -> None:
    lead = seed_lead(database)
    with database.uow(TENANT) as first, database.uow(TENANT) as second:
        mine, theirs = first.leads.get(lead.id), second.leads.get(lead.id)
        assert mine is not None
        assert theirs is not None
        mine.update_details(title="Mine", stamp=STAMP)
        theirs.update_details(title="Theirs", stamp=STAMP)
        first.commit()
        with pytest.raises(Conflict):
            second.commit()
        assert not checkouts.in_transaction()
        # The same unit of work reads on, and can commit again.
        again = second.leads.get(lead.id)
        assert again is not None
        assert again.title == "Mine"
        again.update_details(title="Theirs", stamp=STAMP)
        second.commit()
    with database.uow(TENANT) as uow:
        stored = uow.leads.get(lead.id)
        assert stored is not None
        assert (stored.title, stored.version) == ("Theirs", lead.version + 2)
