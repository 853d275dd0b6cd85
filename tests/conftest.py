"""Settings for the whole suite."""

from __future__ import annotations

from cards import elements

# Every card the suite sends is checked: the JSON spliced into an answer must be the card's.
elements.VERIFY_MEASURED = True
