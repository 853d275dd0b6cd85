"""From the outbox to each follower's chat: fan out, group, render, rate-limit, send, settle.

Two steps, both leased so any number of dispatchers (in the service or ``teamcrm worker``) can
run at once without sending twice:
1. fan-out: lead events -> one notification row per recipient (followers who want that kind,
   people @mentioned; never the actor), written in the transaction that settles the event;
2. delivery: due rows -> a card in the recipient's 1:1 chat (opened on the fly when only the
   person's ids are known), or an in-place update of the card already sent for the same
   burst of changes. 429/412/5xx and timeouts retry with exponential backoff and jitter
   (honouring Retry-After); 403 MessageWritesBlocked / 404 mark the chat inactive and the
   notification undeliverable; people nobody can reach yet wait until they talk to the bot.
At-least-once: a crash mid-delivery leaves the lease to expire, and the row is sent again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from bot.notify.limits import Limits, RateLimiter
from bot.notify.sender import DeliveryError, Sender, Target
from cards.i18n import Translator
from cards.notification import channel_post_card, notification_card
from domain.errors import DomainError
from domain.ids import ContactId, LeadId, TenantId, UserId
from domain.installer import AppInstaller, InstallOutcome
from domain.notifications import channel_event, kind_of, mentions_of, recipients
from domain.queries import ContactFilter
from domain.services import CRM, LeadView
from storage.conversations import ConversationRef, ConversationType
from storage.database import Database
from storage.notifications import NewNotification, NotificationJob

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_ATTEMPTS = 40
BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0
CHANNEL_PREFIX = "channel:"
# Graph proactive installation: where to open a chat when the tenant's own connector URL is
# unknown (Teams' documented global endpoint), and how long a refusal stands before asking again.
GLOBAL_SERVICE_URL = "https://smba.trafficmanager.net/teams/"
INSTALL_REFUSED_FOR = timedelta(hours=1)
INSTALL_REFUSALS_KEPT = 10_000
PEOPLE_EVENTS = frozenset(
    {"lead.participant_added", "lead.participant_removed", "lead.primary_contact_changed"}
)


@dataclass(frozen=True, slots=True)
class DispatcherOptions:
    window: timedelta = timedelta(seconds=30)
    poll_interval: float = 0.5
    batch_size: int = 50
    lease: timedelta = timedelta(seconds=60)
    concurrency: int = 16
    limits: Limits = field(default_factory=Limits)
    app_id: str = ""
    backoff_base: float = BACKOFF_BASE


def backoff(
    attempts: int, retry_after: float | None, rng: random.Random, base: float = BACKOFF_BASE
) -> float:
    """Half jitter on an exponential ceiling, never sooner than the connector asked."""
    ceiling = min(BACKOFF_CAP, base * (2 ** max(attempts - 1, 0)))
    delay = rng.uniform(ceiling / 2, ceiling)
    return max(delay, retry_after or 0.0)


class _TryLater(Exception):
    """Reaching the person failed in a passing way (throttled, timed out): retry the row."""

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Dispatcher:
    def __init__(
        self,
        database: Database,
        crm: CRM,
        sender: Sender,
        executor: Executor,
        options: DispatcherOptions | None = None,
        *,
        now: Callable[[], datetime] | None = None,
        installer: AppInstaller | None = None,
    ) -> None:
        self._database = database
        self._crm = crm
        self._sender = sender
        self._executor = executor
        self._options = options or DispatcherOptions()
        self._limiter = RateLimiter(self._options.limits)
        self._store = database.notifications()
        self._outbox = database.outbox()
        self._now = now or (lambda: datetime.now(UTC))
        self.worker_id = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self._wakeup: asyncio.Event | None = None
        self._views: dict[tuple[str, str, str], LeadView] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rng = random.Random()  # noqa: S311 - jitter, not security
        self._installer = installer
        self._install_refused: dict[tuple[str, str], datetime] = {}

    async def _run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    # --- the loop ---------------------------------------------------------------------------

    def wake(self) -> None:
        """Something was committed: look now rather than at the next poll (thread-safe)."""
        if self._loop is not None and self._wakeup is not None:
            self._loop.call_soon_threadsafe(self._wakeup.set)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        logger.info("notification dispatcher started", extra={"worker": self.worker_id})
        while not stop.is_set():
            try:
                busy = await self.step()
            except Exception:
                logger.exception("dispatcher step failed; retrying")
                busy = False
            if busy:
                continue
            self._wakeup.clear()
            waiters = {
                asyncio.ensure_future(stop.wait()),
                asyncio.ensure_future(self._wakeup.wait()),
            }
            _done, pending = await asyncio.wait(
                waiters, timeout=self._options.poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()

    async def step(self) -> bool:
        """One round of fan-out and one of delivery; True if there was work."""
        fanned = await self._run(self.fan_out)
        delivered = await self.deliver()
        return fanned > 0 or delivered > 0

    async def drain(self, *, rounds: int = 100) -> None:
        """Until nothing is due (tests and shutdown)."""
        for _ in range(rounds):
            if not await self.step():
                return

    # --- fan-out ----------------------------------------------------------------------------

    def fan_out(self) -> int:
        reminders = self._store.queue_due_reminders(limit=self._options.batch_size)
        return reminders + self._fan_out_events()

    def _fan_out_events(self) -> int:
        messages = self._outbox.claim(
            self.worker_id, limit=self._options.batch_size, lease=self._options.lease
        )
        for message in messages:
            record = message.payload
            try:
                entries = self._entries(TenantId(message.tenant_id), record)
            except Exception as error:
                logger.exception("could not fan out an event", extra={"outbox_id": message.id})
                self._outbox.mark_undeliverable(message.id, self.worker_id, type(error).__name__)
                continue
            self._store.fan_out(
                tenant_id=message.tenant_id,
                outbox_id=message.id,
                worker_id=self.worker_id,
                entries=entries,
                window=self._options.window,
            )
        return len(messages)

    def _entries(self, tenant_id: TenantId, record: dict[str, Any]) -> list[NewNotification]:
        posted = channel_event(record)
        if record.get("subject_kind") != "lead" or (kind_of(record) is None and not posted):
            return []
        lead_id = LeadId(str(record.get("subject_id")))
        with self._database.uow(tenant_id) as uow:
            lead = uow.leads.get(lead_id)
            if lead is None:
                return []
            followers = set(lead.follower_ids)
            targets = [f"pipeline:{lead.pipeline_id}", *(f"tag:{tag}" for tag in lead.tags)]
            change = self._change(record, uow)
        actor_raw = record.get("actor_id")
        actor = UserId(actor_raw) if isinstance(actor_raw, str) else None
        at = datetime.fromisoformat(str(record.get("occurred_at")))
        entries = []
        if kind_of(record) is not None:
            plan = recipients(
                record,
                followers=followers,
                preferences=self._store.preferences(tenant_id, followers | mentions_of(record)),
            )
            entries = [
                NewNotification(
                    recipient_id=recipient, lead_id=lead_id, actor_id=actor, change=change, at=at
                )
                for recipient in sorted(plan)
            ]
        if posted:
            change = {**change, "post": posted}
            entries += [
                NewNotification(
                    recipient_id=UserId(f"{CHANNEL_PREFIX}{conversation_id}"),
                    lead_id=lead_id,
                    actor_id=actor,
                    change=change,
                    at=at,
                    grouped=False,
                )
                for conversation_id, _subscriber in self._store.channels_for(tenant_id, targets)
            ]
        return entries

    @staticmethod
    def _change(record: dict[str, Any], uow: Any) -> dict[str, Any]:
        """What the card needs to say, resolved now (names of people may change later)."""
        change: dict[str, Any] = {
            "event": record.get("name"),
            "at": record.get("occurred_at"),
            "changes": record.get("changes", []),
        }
        if record.get("name") == "lead.comment_added":
            change["text"] = record.get("text", "")
        if record.get("name") == "lead.status_changed":
            change["reason"] = record.get("lost_reason")
        if record.get("name") in PEOPLE_EVENTS:
            ids = {record.get("contact_id")}
            for item in record.get("changes", []):
                if isinstance(item, dict) and item.get("field") == "contact_id":
                    ids.update({item.get("before"), item.get("after")})
            wanted = [ContactId(i) for i in ids if isinstance(i, str)]
            contacts = uow.contacts.get_many(wanted)
            change["names"] = {cid: c.name for cid, c in contacts.items()}
            change["contact_id"] = record.get("contact_id")
        return change

    # --- delivery ---------------------------------------------------------------------------

    async def deliver(self) -> int:
        jobs = await self._run(
            lambda: self._store.claim(
                self.worker_id, limit=self._options.batch_size, lease=self._options.lease
            )
        )
        if not jobs:
            return 0
        by_recipient: dict[tuple[str, str], list[NotificationJob]] = defaultdict(list)
        for job in jobs:
            by_recipient[(job.tenant_id, job.recipient_id)].append(job)
        self._views = await self._run(lambda: self._views_for(jobs))
        gate = asyncio.Semaphore(self._options.concurrency)

        async def one_person(queue: list[NotificationJob]) -> None:
            async with gate:
                for job in queue:  # in order: one person's cards never overtake each other
                    await self._deliver(job)

        try:
            await asyncio.gather(*(one_person(queue) for queue in by_recipient.values()))
        finally:
            self._views = {}
        return len(jobs)

    def _views_for(self, jobs: list[NotificationJob]) -> dict[tuple[str, str, str], LeadView]:
        """Each lead of the batch loaded once for all its recipients (a change followed by a
        thousand people must not load the lead a thousand times)."""
        wanted: dict[tuple[str, str], list[UserId]] = defaultdict(list)
        for job in jobs:
            if not job.recipient_id.startswith(CHANNEL_PREFIX):
                wanted[(job.tenant_id, job.lead_id)].append(job.recipient_id)
        views: dict[tuple[str, str, str], LeadView] = {}
        for (tenant_id, lead_id), people in wanted.items():
            try:
                found = self._crm.lead_views_for(TenantId(tenant_id), lead_id, people)
            except DomainError:
                continue
            for user_id, view in found.items():
                views[(tenant_id, lead_id, user_id)] = view
        return views

    async def _deliver(self, job: NotificationJob) -> None:
        try:
            await self._deliver_or_raise(job)
        except Exception as error:  # never lose a row to an unexpected failure: retry it
            logger.exception("notification delivery failed", extra={"notification": job.id})
            await self._retry(job, None, type(error).__name__, None)

    async def _deliver_or_raise(self, job: NotificationJob) -> None:
        if job.replaces_pending:
            # The card this one updates is still being sent: try again in a moment.
            await self._retry(job, None, "waiting for the card it updates", 1.0)
            return
        if job.recipient_id.startswith(CHANNEL_PREFIX):
            await self._post_to_channel(job)
            return
        rendered = await self._run(lambda: self._render(job))
        if rendered is None:
            await self._run(
                lambda: self._store.mark_undeliverable(
                    job, self.worker_id, status_code=None, detail="lead gone or not visible"
                )
            )
            return
        card = rendered
        try:
            target = await self._target(job)
        except _TryLater as later:
            await self._retry(job, None, str(later), later.retry_after)
            return
        if target is None:
            await self._run(
                lambda: self._store.mark_waiting(job, self.worker_id, "nobody can reach this user")
            )
            return
        try:
            async with self._limiter.sending(job.tenant_id, target.conversation_id):
                activity_id = await self._send_or_update(job, target, card)
        except DeliveryError as error:
            await self._failed(job, target, error)
            return
        await self._run(
            lambda: self._store.mark_sent(
                job, self.worker_id, conversation_id=target.conversation_id, activity_id=activity_id
            )
        )

    async def _send_or_update(
        self, job: NotificationJob, target: Target, card: dict[str, Any]
    ) -> str | None:
        """Update the card this one replaces in place, or post a new one."""
        if job.replaces_activity_id and job.replaces_conversation_id == target.conversation_id:
            try:
                await self._sender.update(target, job.replaces_activity_id, card)
            except DeliveryError as error:
                if error.status != 404:
                    raise
                return await self._sender.send(target, card)  # the card was deleted
            return job.replaces_activity_id
        return await self._sender.send(target, card)

    async def _post_to_channel(self, job: NotificationJob) -> None:
        """A new post in a subscribed channel, drawn with the subscriber's sight of the lead."""
        conversation_id = job.recipient_id.removeprefix(CHANNEL_PREFIX)
        found = await self._run(lambda: self._store.channel(job.tenant_id, conversation_id))
        rendered = await self._run(lambda: self._channel_card(job, found)) if found else None
        if found is None or rendered is None:
            await self._run(
                lambda: self._store.mark_undeliverable(
                    job,
                    self.worker_id,
                    status_code=None,
                    detail="channel unsubscribed or lead gone",
                )
            )
            return
        service_url, bot_id, _subscriber = found
        target = Target(
            tenant_id=job.tenant_id,
            service_url=service_url,
            conversation_id=conversation_id,
            channel_id="msteams",
            bot_id=bot_id,
        )
        try:
            async with self._limiter.sending(job.tenant_id, conversation_id):
                activity_id = await self._sender.send(target, rendered)
        except DeliveryError as error:
            await self._failed(job, target, error)
            return
        await self._run(
            lambda: self._store.mark_sent(
                job, self.worker_id, conversation_id=conversation_id, activity_id=activity_id
            )
        )

    def _channel_card(
        self, job: NotificationJob, found: tuple[str, str, str]
    ) -> dict[str, Any] | None:
        subscriber = UserId(found[2])
        try:
            view = self._crm.lead_view(job.tenant_id, subscriber, job.lead_id)
        except DomainError:
            return None
        locale = self._store.locales(job.tenant_id, [subscriber]).get(subscriber)
        event = str(job.changes[-1].get("post", "created")) if job.changes else "created"
        return channel_post_card(view, Translator.for_teams(locale), event=event)

    def _render(self, job: NotificationJob) -> dict[str, Any] | None:
        """The card as the recipient sees the lead now; ``None`` if they can't see it."""
        view = self._views.get((job.tenant_id, job.lead_id, job.recipient_id))
        if view is None:
            try:
                view = self._crm.lead_view(job.tenant_id, job.recipient_id, job.lead_id)
            except DomainError:
                return None
        locale = self._store.locales(job.tenant_id, [job.recipient_id]).get(job.recipient_id)
        t = Translator.for_teams(locale)
        actor = None
        if job.actor_id:
            try:
                actor = self._crm.get_user(job.tenant_id, job.actor_id)
            except DomainError:
                actor = None
        contacts: Any = ()
        colleagues: Any = ()
        if view.can_change:
            queries = self._database.queries(job.tenant_id)
            viewer = queries.viewer(job.recipient_id)
            if view.lead.account_id:
                contacts = queries.contacts(
                    viewer, ContactFilter(account_id=view.lead.account_id), limit=50
                ).items
            colleagues = queries.users(limit=50).items
        return notification_card(
            view,
            t,
            changes=job.changes,
            actor=actor,
            at=job.first_event_at,
            account_contacts=contacts,
            colleagues=colleagues,
        )

    async def _target(self, job: NotificationJob) -> Target | None:
        conversations = self._database.conversations(job.tenant_id)
        reference = await self._run(lambda: conversations.personal_for_user(job.recipient_id))
        if reference is None:
            seen = await self._run(lambda: conversations.seen_anywhere(job.recipient_id))
            if seen is None or not seen.user_id:
                return await self._install_and_open(job) if self._installer else None
            try:
                conversation_id = await self._sender.open_personal(
                    tenant_id=job.tenant_id,
                    service_url=seen.service_url,
                    user_id=seen.user_id,
                    bot_id=seen.bot_id,
                )
            except DeliveryError as error:
                logger.warning("could not open a 1:1 chat: %s", error)
                return None
            reference = await self._run(
                lambda: conversations.upsert(
                    ConversationRef(
                        conversation_id=conversation_id,
                        conversation_type=ConversationType.PERSONAL,
                        service_url=seen.service_url,
                        channel_id=seen.channel_id,
                        bot_id=seen.bot_id,
                        user_id=seen.user_id,
                        aad_object_id=job.recipient_id,
                    )
                )
            )
        return Target(
            tenant_id=job.tenant_id,
            service_url=reference.service_url,
            conversation_id=reference.conversation_id,
            channel_id=reference.channel_id,
            bot_id=reference.bot_id,
            user_id=reference.user_id,
        )

    # --- people who never opened the bot: install it for them (Graph) -------------------------

    async def _install_and_open(self, job: NotificationJob) -> Target | None:
        """Install the bot for the person, open the 1:1 chat and remember it. ``None``: wait
        until they talk to the bot (refused, or refused within the hour: no Graph call then);
        ``_TryLater``: a passing fault, the row is retried."""
        installer = self._installer
        key = (job.tenant_id, job.recipient_id)
        refused_at = self._install_refused.get(key)
        if installer is None or (
            refused_at is not None and self._now() - refused_at < INSTALL_REFUSED_FOR
        ):
            return None
        result = await self._run(lambda: installer.install_for(job.tenant_id, job.recipient_id))
        if result.outcome is InstallOutcome.NOT_PERMITTED:
            self._refused(key)
            return None
        if not result.reachable:
            if job.attempts >= MAX_ATTEMPTS:
                return None
            raise _TryLater(f"installing the app: {result.detail}", result.retry_after)
        self._install_refused.pop(key, None)
        conversations = self._database.conversations(job.tenant_id)
        service_url = await self._run(conversations.any_service_url) or GLOBAL_SERVICE_URL
        bot_id = f"28:{self._options.app_id}"
        try:
            # Once installed, Teams opens the chat from the person's Entra object id.
            conversation_id = await self._sender.open_personal(
                tenant_id=job.tenant_id,
                service_url=service_url,
                user_id=job.recipient_id,
                bot_id=bot_id,
            )
        except DeliveryError as error:
            if error.retryable and job.attempts < MAX_ATTEMPTS:
                raise _TryLater(f"opening the 1:1 chat: {error}", error.retry_after) from None
            if not result.chat_id:
                logger.warning("could not open a 1:1 chat after installing: %s", error)
                return None
            conversation_id = result.chat_id  # the chat Graph named is the same 1:1 chat
        reference = await self._run(
            lambda: conversations.upsert(
                ConversationRef(
                    conversation_id=conversation_id,
                    conversation_type=ConversationType.PERSONAL,
                    service_url=service_url,
                    channel_id="msteams",
                    bot_id=bot_id,
                    aad_object_id=job.recipient_id,
                )
            )
        )
        # Cards that waited for this person (sent before the permission was granted) go too.
        await self._run(lambda: self._store.wake(job.tenant_id, job.recipient_id))
        return Target(
            tenant_id=job.tenant_id,
            service_url=reference.service_url,
            conversation_id=reference.conversation_id,
            channel_id=reference.channel_id,
            bot_id=reference.bot_id,
        )

    def _refused(self, key: tuple[str, str]) -> None:
        now = self._now()
        if len(self._install_refused) >= INSTALL_REFUSALS_KEPT:
            self._install_refused = {
                k: at for k, at in self._install_refused.items() if now - at < INSTALL_REFUSED_FOR
            }
        self._install_refused[key] = now

    async def _failed(self, job: NotificationJob, target: Target, error: DeliveryError) -> None:
        if error.unreachable:
            conversations = self._database.conversations(job.tenant_id)
            await self._run(lambda: conversations.mark_inactive(target.conversation_id))
            await self._run(
                lambda: self._store.mark_undeliverable(
                    job, self.worker_id, status_code=error.status, detail=str(error)
                )
            )
            return
        if error.retryable and job.attempts < MAX_ATTEMPTS:
            await self._retry(job, error.status, str(error), error.retry_after)
            return
        await self._run(
            lambda: self._store.mark_undeliverable(
                job, self.worker_id, status_code=error.status, detail=str(error)
            )
        )

    async def _retry(
        self, job: NotificationJob, status: int | None, detail: str, retry_after: float | None
    ) -> None:
        delay = backoff(job.attempts, retry_after, self._rng, self._options.backoff_base)
        at = self._now() + timedelta(seconds=delay)
        await self._run(
            lambda: self._store.retry_at(job, self.worker_id, at, status_code=status, detail=detail)
        )
