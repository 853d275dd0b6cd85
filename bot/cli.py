"""The ``teamcrm`` command. Each package contributes its subcommands through ``register``.

Subcommands live beside what they drive (``storage.cli``: ``db``; ``manifest.cli``:
``manifest``; ``bot.serve``: ``serve`` and ``worker``), so this module only wires them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

# Modules that define ``register(subparsers)``; each sets ``handler`` on its parsers.
SUBCOMMAND_MODULES = ("bot.serve", "storage.cli", "manifest.cli")

Handler = Callable[[argparse.Namespace], int]


def _version() -> str:
    try:
        return version("teamcrm")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="teamcrm", description="TeamCRM: a CRM that lives inside Microsoft Teams."
    )
    parser.add_argument("--version", action="version", version=f"teamcrm {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
            continue  # that capability is not built yet
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    return handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
