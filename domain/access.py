"""Who may see and change what: the accounts' responsible users define each portfolio.

- admins see and change the whole tenant;
- members see the accounts they are responsible for, those accounts' leads and contacts, and the
  leads they own, follow or were added to as followers (read only: following gives read access
  to that one lead, not to its account);
- managers see and change what their team members see and change, besides their own portfolio.

Storage applies the same rules as SQL filters for lists; a test checks both agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.accounts import Account
from domain.contacts import Contact
from domain.ids import UserId
from domain.leads import Lead
from domain.users import Role


@dataclass(frozen=True, slots=True, kw_only=True)
class Viewer:
    """The acting user with the people whose portfolio they share (themselves and their team)."""

    user_id: UserId
    role: Role
    scope: frozenset[UserId]

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def covers(self, user_id: UserId | None) -> bool:
        return user_id is not None and user_id in self.scope


def can_view_account(viewer: Viewer, account: Account) -> bool:
    return viewer.is_admin or bool(account.responsible_ids & viewer.scope)


def can_change_account(viewer: Viewer, account: Account) -> bool:
    return can_view_account(viewer, account)


def can_change_lead(viewer: Viewer, lead: Lead, account: Account | None) -> bool:
    """The owner and the account's responsibles work the deal; followers only watch it."""
    if viewer.is_admin or viewer.covers(lead.owner_id):
        return True
    return account is not None and can_view_account(viewer, account)


def can_view_lead(viewer: Viewer, lead: Lead, account: Account | None) -> bool:
    return can_change_lead(viewer, lead, account) or bool(lead.follower_ids & viewer.scope)


def can_view_contact(
    viewer: Viewer,
    contact: Contact,
    employer: Account | None,
    *,
    works_on_lead_with_contact: bool = False,
) -> bool:
    """Contacts of the portfolio's accounts, those the viewer created without an account, and
    the people on leads the viewer works (``works_on_lead_with_contact``, found by the caller).
    """
    if viewer.is_admin:
        return True
    if employer is not None and can_view_account(viewer, employer):
        return True
    if contact.account_id is None and viewer.covers(contact.created_by):
        return True
    return works_on_lead_with_contact


def can_change_contact(
    viewer: Viewer,
    contact: Contact,
    employer: Account | None,
    *,
    works_on_lead_with_contact: bool = False,
) -> bool:
    return can_view_contact(
        viewer, contact, employer, works_on_lead_with_contact=works_on_lead_with_contact
    )
