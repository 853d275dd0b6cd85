"""Factories for the domain tests: each builds one record through the use cases, with overrides."""

from __future__ import annotations

from typing import Any

from domain.accounts import Account
from domain.contacts import Contact
from domain.ids import TenantId, UserId
from domain.leads import Lead
from domain.services import CRM
from domain.statuses import CustomerStatus, ProspectStatus
from tests.domain.people import ADMIN, TENANT


def make_account(
    crm: CRM, *, actor: UserId = ADMIN, tenant: TenantId = TENANT, **overrides: Any
) -> Account:
    values: dict[str, Any] = {"name": "Acme Ltd"} | overrides
    return crm.create_account(tenant, actor, **values)


def make_contact(
    crm: CRM, *, actor: UserId = ADMIN, tenant: TenantId = TENANT, **overrides: Any
) -> Contact:
    values: dict[str, Any] = {"name": "Carla Contact", "email": "carla@acme.example"} | overrides
    return crm.create_contact(tenant, actor, **values)


def make_lead(
    crm: CRM, *, actor: UserId = ADMIN, tenant: TenantId = TENANT, **overrides: Any
) -> Lead:
    values: dict[str, Any] = {"title": "Website redesign"} | overrides
    return crm.create_lead(tenant, actor, **values)


def contact_statuses(crm: CRM, contact_id: str) -> tuple[ProspectStatus, CustomerStatus]:
    contact = crm.get_contact(TENANT, ADMIN, contact_id)
    return contact.prospect_status, contact.customer_status


def account_statuses(crm: CRM, account_id: str) -> tuple[ProspectStatus, CustomerStatus]:
    account = crm.get_account(TENANT, ADMIN, account_id)
    return account.prospect_status, account.customer_status
