"""The tenants and users every domain test shares (the ``crm`` fixture registers them)."""

from __future__ import annotations

from domain.ids import TenantId, UserId

TENANT = TenantId("tenant-a")
OTHER_TENANT = TenantId("tenant-b")
ADMIN = UserId("aad-admin")
ALICE = UserId("aad-alice")
BOB = UserId("aad-bob")
