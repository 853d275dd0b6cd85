"""cards/ stays pure: it imports only the domain, itself and the standard library (no
botbuilder, no storage), and reads nothing but its own catalogs."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

CARDS = Path(__file__).resolve().parents[2] / "cards"
ALLOWED = {"cards", "domain"}
FORBIDDEN_CALLS = {"open", "urlopen", "socket", "connect"}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_cards_import_only_the_domain_and_the_standard_library() -> None:
    offenders = {
        path.name: sorted(
            root
            for root in _imported_roots(path)
            if root not in ALLOWED and root not in sys.stdlib_module_names
        )
        for path in sorted(CARDS.rglob("*.py"))
    }
    assert {name: roots for name, roots in offenders.items() if roots} == {}


def test_cards_do_no_io_of_their_own() -> None:
    calls = {
        node.func.id if isinstance(node.func, ast.Name) else node.func.attr
        for path in sorted(CARDS.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute)
    }
    assert not calls & FORBIDDEN_CALLS


def test_the_walk_notices_an_outward_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import botbuilder.core\nfrom storage.uow import x\nfrom . import y\n")
    assert _imported_roots(sample) == {"botbuilder", "storage"}
