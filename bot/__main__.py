"""``python -m bot`` starts the service, like ``teamcrm serve``."""

from __future__ import annotations

import sys

from bot.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["serve", *sys.argv[1:]]))
