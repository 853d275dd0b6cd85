"""Adaptive Card builders: pure functions from domain views to card JSON, no I/O.

The bot imports what it needs from here; ``cards.verbs`` is the contract for the data each
card's actions send back.
"""

from cards.account import account_card
from cards.contact import contact_card
from cards.elements import BUDGET_BYTES, Button, Card, card_size
from cards.i18n import (
    Translator,
    account_separators,
    all_command_aliases,
    error_message,
    parse_amount,
    resolve_locale,
)
from cards.lead import LeadCardLimits, lead_card, mailto_link
from cards.lists import (
    AccountRow,
    ContactRow,
    LeadRow,
    LeadRows,
    PipelineRows,
    SearchRows,
    StageRow,
    find_card,
    my_leads_card,
    pipeline_card,
    stages_by_id,
)
from cards.messages import domain_error_card, error_card, help_card, info_card, welcome_card

__all__ = [
    "BUDGET_BYTES",
    "AccountRow",
    "Button",
    "Card",
    "ContactRow",
    "LeadCardLimits",
    "LeadRow",
    "LeadRows",
    "PipelineRows",
    "SearchRows",
    "StageRow",
    "Translator",
    "account_card",
    "account_separators",
    "all_command_aliases",
    "card_size",
    "contact_card",
    "domain_error_card",
    "error_card",
    "error_message",
    "find_card",
    "help_card",
    "info_card",
    "lead_card",
    "mailto_link",
    "my_leads_card",
    "parse_amount",
    "pipeline_card",
    "resolve_locale",
    "stages_by_id",
    "welcome_card",
]
