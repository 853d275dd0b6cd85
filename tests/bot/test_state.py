"""The database-backed bot state behaves like botbuilder's MemoryStorage, on both engines."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botbuilder.core import ConversationState, MemoryStorage, Storage, TurnContext
from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import Activity, ChannelAccount, ConversationAccount

from bot.state import DatabaseStorage
from storage.database import Database

Factory = Callable[[], Storage]


@pytest.fixture(params=["memory", "database"])
def make_storage(request: pytest.FixtureRequest, database: Database) -> Factory:
    """Both implementations, each sharing its backing store across the instances it makes
    (the reference MemoryStorage simply runs once per engine too)."""
    if request.param == "memory":
        shared: dict[str, Any] = {}
        return lambda: MemoryStorage(shared)
    return lambda: DatabaseStorage(database.key_value_store("botbuilder"))


async def test_written_items_read_back_and_missing_keys_are_left_out(
    make_storage: Factory,
) -> None:
    storage = make_storage()
    await storage.write({"a": {"count": 1}, "b": {"name": "Ana"}})
    found = await make_storage().read(["a", "b", "missing"])
    assert set(found) == {"a", "b"}
    assert found["a"]["count"] == 1
    assert found["b"]["name"] == "Ana"


async def test_a_stale_etag_is_an_etag_conflict(make_storage: Factory) -> None:
    storage = make_storage()
    await storage.write({"k": {"v": 1, "e_tag": "*"}})
    await storage.write({"k": {"v": 2, "e_tag": "*"}})
    seen = (await storage.read(["k"]))["k"]["e_tag"]
    await storage.write({"k": {"v": 3, "e_tag": seen}})
    with pytest.raises(Exception, match="Etag conflict"):
        await make_storage().write({"k": {"v": 4, "e_tag": seen}})
    assert (await storage.read(["k"]))["k"]["v"] == 3


async def test_the_current_etag_and_the_star_both_write(make_storage: Factory) -> None:
    storage = make_storage()
    await storage.write({"k": {"v": 1, "e_tag": "*"}})
    current = (await storage.read(["k"]))["k"]
    await storage.write({"k": {"v": 2, "e_tag": current["e_tag"]}})
    await storage.write({"k": {"v": 3, "e_tag": "*"}})
    assert (await storage.read(["k"]))["k"]["v"] == 3


async def test_an_empty_etag_is_refused(make_storage: Factory) -> None:
    with pytest.raises(Exception, match="etag"):
        await make_storage().write({"k": {"v": 1, "e_tag": ""}})


async def test_delete_removes_and_ignores_missing_keys(make_storage: Factory) -> None:
    storage = make_storage()
    await storage.write({"a": {"v": 1}, "b": {"v": 2}})
    await storage.delete(["a", "never-there"])
    assert set(await make_storage().read(["a", "b"])) == {"b"}


async def test_conversation_state_survives_a_new_storage_instance(make_storage: Factory) -> None:
    """What a bot actually does with it: ConversationState saved, then loaded elsewhere."""
    activity = Activity(
        type="message",
        channel_id="msteams",
        conversation=ConversationAccount(id="19:chat"),
        from_property=ChannelAccount(id="29:user"),
        recipient=ChannelAccount(id="28:bot"),
    )
    writer = ConversationState(make_storage())
    counter = writer.create_property("counter")
    context = TurnContext(TestAdapter(), activity)
    await counter.set(context, {"turns": 3})
    await writer.save_changes(context)

    reader = ConversationState(make_storage())
    fresh = TurnContext(TestAdapter(), activity)
    await reader.load(fresh)
    assert await reader.create_property("counter").get(fresh) == {"turns": 3}
