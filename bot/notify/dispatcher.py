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
Delivery works in batches: one trip to the database reads a batch's leads, languages and chats
and draws one card per kind of viewer; the next batch is prepared while this one is sent; how
each send ended is written in group commits; leases are extended while a batch is sent.
At-least-once: a crash mid-delivery leaves the lease to expire, and the row is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from bot.notify.limits import Limits, RateLimiter
from bot.notify.rendering import BatchRenderer
from bot.notify.sender import DeliveryError, Sender, Target
from cards.i18n import Translator
from cards.notification import channel_post_card
from domain.errors import DomainError
from domain.ids import ContactId, LeadId, TenantId, UserId
from domain.installer import AppInstaller, InstallOutcome
from domain.leads import FOLLOWERS_MAX
from domain.notifications import channel_event, kind_of, mentions_of, recipients
from domain.services import CRM, LeadView
from storage.conversations import ConversationRef, ConversationType
from storage.database import Database
from storage.notifications import (
    NewNotification,
    NotificationJob,
    NotificationStore,
    Settlement,
)

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
# Events (and due reminders) fanned out per step: each may become a thousand cards.
EVENTS_PER_STEP = 50
# Settlements of a busy worker go to the database in groups: a write waits this long for
# this many more (see _Settler).
SETTLE_GATHER_SECONDS = 0.02
SETTLE_GATHER_COUNT = 100
PEOPLE_EVENTS = frozenset(
    {"lead.participant_added", "lead.participant_removed", "lead.primary_contact_changed"}
)


