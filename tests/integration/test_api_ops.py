"""Operations endpoints (spec service §2.5) on a real database beside a real dispatcher:
/healthz, /readyz failing for each reason it names, /metrics fed by dispatcher runs and
requests. Time is moved on the handlers' host clock, never slept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from api_support import bearer, make_api
from dispatch_world import World, next_weekday
from prometheus_client.parser import text_string_to_metric_families
from psycopg_pool import ConnectionPool

from slotqueue.api.metrics import Metrics, Readings
from slotqueue.bootstrap import api_deps, make_ticker
from slotqueue.settings import Settings

ANA, ANA_E164 = "808-555-0101", "+18085550101"


def _run(ticker) -> None:
    """One real dispatcher run, to its end."""
    ticker.tick()
    ticker._worker.join(60)
    assert ticker.failures == 0


@pytest.fixture
def ticker(settings, database_url):
    metrics = Metrics()
    made = make_ticker(settings, database_url, on_summary=metrics.record_run)
    made.metrics = metrics
    yield made
    made.finish(timeout=30)


@pytest.fixture
def api(service, ticker):
    made = make_api(service)
    made.deps.ticker, made.deps.metrics = ticker, ticker.metrics
    ticker.metrics.watch(ticker)
    yield made
    made.deps.reads.close()


def _moved(api, seconds: float) -> None:
    real = api.deps.wall_clock
    api.deps.wall_clock = lambda: real() + timedelta(seconds=seconds)


def _failing(answer) -> list[str]:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in answer.json()["errors"]]


def test_healthz_says_alive_without_touching_anything(api):
    answer = api.client.get("/healthz")
    assert (answer.status_code, answer.json()) == (200, {"status": "alive"})


def test_readyz_is_200_once_the_dispatcher_has_run(api, ticker):
    assert _failing(api.client.get("/readyz")) == ["dispatcher"]  # no run has finished yet
    _run(ticker)
    ready = api.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"]) == {"database", "migrations", "projections",
                                           "dispatcher"}


def test_readyz_names_a_pending_migration(api, ticker, db):
    _run(ticker)
    newest = db.execute("SELECT max(name) FROM slotqueue.schema_migrations "
                        "WHERE name LIKE '2%'").fetchone()[0]
    db.execute("DELETE FROM slotqueue.schema_migrations WHERE name = %s", (newest,))
    answer = api.client.get("/readyz")
    assert _failing(answer) == ["migrations"]
    assert newest in answer.json()["detail"]


def test_readyz_names_a_stale_heartbeat(api, ticker):
    _run(ticker)
    at = ticker.last_ok
    api.deps.wall_clock = lambda: at + timedelta(seconds=5)  # interval 0.2 s: stale after 5 s
    assert api.client.get("/readyz").status_code == 200
    api.deps.wall_clock = lambda: at + timedelta(seconds=5.5)
    answer = api.client.get("/readyz")
    assert _failing(answer) == ["dispatcher"]
    assert "last run finished 5.5 s ago" in answer.json()["detail"]


def test_readyz_without_a_dispatcher_in_the_process_is_not_ready(service):
    api = make_api(service)
    try:
        assert _failing(api.client.get("/readyz")) == ["dispatcher"]
    finally:
        api.deps.reads.close()


def test_readyz_names_a_projection_five_seconds_behind(service, database_url):
    slow = Settings(database_url=database_url, dispatch_interval_seconds=10)  # stale after 30 s
    ticker = make_ticker(slow, database_url)
    api = make_api(service)
    api.deps.ticker = ticker
    try:
        _run(ticker)
        service.app.join(ANA_E164, None, service.clock.now())  # recorded, not projected
        _moved(api, 4.0)
        assert api.client.get("/readyz").status_code == 200
        _moved(api, 1.5)
        answer = api.client.get("/readyz")
        assert _failing(answer) == ["projections"]
        assert "events behind" in answer.json()["detail"]
        service.catch_up()
        assert api.client.get("/readyz").status_code == 200
    finally:
        ticker.finish(timeout=30)
        api.deps.reads.close()


def test_readyz_names_a_database_that_does_not_answer(api, ticker):
    _run(ticker)
    api.deps.reads.close()
    api.deps.reads = ConnectionPool("postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=2",
                                    min_size=0, max_size=1, open=True)
    answer = api.client.get("/readyz")
    assert _failing(answer) == ["database", "migrations", "projections"]
    assert "does not answer" in answer.json()["errors"][0]["message"]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_dispatcher_runs_decisions_and_requests_by_route(
        api, ticker, service, db):
    world = World(service, db, db.execute("SELECT now()").fetchone()[0])
    kapolei = world.location("Kapolei")
    world.customer([kapolei], blocks=("early",))
    service.catch_up()
    _run(ticker)  # the first run only records what is listed already
    world.open_slot(kapolei, next_weekday(world.today, 2, weeks=1), "8:15")
    world.open_slot(kapolei, next_weekday(world.today, 6), "8:30")  # a Saturday
    _run(ticker)
    token = api.join(ANA, ANA_E164)["customer_token"]
    assert api.client.get("/v1/me", headers=bearer(token)).status_code == 200
    assert api.client.get("/v1/me").status_code == 401
    answer = api.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    got = _samples(answer.text)
    assert got[("slotqueue_dispatcher_runs_total", (("result", "ok"),))] == 2
    assert got[("slotqueue_dispatcher_runs_total", (("result", "failed"),))] == 0
    assert got[("slotqueue_dispatcher_run_duration_seconds_count", ())] == 2
    assert got[("slotqueue_openings_total", (("change", "opened"),))] == 2
    assert got[("slotqueue_decisions_total", (("outcome", "weekend"),))] == 1
    assert got[("slotqueue_decisions_total", (("outcome", "attempt_failed"),))] == 1  # stub
    assert got[("slotqueue_booking_attempts_total", ())] == 1
    assert got[("slotqueue_bookings_total", ())] == 0
    assert got[("slotqueue_projection_lag_events", ())] == 0
    assert got[("slotqueue_database_up", ())] == 1
    assert got[("slotqueue_queue_entries", (("deposit_status", "none"),
                                            ("status", "queued")))] == 1  # Ana
    assert got[("slotqueue_queue_entries", (("deposit_status", "paid"),
                                            ("status", "active")))] == 1
    assert got[("slotqueue_deliveries", (("channel", "sms"), ("status", "unknown")))] == 0
    assert got[("slotqueue_deliveries", (("channel", "email"), ("status", "sent")))] == 0
    me = (("method", "GET"), ("route", "/v1/me"))
    assert got[("slotqueue_http_requests_total", (*me, ("status", "200")))] == 1
    assert got[("slotqueue_http_requests_total", (*me, ("status", "401")))] == 1
    assert got[("slotqueue_http_request_duration_seconds_count", me)] == 2
    assert got[("slotqueue_dispatcher_last_ok_timestamp_seconds", ())] == pytest.approx(
        ticker.last_ok.timestamp())


def test_each_app_keeps_its_own_metrics(service):
    first, second = (api_deps(service) for _ in range(2))
    try:
        first.observe("GET", "/healthz", 200, 0.001)
        assert b'route="/healthz"' in first.metrics.render(Readings())
        assert b'route="/healthz"' not in second.metrics.render(Readings())
    finally:
        first.reads.close()
        second.reads.close()


def test_a_request_that_fails_unexpectedly_is_counted_as_a_500(api, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(api.deps.svc.app, "send_code", broken)
    answer = api.client.post("/v1/verifications", json={"phone": ANA})
    assert answer.status_code == 500
    got = _samples(api.client.get("/metrics").text)
    assert got[("slotqueue_http_requests_total", (("method", "POST"),
                                                  ("route", "/v1/verifications"),
                                                  ("status", "500")))] == 1
