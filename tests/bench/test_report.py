"""The benchmarks rewrite their tables in BENCHMARKS.md and keep what people wrote there."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _common() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_common", ROOT / "bench" / "common.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_common", module)
    spec.loader.exec_module(module)
    return module


def test_new_figures_replace_the_old_and_every_written_subsection_stays(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(
        "# Benchmarks\n\n## Storage\n\nstorage figures\n\n"
        "## Service\n\nold table\n\n### Findings\n\nwhy\n\n### Profile of the write path\n\n"
        "profile\n\n## Notifications\n\nnotify figures\n",
        encoding="utf-8",
    )
    _common().write_section(path, "Service", "new table\n")
    text = path.read_text(encoding="utf-8")
    assert "old table" not in text
    assert text.index("## Storage") < text.index("new table") < text.index("### Findings")
    assert text.index("### Findings") < text.index("### Profile of the write path")
    assert text.index("profile") < text.index("## Notifications")
    assert "storage figures" in text
    assert "notify figures" in text


def test_a_new_section_is_appended(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## Storage\n\nfigures\n", encoding="utf-8")
    _common().write_section(path, "Service", "table\n")
    text = path.read_text(encoding="utf-8")
    assert text.index("figures") < text.index("## Service") < text.index("table")
