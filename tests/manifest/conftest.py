from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from manifest.package import PackageSettings, package_settings

MANIFEST_DIR = Path(__file__).resolve().parents[2] / "manifest"
SCHEMAS = MANIFEST_DIR / "schemas"
APP_ID = "0f8b3c1e-5d2a-4e6f-9a7b-1c2d3e4f5a6b"
BOT_ID = "7d4e2f1a-3b5c-4d6e-8f9a-0b1c2d3e4f5a"
HOST = "crm.example.com"


def load_schema(name: str) -> Any:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


def make_settings(**overrides: Any) -> PackageSettings:
    values: dict[str, Any] = {
        "app_id": APP_ID,
        "bot_id": BOT_ID,
        "version": "1.2.3",
        "host": HOST,
    } | overrides
    return package_settings(**values)


@pytest.fixture
def settings() -> PackageSettings:
    return make_settings()


@pytest.fixture(scope="session")
def manifest_schema() -> Any:
    return load_schema("teams-manifest-1.25.schema.json")


@pytest.fixture(scope="session")
def localization_schema() -> Any:
    return load_schema("teams-manifest-localization-1.25.schema.json")
