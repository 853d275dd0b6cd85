"""manifest/ stays a build tool: no bot, storage or botbuilder code comes along with it."""

from __future__ import annotations

import ast
import sys

from tests.manifest.conftest import MANIFEST_DIR

ALLOWED_THIRD_PARTY = frozenset({"jsonschema"})


def imported_roots(source: str) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_manifest_imports_only_itself_jsonschema_and_the_standard_library() -> None:
    offenders = {}
    for path in sorted(MANIFEST_DIR.rglob("*.py")):
        outward = {
            root
            for root in imported_roots(path.read_text(encoding="utf-8"))
            if root != "manifest"
            and root not in sys.stdlib_module_names
            and root not in ALLOWED_THIRD_PARTY
        }
        if outward:
            offenders[path.name] = sorted(outward)
    assert offenders == {}


def test_the_import_walk_sees_bot_storage_and_botbuilder() -> None:
    source = "import botbuilder.core\nfrom storage.uow import X\nfrom bot import cli\n"
    assert imported_roots(source) == {"botbuilder", "storage", "bot"}
