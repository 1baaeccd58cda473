"""Wiring: builds the engines, broker, cache, limiter, providers and send path from settings.

Every process (API, worker, scheduler, or all of them in `herald run`) builds one Runtime.
The backend is chosen by configuration alone: SQLite + in-process parts by default.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from herald.analytics.consumer import Rollups
from herald.analytics.folding import Folder
from herald.api.services import ApiServices
from herald.apps.holds import Holds
from herald.cache.interface import ContactCache
from herald.cache.memory import MemoryContactCache, UncachedContacts
from herald.cache.redis import RedisContactCache
from herald.channels.base import SenderDeps
from herald.config import Settings
from herald.delivery.claim import Claim
from herald.delivery.pipeline import Pipeline
from herald.delivery.recorder import Recorder
from herald.delivery.sending import Step
from herald.delivery.steps.hold import HeldApps
from herald.delivery.steps.optout import OptOut
from herald.delivery.steps.ratelimit import RateLimit
from herald.delivery.steps.reachable import Reachable
from herald.delivery.steps.render import Render
from herald.delivery.steps.timing import FirstSendWait
from herald.events.service import Consumer, EventLog
from herald.feed.events import FeedEvents, MemoryFeedEvents, RedisFeedEvents
from herald.integrations.service import Account, load_accounts
from herald.kit.channels import Channel
from herald.kit.db import autocommit, is_sqlite, keyed_engine, make_engine, make_sessionmaker
from herald.kit.egress import EgressPolicy
from herald.kit.redis import Keys, connect
from herald.kit.secrets import Vault
from herald.monitoring.reporter import Reporter
from herald.monitoring.sampler import run_sampler
from herald.monitoring.service import Monitor
from herald.monitoring.throughput import Throughput
from herald.notifications.acceptance import Intake
from herald.providers.base import Adapter
from herald.providers.dkim import DkimSigner
from herald.providers.registry import build_adapter, parse_config
from herald.providers.router import Router
from herald.providers.smtp import SmtpAdapter
from herald.queue.embedded import EmbeddedQueue
from herald.queue.outbox import Outbox
from herald.queue.redis_streams import RedisTransport
from herald.queue.relay import run_relay
from herald.queue.transport import Queue, transport_of
from herald.ratelimit.gcra import MemoryRateLimiter
from herald.ratelimit.interface import RateLimiter
from herald.ratelimit.redis import RedisRateLimiter
from herald.recipients.card import ContactCard
from herald.recipients.repository import load_cards
from herald.tracking.recorder import EngagementRecorder
from herald.tracking.service import TrackingService
from herald.tracking.steps import PreferencesLink, Track, Tracker, UnsubscribeLink
from herald.tracking.tokens import TokenCodec
from herald.webhooks.consumer import WebhookConsumer
from herald.webhooks.dispatcher import WebhookDispatcher
from herald.webhooks.subscriptions import Subscriptions
from herald.workers.channel import ChannelWorker
from herald.workers.reconciler import run_reconciler
from herald.workers.scheduler import run_scheduler


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    broker: Queue
    cache: ContactCache
    limiter: RateLimiter
    router: Router
    recorder: Recorder
    pipeline: Pipeline
    vault: Vault
    pepper: str
    read_engine: AsyncEngine
    reads: async_sessionmaker[AsyncSession]
    intake: Intake
    # Where apps may make Herald connect: device registration and integrations check it.
    egress: EgressPolicy
    # Live feed events: from whichever process changes a feed to every API process's streams.
    feed_events: FeedEvents
    # Leases what the broker carries to this process's workers, in the log.
    claim: Claim
    # Which apps' endpoints want which webhook types: the webhook consumer's per-process snapshot.
    webhook_subscriptions: Subscriptions
    # Tracking's tokens, event log and buffer of opens and clicks (the API's).
    tracking: TrackingService
    # With a broker outside the database: announcements committed with the log, published
    # straight after the commit.
    outbox: Outbox | None = None
    # Provider callbacks and engagement are recorded here; its consumers (webhooks out,
    # rollups) also see the intake's and the recorder's milestones.
    events: EventLog = field(default_factory=EventLog)
    # The deployment's own provider accounts by kind, whose callbacks verify with them.
    provider_configs: dict[str, BaseModel] = field(default_factory=dict)
    # This process's deliveries sent per minute, which its reporter writes out (`monitoring`).
    throughput: Throughput = field(default_factory=Throughput)
    # PostgreSQL: the pool of the hot path's batch statements (`kit.db.keyed_engine`).
    keyed_engine: AsyncEngine | None = None

    def api_services(self) -> ApiServices:
        """What the API uses of this runtime."""
        return ApiServices(
            settings=self.settings,
            sessions=self.sessions,
            intake=self.intake,
            cache=self.cache,
            forget_accounts=self.router.forget,
            vault=self.vault,
            pepper=self.pepper,
            egress=self.egress,
            broker=self.broker,
            outbox=self.outbox,
            feed_events=self.feed_events,
            events=self.events,
            provider_configs=self.provider_configs,
            forget_webhooks=self.webhook_subscriptions.invalidate,
            tracking=self.tracking,
            monitor=self.monitor(),
        )

    def webhook_consumer(self) -> WebhookConsumer:
        """The events consumer that owes each subscribed endpoint a message (for the EventLog)."""
        return WebhookConsumer(self.webhook_subscriptions)

    def webhook_dispatcher(self) -> WebhookDispatcher:
        return WebhookDispatcher(
            self.engine,
            self.vault,
            # An app's endpoint URL is held to the rules of an app's provider account.
            self.egress.accounts,
            self.settings.webhooks,
            on_disabled=self.webhook_subscriptions.invalidate,
            subscriptions=self.webhook_subscriptions,
        )

    async def webhooks(self, stop: asyncio.Event) -> None:
        """Post the webhook messages owed, until `stop` (any number of processes may)."""
        if not self.settings.webhooks.enabled:
            return
        dispatcher = self.webhook_dispatcher()
        try:
            await dispatcher.run(stop)
        finally:
            await dispatcher.close()

    def worker(
        self, channel: Channel, *, concurrency: int | None = None, lease: float | None = None, owner: str | None = None
    ) -> ChannelWorker:
        w = self.settings.worker
        return ChannelWorker(
            channel,
            self.claim,
            self.pipeline,
            self.recorder,
            concurrency=concurrency or w.concurrency,
            claim_batch=w.claim_batch,
            lease=lease if lease is not None else w.lease.total_seconds(),
            poll_interval=w.poll_interval.total_seconds(),
            owner=owner,
            on_sent=self.throughput.sent,
        )

    def monitor(self) -> Monitor:
        """Queue depth, provider health and throughput, deployment-wide (operator data)."""
        return Monitor(self.reads, self.broker, self.settings.monitor)

    async def report(self, stop: asyncio.Event) -> None:
        """Write this process's breakers and throughput for the API to read, until `stop`
        (every process that runs workers)."""
        await Reporter(self.engine, self.router, self.throughput, self.settings.monitor).run(stop)

    async def sample_queues(self, stop: asyncio.Event) -> None:
        """Refresh the queue gauges until `stop`, where /metrics is served (a metrics token)."""
        interval = self.settings.monitor.sample_interval.total_seconds()
        if interval > 0 and self.settings.metrics.token is not None:
            await run_sampler(self.monitor(), stop, interval)

    def folder(self) -> Folder:
        a = self.settings.analytics
        single = self.read_engine if self.engine.dialect.name == "postgresql" else None
        return Folder(self.engine, interval=a.fold_interval.total_seconds(), batch=a.fold_batch, single=single)

    async def fold_rollups(self, stop: asyncio.Event) -> None:
        """Add the increments the hot path staged to the analytics rollups, until `stop`
        (every worker process and the scheduler; any number may)."""
        await self.folder().run(stop)

    async def relay(self, stop: asyncio.Event) -> None:
        """Publish outbox rows their requests did not, until `stop` (only a broker outside the
        database has any)."""
        await run_relay(self.engine, self.broker, stop)

    async def housekeeping(self, stop: asyncio.Event) -> None:
        """Release scheduled sends, promote due retries, re-drive what a queue lost and fold the
        analytics increments, until `stop`."""
        r = self.settings.reconciler
        await asyncio.gather(
            run_scheduler(self.sessions, self.broker, stop),
            run_reconciler(self.sessions, self.broker, stop, r.grace, r.interval),
            self.fold_rollups(stop),
        )

    async def close(self) -> None:
        # First: writing the buffered opens and clicks needs the database.
        await self.tracking.close()
        if self.outbox is not None:
            await self.outbox.close()
        await self.recorder.close()
        await self.pipeline.close()
        await self.router.close()
        # Before the broker, which closes the Redis client the feed's reader is blocked on.
        await self.feed_events.close()
        await self.broker.close()
        await self.cache.close()
        await self.limiter.close()
        await self.engine.dispose()
        if self.read_engine.pool is not self.engine.pool:
            await self.read_engine.dispose()
        if self.keyed_engine is not None:
            await self.keyed_engine.dispose()


def _lease_engine(engine: AsyncEngine, reads: AsyncEngine, keyed: AsyncEngine | None, broker: Queue) -> AsyncEngine:
    """Leases are writes: on SQLite the write engine (its read engine is read-only). On
    PostgreSQL each is one statement, atomic by itself, so an autocommit engine saves BEGIN and
    COMMIT: the keyed one for leases by id; where the log is the queue, a lease picks the due
    rows of a partial index, which only a plan that sees the states' values can use."""
    if keyed is None:
        return engine
    return keyed if transport_of(broker) is not None else reads


