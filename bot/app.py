"""The composition root: the one place that builds the database, the CRM, the adapter and the
bot, and hands them to the aiohttp application.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web
from botbuilder.integration.aiohttp import CloudAdapter
from botframework.connector.auth import ServiceClientCredentialsFactory

from bot.actions import Actions
from bot.adapter import build_adapter
from bot.config import Settings, worker_threads_for
from bot.graph import GraphInstaller, graph_installer
from bot.housekeeping import Schedule, housekeeping
from bot.http import MessagesEndpoint, healthz, readyz
from bot.identity import ConversationRef, Speaker
from bot.notify.dispatcher import Dispatcher, DispatcherOptions
from bot.notify.limits import Limits
from bot.notify.sender import Sender
from bot.outbound import Outbound
from bot.pages import privacy, terms
from bot.state import DatabaseStorage
from bot.teams import BotOptions, CrmBot
from domain.ids import TenantId
from domain.notifications import NotificationSettings
from domain.services import CRM
from storage.activities import PendingClaim, claim_on_commit
from storage.conversations import ConversationRef as StoredRef
from storage.conversations import ConversationType
from storage.database import Database

logger = logging.getLogger(__name__)

# botbuilder's state keys carry channel and conversation ids already: one partition for all.
STATE_PARTITION = "botbuilder"
DISPATCHER_STOP_SECONDS = 10.0
HOUSEKEEPING = Schedule()


class StorageRegistry:
    """The bot's ``Registry`` on the real database."""

    def __init__(self, database: Database, crm: CRM) -> None:
        self._database = database
        self._crm = crm

    def register_user(self, speaker: Speaker) -> None:
        """Also the moment notifications that were waiting for this person can go out, in the
        language they speak."""
        self._crm.register_user(speaker.tenant_id, speaker.user_id, display_name=speaker.name)
        notifications = self._database.notifications()
        notifications.set_locale(speaker.tenant_id, speaker.user_id, speaker.locale)
        notifications.wake(speaker.tenant_id, speaker.user_id)

    def remember_conversation(self, reference: ConversationRef) -> None:
        self._database.conversations(reference.tenant_id).upsert(
            StoredRef(
                conversation_id=reference.conversation_id,
                conversation_type=ConversationType(reference.conversation_type),
                service_url=reference.service_url,
                channel_id=reference.channel_id,
                bot_id=reference.bot_id,
                user_id=reference.user_id,
                aad_object_id=reference.aad_object_id,
                team_id=reference.team_id,
                teams_channel_id=reference.channel_thread_id,
            )
        )

    def claim_activity(self, tenant_id: TenantId, activity_id: str) -> bool:
        return self._database.activities(tenant_id).claim(activity_id)

    def claim_on_commit(
        self, tenant_id: TenantId, activity_id: str
    ) -> AbstractContextManager[PendingClaim]:
        return claim_on_commit(tenant_id, activity_id)


@dataclass
class Runtime:
    settings: Settings
    database: Database
    crm: CRM
    adapter: CloudAdapter
    bot: CrmBot
    executor: ThreadPoolExecutor
    # Notification delivery and housekeeping: their batches never hold up a turn.
    background: ThreadPoolExecutor
    messages: MessagesEndpoint
    state: DatabaseStorage
    dispatcher: Dispatcher
    outbound: Outbound
    installer: GraphInstaller | None = None


RUNTIME = web.AppKey("runtime", Runtime)


def build_runtime(
    settings: Settings,
    *,
    credentials_factory: ServiceClientCredentialsFactory | None = None,
) -> Runtime:
    database = Database(settings.database_url)
    if settings.auto_migrate:
        database.upgrade()
    database.checkpoint_in_background()
    crm = CRM(database.uow)
    threads = settings.worker_threads
    if threads is None:
        threads = worker_threads_for(database.dialect, settings.processes)
    # With no turn threads, turns run on the event loop; the health check, the bot state and
    # the background work still get threads of their own.
    executor = ThreadPoolExecutor(max(threads, 1), thread_name_prefix="teamcrm")
    background = ThreadPoolExecutor(max(threads, 1), thread_name_prefix="teamcrm-background")
    outbound = Outbound()
    adapter = build_adapter(settings, credentials_factory, outbound)
    installer = graph_installer(settings)
    dispatcher = Dispatcher(
        database,
        crm,
        Sender(adapter, settings.app_id),
        background,
        DispatcherOptions(
            window=timedelta(seconds=settings.notify_window_seconds),
            lease=timedelta(seconds=max(settings.notify_lease_seconds, 1.0)),
            limits=Limits(enabled=settings.notify_rate_limits),
            app_id=settings.app_id,
        ),
        installer=installer,
    )
    bot = CrmBot(
        Actions(
            crm,
            database.queries,
            NotificationSettings(database.notifications(), crm.get_lead),
            database.notifications(),
        ),
        StorageRegistry(database, crm),
        executor if threads else None,
        BotOptions(allowed_tenants=settings.allowed_tenants),
        on_change=dispatcher.wake,
    )
    return Runtime(
        settings=settings,
        database=database,
        crm=crm,
        adapter=adapter,
        bot=bot,
        executor=executor,
        background=background,
        messages=MessagesEndpoint(adapter, bot),
        state=DatabaseStorage(database.key_value_store(STATE_PARTITION), executor),
        dispatcher=dispatcher,
        outbound=outbound,
        installer=installer,
    )


def create_app(
    settings: Settings,
    *,
    credentials_factory: ServiceClientCredentialsFactory | None = None,
) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        if settings.anonymous:
            logger.warning(
                "NO MicrosoftAppId CONFIGURED: running ANONYMOUS. Any caller is accepted and "
                "replies carry no token. Use this only for local trials (Agents Playground)."
            )
        runtime = await asyncio.to_thread(
            build_runtime, settings, credentials_factory=credentials_factory
        )
        app[RUNTIME] = runtime
        stop = asyncio.Event()
        tasks = (
            {
                asyncio.create_task(runtime.dispatcher.run(stop)),
                asyncio.create_task(
                    housekeeping(runtime.database, runtime.background, stop, HOUSEKEEPING)
                ),
            }
            if settings.run_dispatcher
            else set()
        )
        try:
            yield
        finally:
            stop.set()
            if tasks:
                await asyncio.wait(tasks, timeout=DISPATCHER_STOP_SECONDS)
                for task in tasks:
                    task.cancel()
            runtime.executor.shutdown(wait=True, cancel_futures=False)
            runtime.background.shutdown(wait=True, cancel_futures=False)
            await runtime.outbound.close()
            if runtime.installer is not None:
                runtime.installer.close()
            await asyncio.to_thread(runtime.database.dispose)

    app.cleanup_ctx.append(lifecycle)

    async def messages(request: web.Request) -> web.StreamResponse:
        return await request.app[RUNTIME].messages(request)

    async def database_ready() -> bool:
        runtime = app[RUNTIME]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(runtime.executor, runtime.database.ping)

    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz(database_ready))
    app.router.add_get("/privacy", privacy)
    app.router.add_get("/terms", terms)
    return app
