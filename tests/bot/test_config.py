"""Settings read from the environment: what an admin may write and what gets refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.config import MAX_PROCESSES, MAX_WORKER_THREADS, Settings, worker_threads_for

NO_DOTENV = Path("/nonexistent/.env")


def test_one_process_unless_asked() -> None:
    assert Settings.from_env({}, dotenv=NO_DOTENV).processes == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2", 2), (" 4 ", 4), ("auto", os.cpu_count() or 1), (str(MAX_PROCESSES), MAX_PROCESSES)],
)
def test_processes_from_the_environment(text: str, expected: int) -> None:
    settings = Settings.from_env({"TEAMCRM_PROCESSES": text}, dotenv=NO_DOTENV)
    assert settings.processes == expected


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5", str(MAX_PROCESSES + 1)])
def test_a_bad_process_count_is_refused_with_its_name(text: str) -> None:
    with pytest.raises(ValueError, match="TEAMCRM_PROCESSES"):
        Settings.from_env({"TEAMCRM_PROCESSES": text}, dotenv=NO_DOTENV)


def test_worker_threads_default_and_bounds() -> None:
    assert Settings.from_env({}, dotenv=NO_DOTENV).worker_threads is None  # picked by database
    auto = {"TEAMCRM_WORKER_THREADS": "auto"}
    assert Settings.from_env(auto, dotenv=NO_DOTENV).worker_threads is None
    env = {"TEAMCRM_WORKER_THREADS": "12"}
    assert Settings.from_env(env, dotenv=NO_DOTENV).worker_threads == 12
    on_loop = {"TEAMCRM_WORKER_THREADS": "0"}
    assert Settings.from_env(on_loop, dotenv=NO_DOTENV).worker_threads == 0
    for bad in ("-1", "many", str(MAX_WORKER_THREADS + 1)):
        with pytest.raises(ValueError, match="TEAMCRM_WORKER_THREADS"):
            Settings.from_env({"TEAMCRM_WORKER_THREADS": bad}, dotenv=NO_DOTENV)


def test_worker_threads_by_database() -> None:
    assert worker_threads_for("sqlite") == 0  # on the event loop
    assert worker_threads_for("sqlite", processes=2) == 1  # other processes' locks: in a thread
    assert worker_threads_for("postgresql") == 2
    assert worker_threads_for("postgresql", processes=4) == 2
