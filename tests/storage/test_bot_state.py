"""Bot state (MemoryStorage-equivalent e_tags), conversation references, activity claims."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage.conversations import ConversationRef, ConversationType
from storage.database import Database
from storage.kv import EtagConflict, KeyValueStore
from tests.domain.fakes import FakeClock
from tests.storage.conftest import OTHER_TENANT, TENANT


@pytest.fixture
def store(database: Database) -> KeyValueStore:
    return database.key_value_store("bot")


def test_read_leaves_missing_keys_out(store: KeyValueStore) -> None:
    store.write({"a": ({"n": 1}, None)})
    assert set(store.read(["a", "missing"])) == {"a"}
    assert store.read([]) == {}


def test_write_then_read_returns_value_and_etag(store: KeyValueStore) -> None:
    etags = store.write({"conv/1": ({"dialog": {"step": 2}, "list": [1, "x"]}, None)})
    assert store.read(["conv/1"]) == {
        "conv/1": ({"dialog": {"step": 2}, "list": [1, "x"]}, etags["conv/1"])
    }


def test_write_with_current_etag_succeeds_and_changes_it(store: KeyValueStore) -> None:
    first = store.write({"k": ({"v": 1}, None)})["k"]
    second = store.write({"k": ({"v": 2}, first)})["k"]
    assert second != first
    assert store.read(["k"])["k"] == ({"v": 2}, second)


def test_write_with_stale_etag_raises_etag_conflict(store: KeyValueStore) -> None:
    first = store.write({"k": ({"v": 1}, None)})["k"]
    store.write({"k": ({"v": 2}, first)})
    with pytest.raises(EtagConflict, match="Etag conflict"):
        store.write({"k": ({"v": 3}, first)})
    assert store.read(["k"])["k"][0] == {"v": 2}


def test_star_or_none_etag_overwrites(store: KeyValueStore) -> None:
    store.write({"k": ({"v": 1}, None)})
    store.write({"k": ({"v": 2}, "*")})
    store.write({"k": ({"v": 3}, None)})
    assert store.read(["k"])["k"][0] == {"v": 3}


def test_etag_on_a_new_key_is_no_conflict(store: KeyValueStore) -> None:
    store.write({"new": ({"v": 1}, "some-etag")})
    assert store.read(["new"])["new"][0] == {"v": 1}


def test_a_conflicting_batch_writes_nothing(store: KeyValueStore) -> None:
    first = store.write({"k": ({"v": 1}, None)})["k"]
    store.write({"k": ({"v": 2}, first)})
    with pytest.raises(EtagConflict):
        store.write({"other": ({"v": 9}, None), "k": ({"v": 3}, first)})
    assert store.read(["other"]) == {}


def test_empty_etag_is_refused(store: KeyValueStore) -> None:
    with pytest.raises(ValueError, match="e_tag"):
        store.write({"k": ({"v": 1}, "")})


def test_delete_removes_and_ignores_missing_keys(store: KeyValueStore) -> None:
    store.write({"a": ({}, None), "b": ({}, None)})
    store.delete(["a", "never"])
    assert set(store.read(["a", "b"])) == {"b"}


def test_partitions_do_not_see_each_other(database: Database) -> None:
    database.key_value_store(TENANT).write({"k": ({"who": "a"}, None)})
    assert database.key_value_store(OTHER_TENANT).read(["k"]) == {}


def personal(conversation_id: str, aad: str = "aad-alice") -> ConversationRef:
    return ConversationRef(
        conversation_id=conversation_id,
        conversation_type=ConversationType.PERSONAL,
        service_url="https://smba.trafficmanager.net/emea/",
        channel_id="msteams",
        bot_id="28:bot",
        user_id="29:alice",
        aad_object_id=aad,
    )


def test_conversation_reference_upsert_and_lookups(database: Database, clock: FakeClock) -> None:
    refs = database.conversations(TENANT)
    refs.upsert(personal("a:old"))
    clock.advance(minutes=5)
    saved = refs.upsert(personal("a:new"))
    assert saved.updated_at == clock.now()
    old = refs.get("a:old")
    assert old is not None
    assert old.updated_at == clock.now() - timedelta(minutes=5)
    assert old.service_url == "https://smba.trafficmanager.net/emea/"
    found = refs.personal_for_user("aad-alice")
    assert found is not None
    assert found.conversation_id == "a:new"
    assert database.conversations(OTHER_TENANT).personal_for_user("aad-alice") is None


def test_channel_reference_keeps_team_and_channel(database: Database) -> None:
    refs = database.conversations(TENANT)
    channel = ConversationRef(
        conversation_id="19:general@thread.skype;messageid=1",
        conversation_type=ConversationType.CHANNEL,
        service_url="https://smba.example/",
        channel_id="msteams",
        bot_id="28:bot",
        team_id="19:team@thread.skype",
        teams_channel_id="19:general@thread.skype",
    )
    refs.upsert(channel)
    stored = refs.get(channel.conversation_id)
    assert stored is not None
    assert (stored.team_id, stored.teams_channel_id, stored.conversation_type) == (
        "19:team@thread.skype",
        "19:general@thread.skype",
        ConversationType.CHANNEL,
    )


def test_inactive_reference_is_not_used_until_heard_from_again(database: Database) -> None:
    refs = database.conversations(TENANT)
    refs.upsert(personal("a:1"))
    assert refs.mark_inactive("a:1") is True
    assert refs.personal_for_user("aad-alice") is None
    stored = refs.get("a:1")
    assert stored is not None
    assert stored.active is False
    refs.upsert(personal("a:1"))
    assert refs.personal_for_user("aad-alice") is not None
    assert refs.mark_inactive("unknown") is False


def test_an_activity_is_claimed_once(database: Database) -> None:
    activities = database.activities(TENANT)
    assert activities.claim("act-1") is True
    assert activities.claim("act-1") is False
    assert database.activities(OTHER_TENANT).claim("act-1") is True


def test_old_activity_ids_are_purged(database: Database, clock: FakeClock) -> None:
    activities = database.activities(TENANT)
    activities.claim("old")
    clock.advance(days=2)
    activities.claim("recent")
    removed = database.purge_processed_activities(timedelta(days=1))
    assert removed == 1
    assert activities.claim("old") is True
    assert activities.claim("recent") is False