def send_steps(settings: Settings, limiter: RateLimiter, reads: AsyncEngine) -> list[Step]:
    """The send path's rules, in the order they apply (each may settle a delivery without a
    provider call): a disabled app's work is held first, a delivery with nowhere to go is
    skipped before anyone's opt-outs or limits are consulted, and only then is it rendered
    (with its unsubscribe link) and tracked."""
    tracker = Tracker.from_settings(settings)
    return [
        HeldApps(Holds(reads)),
        Reachable(),
        OptOut(),
        RateLimit(limiter, settings),
        UnsubscribeLink(tracker),
        PreferencesLink(tracker),
        Render(),
        Track(tracker),
        FirstSendWait(),
    ]


def event_consumers(settings: Settings, subscriptions: Subscriptions) -> list[Consumer]:
    """What follows each new delivery event in its own transaction: the webhook messages owed
    (written whether or not this process dispatches them), and the analytics rollups last, as
    their rows are shared by every writer and stay locked until the commit."""
    return [WebhookConsumer(subscriptions), Rollups()]


def default_adapters(settings: Settings, egress: EgressPolicy) -> list[Adapter]:
    """The deployment-wide providers: SMTP from HERALD_SMTP__*, others from HERALD_PROVIDERS."""
    configured = [build_adapter(kind, cfg, egress=egress) for kind, cfg in settings.providers.items()]
    return [SmtpAdapter(settings.smtp, dkim=DkimSigner(settings.dkim)), *configured]


