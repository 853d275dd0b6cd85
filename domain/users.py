"""People of the organisation (Teams users) and their roles; roles decide what each one sees."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.common import Aggregate, Stamp
from domain.errors import RuleViolation
from domain.events import UserRegistered, UserUpdated, changes_between
from domain.ids import TenantId, UserId
from domain.validation import NAME_MAX, clean_email, clean_line


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    MEMBER = "member"


@dataclass(slots=True, kw_only=True)
class User(Aggregate):
    """A Teams user of the tenant; ``id`` is their Entra (AAD) object id."""

    id: UserId
    display_name: str
    email: str | None = None
    role: Role = Role.MEMBER
    manager_id: UserId | None = None

    @classmethod
    def register(
        cls,
        *,
        tenant_id: TenantId,
        user_id: UserId,
        display_name: str,
        email: str | None,
        first_of_tenant: bool,
        stamp: Stamp,
    ) -> User:
        """The first user of a tenant becomes its admin, so someone can configure it."""
        user = cls(
            tenant_id=tenant_id,
            id=UserId(clean_line(user_id, "user_id", NAME_MAX)),
            display_name=clean_line(display_name, "display_name", NAME_MAX),
            email=clean_email(email),
            role=Role.ADMIN if first_of_tenant else Role.MEMBER,
        )
        user.record(
            UserRegistered(
                tenant_id=tenant_id,
                actor_id=stamp.actor_id or user.id,
                occurred_at=stamp.at,
                subject_id=user.id,
                role=user.role.value,
            )
        )
        return user

    def _snapshot(self) -> dict[str, object]:
        return {
            "display_name": self.display_name,
            "email": self.email,
            "role": self.role,
            "manager_id": self.manager_id,
        }

    def _changed(self, before: dict[str, object], stamp: Stamp) -> None:
        changes = changes_between(before, self._snapshot())
        if changes:
            self.record(
                UserUpdated(
                    tenant_id=self.tenant_id,
                    actor_id=stamp.actor_id,
                    occurred_at=stamp.at,
                    subject_id=self.id,
                    changes=changes,
                )
            )

    def update_profile(self, *, display_name: str, email: str | None, stamp: Stamp) -> None:
        """Teams names and emails change; keep ours in step when the user talks to the bot.

        Most activities carry no email, so ``None`` keeps the one we know.
        """
        before = self._snapshot()
        self.display_name = clean_line(display_name, "display_name", NAME_MAX)
        if email is not None:
            self.email = clean_email(email)
        self._changed(before, stamp)

    def change_role(self, role: Role, stamp: Stamp) -> None:
        before = self._snapshot()
        self.role = role
        self._changed(before, stamp)

    def set_manager(self, manager: User | None, stamp: Stamp) -> None:
        if manager is not None:
            if manager.id == self.id:
                raise RuleViolation("user.manager_self", user_id=self.id)
            if manager.role is Role.MEMBER:
                raise RuleViolation("user.manager_not_manager", user_id=manager.id)
        before = self._snapshot()
        self.manager_id = manager.id if manager else None
        self._changed(before, stamp)
