"""How prospect and customer statuses follow a person's (or a company's) deals.

The rules, from the product brief:
- a lead attached -> current prospect; all leads lost or unqualified -> lost prospect, until a
  new lead is attached; a lead won -> current customer, which stays until a person marks the
  contact *past customer*; no leads -> not a prospect / not a customer;
- manual changes are free except: with an open lead, not "not a prospect" nor "lost prospect";
  with a won lead, not "lost prospect".
Statuses are recomputed only when one of the person's leads changes, so a manual status holds
until the deals say otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from domain.errors import RuleViolation
from domain.events import Change, changes_between


class ProspectStatus(StrEnum):
    CURRENT = "current"
    LOST = "lost"
    NONE = "none"


class CustomerStatus(StrEnum):
    CURRENT = "current"
    PAST = "past"
    NONE = "none"


class LeadStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"
    UNQUALIFIED = "unqualified"

    @property
    def is_closed(self) -> bool:
        return self is not LeadStatus.OPEN


@dataclass(frozen=True, slots=True, kw_only=True)
class Statuses:
    prospect: ProspectStatus = ProspectStatus.NONE
    customer: CustomerStatus = CustomerStatus.NONE


def status_changes(before: Statuses, after: Statuses) -> tuple[Change, ...]:
    """The before/after of a status move, as the contact's and the account's events carry it."""
    return changes_between(
        {"prospect_status": before.prospect, "customer_status": before.customer},
        {"prospect_status": after.prospect, "customer_status": after.customer},
    )


def derive(previous: Statuses, leads: Iterable[LeadStatus], *, newly_won: bool) -> Statuses:
    """The statuses after one of the person's leads changed.

    ``leads`` are the statuses of every lead where the person is the primary Contact, after the
    change; ``newly_won`` says a lead of theirs has just become won (won now, or a won lead just
    attached to them), which is the only automatic way into *current customer*.
    """
    statuses = list(leads)
    if not statuses:
        return Statuses()
    if LeadStatus.OPEN in statuses:
        prospect = ProspectStatus.CURRENT
    elif all(s in {LeadStatus.LOST, LeadStatus.UNQUALIFIED} for s in statuses):
        prospect = ProspectStatus.LOST
    else:
        # Every lead is closed and at least one was won: a customer now, no longer a prospect.
        prospect = ProspectStatus.NONE
    customer = CustomerStatus.CURRENT if newly_won else previous.customer
    return Statuses(prospect=prospect, customer=customer)


def check_manual_change(target: Statuses, leads: Iterable[LeadStatus], *, kind: str) -> None:
    """Refuse the manual statuses that would contradict the person's deals."""
    statuses = set(leads)
    if LeadStatus.OPEN in statuses and target.prospect in {
        ProspectStatus.NONE,
        ProspectStatus.LOST,
    }:
        raise RuleViolation(
            f"{kind}.status.manual_change_forbidden",
            reason="open_lead",
            prospect=target.prospect.value,
        )
    if LeadStatus.WON in statuses and target.prospect is ProspectStatus.LOST:
        raise RuleViolation(
            f"{kind}.status.manual_change_forbidden",
            reason="won_lead",
            prospect=target.prospect.value,
        )


def allowed_manual_prospect(leads: Iterable[LeadStatus]) -> tuple[ProspectStatus, ...]:
    """The prospect statuses a person may pick by hand, for cards that offer only those."""
    statuses = list(leads)
    allowed = []
    for option in ProspectStatus:
        try:
            check_manual_change(Statuses(prospect=option), statuses, kind="any")
        except RuleViolation:
            continue
        allowed.append(option)
    return tuple(allowed)
