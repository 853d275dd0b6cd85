"""botbuilder's ``Storage`` on our database, so bot state (dialogs, SSO token exchange) survives
restarts and is shared by replicas. It adapts ``storage.kv.KeyValueStore``, which holds the
e_tag rules; this class only moves the calls off the event loop and translates shapes.

Values must be JSON data (what ``BotState`` stores for plain properties).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, Protocol, TypeVar

from botbuilder.core import Storage

T = TypeVar("T")
E_TAG = "e_tag"


class KeyValue(Protocol):
    def read(self, keys: list[str]) -> dict[str, tuple[dict[str, Any], str]]: ...
    def write(self, changes: dict[str, tuple[dict[str, Any], str | None]]) -> dict[str, str]: ...
    def delete(self, keys: list[str]) -> None: ...


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return dict(value)
    if hasattr(value, "__dict__"):
        return dict(vars(value))
    raise TypeError(f"bot state values must be dicts or objects, not {type(value).__name__}")


class DatabaseStorage(Storage):
    def __init__(self, store: KeyValue, executor: Executor | None = None) -> None:
        super().__init__()
        self._store = store
        self._executor = executor

    async def _run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    async def read(self, keys: list[str]) -> dict[str, Any]:
        if not keys:
            return {}
        found = await self._run(lambda: self._store.read(list(keys)))
        return {key: {**value, E_TAG: etag} for key, (value, etag) in found.items()}

    async def write(self, changes: dict[str, Any]) -> None:
        if changes is None:
            raise ValueError("Changes are required when writing")
        if not changes:
            return
        prepared: dict[str, tuple[dict[str, Any], str | None]] = {}
        for key, change in changes.items():
            value = _as_dict(change)
            etag = value.pop(E_TAG, None)
            if etag == "":
                raise ValueError("storage.write(): etag missing")
            prepared[key] = (value, etag)
        await self._run(lambda: self._store.write(prepared))

    async def delete(self, keys: list[str]) -> None:
        if keys:
            await self._run(lambda: self._store.delete(list(keys)))
