"""The domain must stay plain Python: this walks its imports so an outward one fails here."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "domain"
ALLOWED_THIRD_PARTY: frozenset[str] = frozenset()


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_domain_imports_only_itself_and_the_standard_library() -> None:
    offenders = {}
    for path in sorted(DOMAIN.rglob("*.py")):
        outward = {
            root
            for root in _imported_roots(path)
            if root != "domain"
            and root not in sys.stdlib_module_names
            and root not in ALLOWED_THIRD_PARTY
        }
        if outward:
            offenders[path.name] = sorted(outward)
    assert offenders == {}


def test_the_import_walk_notices_an_outward_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import sqlalchemy\nfrom bot.app import x\nfrom . import y\n")
    assert _imported_roots(sample) == {"sqlalchemy", "bot"}