@dataclass(frozen=True, slots=True)
class DispatcherOptions:
    window: timedelta = timedelta(seconds=30)
    poll_interval: float = 0.5
    batch_size: int = FOLLOWERS_MAX  # a change to one lead fits one batch: one load, few cards
    lease: timedelta = timedelta(seconds=60)
    concurrency: int = 16
    limits: Limits = field(default_factory=Limits)
    app_id: str = ""
    backoff_base: float = BACKOFF_BASE
    # A batch older than this is read and drawn again for the cards it has still to send.
    fresh_for: timedelta = timedelta(seconds=2)


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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rng = random.Random()  # noqa: S311 - jitter, not security
        self._installer = installer
        self._install_refused: dict[tuple[str, str], datetime] = {}
        self._settler = _Settler(self, self._store, self.worker_id)
        # The next batch, claimed and prepared while the current one is sent.
        self._ahead: asyncio.Future[tuple[list[NotificationJob], _Batch | None]] | None = None

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
        try:
            while not stop.is_set():
                # Cleared before the step, not after: a wake during the step (a change committed
                # while this one looked) must not be lost to a poll interval.
                self._wakeup.clear()
                try:
                    busy = await self.step()
                except Exception:
                    logger.exception("dispatcher step failed; retrying")
                    busy = False
                if busy:
                    continue
                waiters = {
                    asyncio.ensure_future(stop.wait()),
                    asyncio.ensure_future(self._wakeup.wait()),
                }
                _done, pending = await asyncio.wait(
                    waiters,
                    timeout=self._options.poll_interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for task in pending:
                    task.cancel()
        finally:
            await self._release_ahead()

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
        reminders = self._store.queue_due_reminders(limit=EVENTS_PER_STEP)
        return reminders + self._fan_out_events()

    def _fan_out_events(self) -> int:
        messages = self._outbox.claim(
            self.worker_id, limit=EVENTS_PER_STEP, lease=self._options.lease
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
        """One batch: claimed and prepared (or taken from the one prepared while the previous
        batch was sent), then sent, each person's cards in order, and settled."""
        ahead, self._ahead = self._ahead, None
        jobs, batch = await (ahead if ahead is not None else self._run(self._claim_and_prepare))
        if not jobs:
            return 0
        if batch is None:  # the database went away while preparing: try again later
            for job in jobs:
                self._retry(job, None, "could not prepare the batch", None)
            await self._settler.wait()
            return len(jobs)
        if len(jobs) >= self._options.batch_size:
            # More are probably waiting: claim and prepare them while this batch is sent. They
            # are sent only after it, so one person's cards still go out in order.
            self._ahead = asyncio.ensure_future(self._run(self._claim_and_prepare))
        by_recipient: dict[tuple[str, str], list[NotificationJob]] = defaultdict(list)
        for job in jobs:
            by_recipient[(job.tenant_id, job.recipient_id)].append(job)
        gate = asyncio.Semaphore(self._options.concurrency)

        async def one_person(queue: list[NotificationJob]) -> None:
            async with gate:
                for job in queue:  # in order: one person's cards never overtake each other
                    await self._deliver(job, batch)

        keeper = asyncio.ensure_future(self._keep_leased([job.id for job in jobs]))
        try:
            await asyncio.gather(*(one_person(queue) for queue in by_recipient.values()))
        finally:
            keeper.cancel()
            await self._settler.wait()
        return len(jobs)

    def _claim_and_prepare(self) -> tuple[list[NotificationJob], _Batch | None]:
        """Claim a batch and read and render what it needs, in one trip to a worker thread;
        no batch (``None``) if preparing failed."""
        jobs = self._store.claim(
            self.worker_id, limit=self._options.batch_size, lease=self._options.lease
        )
        if not jobs:
            return jobs, None
        try:
            return jobs, self._prepare(jobs)
        except Exception:
            logger.exception("could not prepare a notification batch")
            return jobs, None

    async def _keep_leased(self, ids: list[int]) -> None:
        """Extend the leases of the batch being sent (and of the one claimed ahead) every third
        of a lease, so a batch that outlasts one (throttled, slow connector) is not taken over
        and sent twice by another worker."""
        lease = self._options.lease
        while True:
            await asyncio.sleep(lease.total_seconds() / 3)
            held = list(ids)
            ahead = self._ahead
            if (
                ahead is not None
                and ahead.done()
                and not ahead.cancelled()
                and not ahead.exception()
            ):
                held += [job.id for job in ahead.result()[0]]
            try:
                await self._run(partial(self._store.extend_lease, self.worker_id, held, lease))
            except Exception:  # the next beat tries again; at worst the lease runs out
                logger.exception("could not extend the lease of a notification batch")

    async def _release_ahead(self) -> None:
        """Stopping: the batch claimed ahead goes back to the queue now, not when its lease
        runs out."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return
        try:
            jobs, _batch = await ahead
        except Exception:  # its lease runs out instead
            logger.exception("could not claim ahead")
            return
        for job in jobs:
            self._settle(
                Settlement.retry(job, self._now(), status_code=None, detail="worker stopped")
            )
        await self._settler.wait()

    def _prepare(self, jobs: list[NotificationJob]) -> _Batch:
        """Everything the batch's sends need, read and rendered in one trip to the worker
        threads: each lead once, everyone's language and 1:1 chat in one query per tenant,
        one card per kind of viewer (``bot.notify.rendering``)."""
        people = [
            job
            for job in jobs
            if not job.recipient_id.startswith(CHANNEL_PREFIX) and not job.replaces_pending
        ]
        views = self._views_for(people)
        renderer = BatchRenderer(self._database, self._crm, self._store.locales)
        batch = _Batch(jobs=jobs, prepared_at=time.monotonic())
        recipients: dict[str, list[str]] = defaultdict(list)
        for job in people:
            recipients[job.tenant_id].append(job.recipient_id)
        for tenant_id, user_ids in recipients.items():
            renderer.load_locales(tenant_id, user_ids)
            for user_id, reference in self._store.personal_chats(tenant_id, user_ids).items():
                batch.chats[(tenant_id, user_id)] = reference
        for job in people:
            view = views.get((job.tenant_id, job.lead_id, job.recipient_id))
            batch.cards[job.id] = renderer.card(job, view) if view is not None else None
        return batch

    def _views_for(self, jobs: list[NotificationJob]) -> dict[tuple[str, str, str], LeadView]:
        """Each lead of the batch loaded once for all its recipients (a change followed by a
        thousand people must not load the lead a thousand times). People who may not see the
        lead, and leads that are gone, are left out."""
        wanted: dict[tuple[str, str], list[UserId]] = defaultdict(list)
        for job in jobs:
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

    async def _deliver(self, job: NotificationJob, batch: _Batch) -> None:
        try:
            await self._deliver_or_raise(job, batch)
        except Exception as error:  # never lose a row to an unexpected failure: retry it
            logger.exception("notification delivery failed", extra={"notification": job.id})
            self._retry(job, None, type(error).__name__, None)

    async def _deliver_or_raise(self, job: NotificationJob, batch: _Batch) -> None:
        if job.replaces_pending:
            # The card this one updates is still being sent: try again in a moment.
            self._retry(job, None, "waiting for the card it updates", 1.0)
            return
        if job.recipient_id.startswith(CHANNEL_PREFIX):
            await self._post_to_channel(job)
            return
        if time.monotonic() - batch.prepared_at > self._options.fresh_for.total_seconds():
            await self._refresh(batch)
        batch.started.add(job.id)
        card = batch.cards.get(job.id)
        if card is None:
            self._settle(
                Settlement.undeliverable(job, status_code=None, detail="lead gone or not visible")
            )
            return
        key = (job.tenant_id, job.recipient_id)
        try:
            reference = batch.chats.get(key) or await self._open_personal(job)
        except _TryLater as later:
            self._retry(job, None, str(later), later.retry_after)
            return
        if reference is None:
            self._settle(Settlement.waiting(job, "nobody can reach this user"))
            return
        batch.chats[key] = reference  # the person's next card in this batch goes there too
        target = Target(
            tenant_id=job.tenant_id,
            service_url=reference.service_url,
            conversation_id=reference.conversation_id,
            channel_id=reference.channel_id,
            bot_id=reference.bot_id,
            user_id=reference.user_id,
        )
        try:
            async with self._limiter.sending(job.tenant_id, target.conversation_id):
                activity_id = await self._send_or_update(job, target, card)
        except DeliveryError as error:
            if error.unreachable:
                batch.chats.pop(key, None)
            await self._failed(job, target, error)
            return
        self._settle(
            Settlement.sent(job, conversation_id=target.conversation_id, activity_id=activity_id)
        )

    def _settle(self, settlement: Settlement) -> None:
        self._settler.add(settlement)

    async def _refresh(self, batch: _Batch) -> None:
        """A batch sent slowly (rate limits, a slow connector) is read and drawn again for the
        cards still to go, so none shows the lead as it was more than ``fresh_for`` before
        its send began; everyone waiting shares one refresh."""
        if batch.refreshing is None:
            still = [job for job in batch.jobs if job.id not in batch.started]
            batch.refreshing = asyncio.ensure_future(self._refreshed(batch, still))
        refreshing = batch.refreshing
        try:
            await asyncio.shield(refreshing)
        finally:
            if batch.refreshing is refreshing and refreshing.done():
                batch.refreshing = None

    async def _refreshed(self, batch: _Batch, still: list[NotificationJob]) -> None:
        fresh = await self._run(partial(self._prepare, still))
        batch.cards.update(fresh.cards)
        batch.chats.update(fresh.chats)
        batch.prepared_at = fresh.prepared_at

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
            self._settle(
                Settlement.undeliverable(
                    job, status_code=None, detail="channel unsubscribed or lead gone"
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
        self._settle(Settlement.sent(job, conversation_id=conversation_id, activity_id=activity_id))

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

    async def _open_personal(self, job: NotificationJob) -> ConversationRef | None:
        """A 1:1 chat for someone the batch found none for: opened now from a conversation the
        bot heard them in, else (with Graph) after installing the app for them; ``None``:
        nobody can reach them yet."""
        conversations = self._database.conversations(job.tenant_id)
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
        return await self._run(
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

    # --- people who never opened the bot: install it for them (Graph) -------------------------

    async def _install_and_open(self, job: NotificationJob) -> ConversationRef | None:
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
        return reference

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
            self._settle(Settlement.undeliverable(job, status_code=error.status, detail=str(error)))
            return
        if error.retryable and job.attempts < MAX_ATTEMPTS:
            self._retry(job, error.status, str(error), error.retry_after)
            return
        self._settle(Settlement.undeliverable(job, status_code=error.status, detail=str(error)))

    def _retry(
        self, job: NotificationJob, status: int | None, detail: str, retry_after: float | None
    ) -> None:
        delay = backoff(job.attempts, retry_after, self._rng, self._options.backoff_base)
        at = self._now() + timedelta(seconds=delay)
        self._settle(Settlement.retry(job, at, status_code=status, detail=detail))


@dataclass(slots=True)
class _Batch:
    """What ``Dispatcher._prepare`` read and rendered for one claimed batch, and when."""

    jobs: list[NotificationJob]
    prepared_at: float
    cards: dict[int, dict[str, Any] | None] = field(default_factory=dict)  # None: not visible
    chats: dict[tuple[str, str], ConversationRef] = field(default_factory=dict)
    started: set[int] = field(default_factory=set)  # jobs whose delivery has begun
    refreshing: asyncio.Future[None] | None = None


class _Settler:
    """Group commit for how deliveries ended. The first settlement after a quiet spell is
    written at once (an idle worker settles each card straight away); while cards keep coming,
    each write waits up to ``SETTLE_GATHER_SECONDS`` for ``SETTLE_GATHER_COUNT`` of them, so a
    burst costs a few transactions rather than one per card. Between a send and its
    settlement the row stays leased: a crash there resends it (at-least-once), as a crash
    between a send and a per-card write always did; the gathering adds at most that wait."""

    def __init__(self, dispatcher: Dispatcher, store: NotificationStore, worker: str) -> None:
        self._dispatcher = dispatcher
        self._store = store
        self._worker = worker
        self._pending: list[Settlement] = []
        self._writing: asyncio.Task[None] | None = None
        self._enough = asyncio.Event()  # enough gathered, or someone waits: write now
        self._waiting = 0
        self.transactions = 0

    def add(self, settlement: Settlement) -> None:
        self._pending.append(settlement)
        if len(self._pending) >= SETTLE_GATHER_COUNT:
            self._enough.set()
        if self._writing is None or self._writing.done():
            self._enough.clear()
            self._writing = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        while self._pending:
            settlements, self._pending = self._pending, []
            self._enough.clear()
            try:
                await self._dispatcher._run(partial(self._store.settle, self._worker, settlements))
                self.transactions += 1
            except Exception:  # the rows stay leased and are delivered again when it expires
                logger.exception(
                    "could not settle notifications", extra={"count": len(settlements)}
                )
            if self._pending and not self._waiting:
                # Cards are still coming: let more of them join the next transaction.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._enough.wait(), SETTLE_GATHER_SECONDS)

    async def wait(self) -> None:
        """Until everything added so far is written (or failed to be), gathering no more."""
        self._waiting += 1
        try:
            while self._writing is not None and not self._writing.done():
                self._enough.set()
                await asyncio.shield(self._writing)
        finally:
            self._waiting -= 1
