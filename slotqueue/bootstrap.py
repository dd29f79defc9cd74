"""The composition root: settings, database, event store, projections, clock, adapters and
processes wired in one place, imported only by entry points (the CLI and the tests).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg

from slotqueue.adapters.booking import Booker, make_booker
from slotqueue.adapters.messaging import Console, Sender
from slotqueue.adapters.monitor import MonitorReader
from slotqueue.adapters.presets import PresetSource
from slotqueue.aggregates.delivery_policy import QuietHours
from slotqueue.aggregates.offer_tokens import derive, offer_link
from slotqueue.aggregates.queue_entry import DEPOSIT_LAPSE
from slotqueue.aggregates.watermark import SLOT_OPENED, Watermark
from slotqueue.application.offers import OfferRules
from slotqueue.application.queue import SlotQueue
from slotqueue.application.timers import FIRED
from slotqueue.database import DatabaseClock, resolve_url
from slotqueue.migrate import pending_migrations
from slotqueue.processes.delivery_intake import DeliveryIntake, IntakePosition
from slotqueue.processes.delivery_worker import DeliveryRules, DeliveryWorker
from slotqueue.processes.dispatcher import Dispatcher, DispatchPolicy, Summary
from slotqueue.processes.due_queue import DueQueue
from slotqueue.processes.feed import EventFeed
from slotqueue.processes.live import LiveEvents
from slotqueue.processes.offer_decision import OfferPolicy
from slotqueue.processes.projection_runner import SupervisedProjection
from slotqueue.processes.queue_view import QueueView
from slotqueue.processes.service import Background, Ticker, Timing, run_service
from slotqueue.processes.timer_keeper import TimerKeeper
from slotqueue.processes.writer import Writer
from slotqueue.projections.delivery_queries import pending_deliveries
from slotqueue.projections.dispatch_snapshot import load_snapshot
from slotqueue.projections.maintenance import catch_up
from slotqueue.projections.messages import Texts
from slotqueue.projections.queue_projection import QueueTablesProjection, QueueTablesView
from slotqueue.projections.timer_queries import Due, pending_timers
from slotqueue.secrets import DatabaseSecret
from slotqueue.sessions import Timeouts, bounded_url, limit_statements
from slotqueue.settings import Settings

if TYPE_CHECKING:
    from slotqueue.api.deps import Deps
    from slotqueue.api.metrics import Metrics
from slotqueue.store import (  # noqa: F401 - the entry points' one import
    NotMigrated,
    make_view,
    migrate_database,
    require_store,
    store_env,
)

log = logging.getLogger("slotqueue.run")
def _application(env: dict[str, str], settings: Settings | None = None) -> SlotQueue:
    app = SlotQueue(env=env)
    app.clock = DatabaseClock(app.recorder.datastore)  # type: ignore[attr-defined]
    app.link_secret = DatabaseSecret(app.recorder.datastore)  # type: ignore[attr-defined]
    if settings is not None:
        app.offer_rules = offer_rules(settings)
    return app


def offer_policy(settings: Settings) -> OfferPolicy:
    """What the dispatcher offers with (service §4.2, §4.3)."""
    s = settings
    window = timedelta(minutes=s.priority_window_minutes) if s.priority_window == "on" else None
    return OfferPolicy(mode=s.booking_mode, minutes=timedelta(minutes=s.offer_minutes),
                       reminder=timedelta(minutes=s.offer_reminder_minutes), window=window,
                       broadcast_size=s.broadcast_size)


def offer_rules(settings: Settings) -> OfferRules:
    return OfferRules(cooldown=timedelta(minutes=settings.offer_cooldown_minutes),
                      lock_ttl=timedelta(seconds=settings.lock_ttl_seconds))


@dataclass
class Service:
    """Everything a command needs, built once per process."""

    settings: Settings
    url: str = field(repr=False)  # it may carry a password
    app: SlotQueue
    view: QueueTablesView
    projection: QueueTablesProjection = field(init=False)

    def __post_init__(self) -> None:
        self.projection = QueueTablesProjection.with_texts(self.texts)(view=self.view)

    @property
    def texts(self) -> Texts:
        """What message texts need from the settings: brand, payment link, timezone."""
        return message_texts(self.settings)

    @property
    def deposit_grace(self) -> timedelta:
        return timedelta(minutes=self.settings.deposit_grace_minutes)

    @property
    def clock(self) -> Any:
        return self.app.clock

    @property
    def timeouts(self) -> Timeouts:
        return Timeouts.of(self.settings)

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        """A session of its own, with the statement timeout of the settings."""
        conn = psycopg.connect(self.url, **kwargs)
        try:
            limit_statements(conn, self.timeouts.statement_ms)
        except BaseException:
            conn.close()
            raise
        return conn

    def catch_up(self) -> int:
        """Brings the projections up to the head of the event store; returns events applied."""
        return catch_up(self.app, self.view, self.texts)

    def close(self) -> None:
        self.app.close()
        self.view.datastore.close()

    def policy(self) -> DispatchPolicy:
        s = self.settings
        return DispatchPolicy(
            deposit_rank=s.deposit_rank_threshold, opportunity_rank=s.opportunity_rank_threshold,
            deposit_grace=self.deposit_grace, lock_ttl=timedelta(seconds=s.lock_ttl_seconds),
            lookback=timedelta(minutes=s.dispatch_lookback_minutes),
            margin=timedelta(minutes=s.slot_safety_margin_minutes), timezone=s.timezone,
            offers=offer_policy(s))

    def booker(self) -> Booker:
        s = self.settings
        return make_booker(s.booker, self.url, s.timezone, s.dispatch_lookback_minutes,
                           worker_url=s.booker_url, worker_secret=s.booker_secret,
                           worker_timeout=s.booker_timeout_seconds)

    def dispatcher(self, conn: psycopg.Connection[Any], booker: Booker | None = None, *,
                   listen: bool = False) -> Dispatcher:
        """A dispatcher with its own view: loaded from the projected tables at their position,
        then brought to the head of the event store (and kept there by LISTEN if `listen`)."""
        watermark = self.app.repository.get(Watermark.create_id(SLOT_OPENED))
        snapshot = load_snapshot(conn, self.app.name, SLOT_OPENED,
                                 getattr(watermark, "started_at", None))
        feed = EventFeed(self.app, listen_url=self.url if listen else None).start()
        writer = Writer(self.app, QueueView(snapshot), feed)
        writer.refresh()
        presets = PresetSource()
        return Dispatcher(writer, MonitorReader(conn, self.settings.timezone),
                          booker or self.booker(), lambda: presets.load(conn), self.policy())

    def supervised_projection(self) -> SupervisedProjection:
        return SupervisedProjection(store_env(self.url, timeouts=self.timeouts),
                                    texts=self.texts)

    def dispatch_once(self, booker: Booker | None = None, now: datetime | None = None
                      ) -> Summary:
        """One dispatcher run with a view of its own (`slotqueue dispatch --once`, cron); the
        projections are current when it returns, as after every command."""
        fired = self.fire_due_timers(now)  # what `run`'s timer keeper would have fired
        with self.connect(autocommit=True) as conn:
            _statement_timeout(conn, self.settings.run_timeout_seconds)
            dispatcher = self.dispatcher(conn, booker)
            try:
                summary = dispatcher.tick(now)
            finally:
                dispatcher.close()
        summary.deposits_lapsed_count = fired.get((DEPOSIT_LAPSE, FIRED), 0)
        self.catch_up()
        return summary

    def fire_due_timers(self, now: datetime | None = None) -> Counter[tuple[str, str]]:
        """Fires every timer due by `now` (the database's clock unless a test moves time):
        what the timer keeper of `run` and `serve` does as each falls due. Counts outcomes
        by (kind, outcome)."""
        self.catch_up()
        now = now or self.clock.now()
        with self.connect() as conn:
            due = pending_timers(conn, before=now)
        return Counter((d.kind, self.app.fire_timer(d.aggregate_id, d.name, now)) for d in due)


def _statement_timeout(conn: psycopg.Connection[Any], seconds: float) -> None:
    conn.execute("SELECT set_config('statement_timeout', %s, false)",
                 (str(int(seconds * 1000)),))


class DispatchSession:
    """What `slotqueue run` ticks with: a service, a connection and a dispatcher that follows
    the event store; thrown away after a failure (a server restart, say)."""

    def __init__(self, settings: Settings, url: str, booker: Booker | None = None) -> None:
        self.svc = build(settings, url, pool_size=4)
        self.conn = self.svc.connect(autocommit=True, connect_timeout=5)
        try:
            _statement_timeout(self.conn, settings.run_timeout_seconds)
            self.server_started = server_started(self.conn)
            self.dispatcher = self.svc.dispatcher(self.conn, booker, listen=True)
        except Exception:
            self.close()
            raise
        view = self.dispatcher.view
        log.info("dispatcher ready", extra={"fields": {
            "position": view.position, "open_entries": len(view.entries),
            "candidates": len(view.index), "open_slots": len(view.open_slots)}})

    def tick(self) -> Summary:
        return self.dispatcher.tick()

    def close(self) -> None:
        dispatcher = getattr(self, "dispatcher", None)
        if dispatcher is not None:
            dispatcher.close()
        self.conn.close()
        self.svc.close()


def server_started(conn: psycopg.Connection[Any]) -> Any:
    return conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]  # type: ignore[index]


def make_ticker(settings: Settings, url: str, booker: Booker | None = None,
                on_summary: Callable[[Summary], None] | None = None) -> Ticker:
    def probe() -> Any:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return server_started(conn)

    return Ticker(lambda: DispatchSession(settings, url, booker), probe,
                  Timing(settings.dispatch_interval_seconds, settings.run_timeout_seconds),
                  on_summary)


def _projection(settings: Settings, url: str) -> SupervisedProjection:
    return SupervisedProjection(store_env(url, timeouts=Timeouts.of(settings)),
                                texts=message_texts(settings))


def run_forever(settings: Settings, url: str, stop: threading.Event | None = None,
                on_summary: Callable[[Summary], None] | None = None,
                booker: Booker | None = None, deliveries: bool | None = None) -> None:
    """`slotqueue run`: the dispatcher, the projections and (unless SLOTQUEUE_DELIVERY_WORKER
    is off, or `deliveries` False) the delivery worker until SIGTERM or `stop`;
    `on_summary` hears of the runs that recorded something."""
    def eventful(summary: Summary) -> None:
        if on_summary is not None and summary.eventful:
            on_summary(summary)

    run_service(make_ticker(settings, url, booker, eventful), _projection(settings, url),
                stop, describe={"booker": settings.booker},
                workers=_workers(settings, url, deliveries))


def _workers(settings: Settings, url: str, deliveries: bool | None = None,
             metrics: Metrics | None = None) -> list[Any]:
    """The timer keeper, and the delivery worker unless it runs elsewhere."""
    wanted = settings.delivery_worker if deliveries is None else deliveries
    keeper = timer_keeper(settings, url, on_fired=metrics.timer_fired if metrics else None)
    return [keeper, *([delivery_worker(settings, url)] if wanted else [])]


def api_deps(svc: Service, sms: Sender | None = None, *, metrics: Metrics | None = None,
             ticker: Ticker | None = None) -> Deps:
    """What the HTTP handlers share: the service, a pool for reads, the SMS provider of the
    settings (verification codes; `sms` instead when given), limits,
    the metrics (a registry of this app's own) and the dispatcher's ticker when one runs
    beside the API."""
    from psycopg_pool import ConnectionPool  # noqa: PLC0415 - HTTP only: commands skip it

    from slotqueue.api.deps import Deps  # noqa: PLC0415
    from slotqueue.api.idempotency import Idempotency  # noqa: PLC0415
    from slotqueue.api.limits import RateLimits  # noqa: PLC0415
    from slotqueue.api.metrics import Metrics  # noqa: PLC0415

    s = svc.settings
    timeouts = Timeouts.of(s)
    reads = ConnectionPool(bounded_url(svc.url, timeouts), min_size=1, max_size=10,
                           kwargs={"autocommit": True}, open=True,
                           configure=lambda conn: limit_statements(conn, timeouts.statement_ms))
    metrics = metrics or Metrics()
    if ticker is not None:
        metrics.watch(ticker)
    return Deps(svc=svc, reads=reads, sms=sms or make_senders(s)["sms"],
                limits=RateLimits(s.rate_limit_per_ip, s.rate_limit_per_phone),
                idempotency=Idempotency(reads), metrics=metrics, ticker=ticker)


@dataclass
class Serving:
    """What `slotqueue serve` runs: the HTTP server, and beside it the dispatcher, the
    projections, the workers and the dashboard's live updates (tests run the same)."""

    server: Any  # uvicorn.Server
    background: Background
    deps: Deps
    svc: Service

    def run(self) -> None:
        """Until the server stops (SIGTERM, Ctrl-C, or `server.should_exit`); requests under
        way and the tick under way finish first."""
        self.background.start()
        if self.deps.live is not None:
            self.deps.live.start()
        try:
            self.server.run()
        finally:
            if self.deps.live is not None:
                self.deps.live.stop()
            self.background.stop()
            self.deps.reads.close()
            self.deps.sms.close()
            self.svc.close()


def serving(settings: Settings, url: str, host: str, port: int) -> Serving:
    import uvicorn  # noqa: PLC0415 - only `serve` needs the server

    from slotqueue.api.app import create_app  # noqa: PLC0415
    from slotqueue.api.metrics import Metrics  # noqa: PLC0415

    svc = build(settings, url, pool_size=4)
    metrics = Metrics()
    ticker = make_ticker(settings, url, on_summary=metrics.record_run)
    deps = api_deps(svc, metrics=metrics, ticker=ticker)
    deps.live = live_events(svc)
    background = Background(ticker, _projection(settings, url),
                            describe={"booker": settings.booker, "http": f"{host}:{port}"},
                            workers=_workers(settings, url, metrics=metrics))
    server = uvicorn.Server(uvicorn.Config(
        create_app(deps), host=host, port=port, log_config=None, access_log=False,
        lifespan="off", timeout_graceful_shutdown=15, server_header=False))
    exit_on_signal = server.handle_exit

    def handle_exit(sig: int, frame: Any) -> None:
        deps.live.stop()  # the dashboard's streams end now, not at the graceful timeout
        exit_on_signal(sig, frame)

    server.handle_exit = handle_exit  # type: ignore[method-assign]
    return Serving(server, background, deps, svc)


def live_events(svc: Service) -> LiveEvents:
    """The dashboard's live updates: one LISTEN on the event store for the whole process,
    each change told once the projected tables show it."""
    app = svc.app
    return LiveEvents(lambda: EventFeed(app, listen_url=svc.url),
                      lambda: app.recorder.max_notification_id() or 0,  # type: ignore[attr-defined]
                      lambda: svc.view.max_tracking_id(app.name) or 0)


def serve(settings: Settings, url: str, host: str, port: int) -> None:
    """`slotqueue serve`: the HTTP API and the dashboard with the dispatcher and the
    projections beside it, until SIGTERM or Ctrl-C; requests under way and the tick under
    way finish first."""
    running = serving(settings, url, host, port)
    _outlive_uvicorn_signals()
    running.run()


def _outlive_uvicorn_signals() -> None:
    """Once uvicorn has shut down on SIGTERM or SIGINT it raises the signal again, to the
    handler that was there before it: Python's defaults would end the process there, before
    the tick under way finishes and the projections stop. These do nothing instead, so
    `serve` goes on to stop its background work and exits 0."""
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: None)


def message_texts(settings: Settings) -> Texts:
    return Texts(brand=settings.brand_name, payment_link_url=settings.payment_link_url,
                 timezone=settings.timezone)


def build(settings: Settings, url: str | None = None, *, pool_size: int = 1) -> Service:
    timeouts = Timeouts.of(settings)
    url = bounded_url(url or resolve_url(settings.database_url, settings.data_dir), timeouts)
    pending = pending_migrations(url)
    if pending:
        raise NotMigrated(
            f"database not migrated ({len(pending)} pending, first {pending[0]}): "
            "run `slotqueue migrate`"
        )
    require_store(url)
    env = store_env(url, pool_size=pool_size, timeouts=timeouts)
    return Service(settings=settings, url=url, app=_application(env, settings),
                   view=make_view(env))


def make_senders(settings: Settings) -> dict[str, Sender]:
    """The providers of the settings: console (the default), Twilio for SMS, SMTP for email."""
    senders: dict[str, Sender] = {"sms": Console("sms"), "email": Console("email")}
    timeout = settings.delivery_timeout_seconds
    if settings.sms_provider == "twilio":
        from slotqueue.adapters.twilio_sms import TwilioSms  # noqa: PLC0415

        senders["sms"] = TwilioSms(
            str(settings.twilio_account_sid), str(settings.twilio_auth_token),
            str(settings.twilio_from), settings.twilio_api_base, timeout)
    if settings.email_provider == "smtp":
        from slotqueue.adapters.smtp_email import SmtpEmail  # noqa: PLC0415

        senders["email"] = SmtpEmail(str(settings.smtp_url), str(settings.email_from), timeout)
    return senders


def claim_links(settings: Settings, secret: Callable[[], bytes]
                ) -> Callable[[UUID, int], str]:
    """An offer's claim link for a round: the public URL, the offer, the round's token."""
    return lambda offer_id, round_: offer_link(settings.public_url, offer_id,
                                               derive(secret(), offer_id, round_))


def status_callback(settings: Settings) -> Callable[[UUID], str | None]:
    """Where Twilio reports on a delivery: the public URL's status webhook, naming it."""
    base = settings.public_url.rstrip("/")
    return lambda delivery_id: f"{base}/v1/webhooks/twilio/status?delivery={delivery_id}"


def delivery_worker(settings: Settings, url: str, senders: dict[str, Sender] | None = None,
                    name: str | None = None) -> DeliveryWorker:
    """The delivery worker of `serve`, `run` and `deliver`: an event store of its own (a
    connection per sender thread), LISTEN on the event log, the providers of the settings."""
    timeouts = Timeouts.of(settings)
    app = _application(store_env(url, pool_size=settings.delivery_concurrency + 2,
                                 timeouts=timeouts), settings)

    def connect() -> psycopg.Connection[Any]:
        conn = psycopg.connect(url, autocommit=True)
        limit_statements(conn, timeouts.statement_ms)
        return conn

    def pending() -> list[tuple[UUID, datetime]]:
        with connect() as conn:
            return pending_deliveries(conn)

    position = IntakePosition(connect)
    intake = DeliveryIntake(app, EventFeed(app, listen_url=url), DueQueue(),
                            message_texts(settings), position, position.load())
    rules = DeliveryRules(settings.delivery_max_attempts, settings.delivery_timeout_seconds,
                          QuietHours.parse(settings.quiet_hours), status_callback(settings),
                          offer_link=claim_links(settings, app.link_secret))
    return DeliveryWorker(app, intake, senders or make_senders(settings), rules, pending,
                          threads=settings.delivery_concurrency, name=name)


@dataclass
class Owning:
    """A part that runs on an application of its own, closed when the part stops."""

    part: Any
    app: SlotQueue
    stopped: bool = False

    def start(self) -> Owning:
        self.part.start()
        return self

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        try:
            self.part.stop()
        finally:
            self.app.close()


def timer_keeper(settings: Settings, url: str,
                 on_fired: Callable[[str, float], None] | None = None) -> Owning:
    """The timer keeper of `serve` and `run`: an APScheduler date job per timer that is set,
    from the timers' events; each fires through its own application."""
    timeouts = Timeouts.of(settings)
    env = store_env(url, pool_size=4, timeouts=timeouts)
    app, view = _application(env, settings), make_view(env)

    def pending() -> list[Due]:
        with psycopg.connect(url, autocommit=True) as conn:
            limit_statements(conn, timeouts.statement_ms)
            return pending_timers(conn)

    def fire(aggregate_id: UUID, name: str) -> str:
        return app.fire_timer(aggregate_id, name, app.clock.now())

    keeper = TimerKeeper(fire, EventFeed(app, listen_url=url), pending,
                         lambda: view.max_tracking_id(app.name) or 0, on_fired=on_fired)
    return Owning(keeper, app)