def build_runtime(
    settings: Settings,
    *,
    adapters: list[Adapter] | None = None,
    single_process: bool = False,
    consumers: list[Consumer] | None = None,
    provider_configs: dict[str, BaseModel] | None = None,
) -> Runtime:
    """`single_process`: nothing else serves this database (`herald run`), so an in-memory
    cache sees every change and the intake may read users from it. `consumers`: what follows
    each delivery event, if not the configured ones."""
    url = settings.effective_database_url()
    engine = make_engine(url, pool_size=settings.database_pool_size)
    sessions = make_sessionmaker(engine)
    read_engine = make_engine(url, readonly=True) if is_sqlite(url) else autocommit(engine)
    reads = make_sessionmaker(read_engine)
    # PostgreSQL: the hot path's batch statements, each one statement, planned once.
    keyed = None if is_sqlite(url) else keyed_engine(url, pool_size=settings.database_pool_size)
    keyed_sessions = None if keyed is None else make_sessionmaker(keyed)
    secret = settings.effective_secret_key().get_secret_value()

    async def loader(keys: list[tuple[uuid.UUID, str]]) -> dict[tuple[uuid.UUID, str], ContactCard | None]:
        async with reads() as session:
            return await load_cards(session, keys)

    cache: ContactCache
    limiter: RateLimiter
    broker: Queue
    if settings.redis_url:
        r = settings.redis
        redis = connect(settings.redis_url)
        keys = Keys(r.prefix)
        cache = RedisContactCache(redis, keys, loader, ttl=int(r.cache_ttl.total_seconds()))
        feed_events: FeedEvents = RedisFeedEvents(redis, keys)
        limiter = RedisRateLimiter(redis, keys)
        broker = RedisTransport(redis, keys, maxlen=r.stream_maxlen, block_ms=int(r.block.total_seconds() * 1000))
    else:
        cache = MemoryContactCache(loader)
        feed_events = MemoryFeedEvents()
        limiter = MemoryRateLimiter()
        broker = EmbeddedQueue()
    vault = Vault(secret)

    async def accounts(app_id: uuid.UUID) -> list[Account]:
        async with reads() as session:
            return await load_accounts(session, vault, app_id)

    egress = EgressPolicy.from_settings(settings)
    router = Router(
        adapters if adapters is not None else default_adapters(settings, egress),
        settings.routes,
        accounts,
        settings.breaker,
        egress,
    )
    subscriptions = Subscriptions(read_engine)
    events = EventLog(event_consumers(settings, subscriptions) if consumers is None else consumers)
    recorder = Recorder(
        engine,
        single=keyed,
        batch=settings.worker.record_batch,
        interval=settings.worker.record_interval.total_seconds(),
        on_retired=cache.invalidate,
        events=events,
    )
    steps = send_steps(settings, limiter, read_engine)
    # The send path's reads of a claim (work the lease did not load, suppressions) are keyed too.
    pipeline = Pipeline(settings, keyed or read_engine, cache, router, steps, SenderDeps(engine, feed_events))
    outbox = Outbox(engine if is_sqlite(url) else read_engine, broker) if broker.uses_outbox else None
    t = settings.tracking
    tracking = TrackingService(
        TokenCodec(secret),
        events,
        EngagementRecorder(sessions, events, batch=t.flush_batch, interval=t.flush_interval.total_seconds()),
    )
    intake = Intake(
        # On PostgreSQL a batch is written by one statement, atomic by itself, so it runs
        # without BEGIN and COMMIT (two round trips per request); SQLite writes a batch in
        # several statements and keeps the transaction, as do event consumers' writes.
        sessions if keyed_sessions is None or events.consumers else keyed_sessions,
        broker,
        outbox,
        # The contact cache when every change reaches it (Redis, or one process), else the log.
        cache if settings.redis_url or single_process else UncachedContacts(loader),
        # The pool's connections less two: for the outbox sweep and a contact card read from the log.
        slots=settings.database_pool_size - 2,
        max_group=settings.api.max_batch,
        events=events,
        # PostgreSQL with consumers: a batch whose `accepted` owes no webhook message is
        # again one statement, its rollups' counts folded in, without BEGIN and COMMIT.
        single=keyed_sessions if events.consumers else None,
    )
    return Runtime(
        settings,
        engine,
        sessions,
        broker,
        cache,
        limiter,
        router,
        recorder,
        pipeline,
        vault,
        pepper=secret,
        read_engine=read_engine,
        reads=reads,
        intake=intake,
        egress=egress,
        feed_events=feed_events,
        outbox=outbox,
        claim=Claim(_lease_engine(engine, read_engine, keyed, broker), broker),
        events=events,
        provider_configs=provider_configs
        if provider_configs is not None
        else {kind: parse_config(kind, raw) for kind, raw in settings.providers.items()},
        webhook_subscriptions=subscriptions,
        tracking=tracking,
        keyed_engine=keyed,
    )
