"""The `http` booking adapter against a booking worker the test starts on 127.0.0.1 (README,
"The booking worker"): signed JSON, the attempt id as idempotency key, a timeout, and each kind
of answer read as success, fail with a code, or booker_unavailable after retries."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from uuid import UUID

import pytest
from booking_worker import SECRET, booking_worker
from dispatch_world import World, next_weekday

from slotqueue.adapters.booking import BookingResult, make_booker
from slotqueue.adapters.http_booker import HttpBooker
from slotqueue.bootstrap import build
from slotqueue.settings import ConfigError, Settings, load_settings

CUSTOMER = UUID("00000000-0000-4000-8000-000000000001")
LOCATION = UUID("00000000-0000-4000-8000-0000000000aa")
ATTEMPT = UUID("00000000-0000-4000-8000-0000000000f1")
SLOT = datetime(2026, 12, 16, 20, 45, tzinfo=UTC)


def _booker(url: str, secret: str = SECRET, timeout: float = 2.0) -> tuple[HttpBooker, list]:
    pauses: list[float] = []
    return HttpBooker(url, secret, timeout, pause=pauses.append), pauses


def _book(booker: HttpBooker) -> BookingResult:
    return booker.book_slot(CUSTOMER, LOCATION, SLOT, ATTEMPT)


def test_a_success_is_a_booking_and_the_request_follows_the_contract():
    with booking_worker("success") as worker:
        booker, pauses = _booker(worker.url)
        assert _book(booker) == BookingResult("success")
    [seen] = worker.seen
    assert seen.signature_ok
    assert seen.key == str(ATTEMPT)
    assert seen.body == {"customer_id": str(CUSTOMER), "location_id": str(LOCATION),
                         "slot_datetime_utc": "2026-12-16T20:45:00Z",
                         "attempt_id": str(ATTEMPT)}
    assert pauses == []


@pytest.mark.parametrize(("script", "expected"), [
    ("fail", BookingResult("fail", "slot_gone", "the DMV no longer lists the slot")),
    ("refuse", BookingResult("fail", "slot_taken", "someone else booked it")),
    ("refuse_bare", BookingResult(
        "fail", "booker_refused_422", "the booking worker refused the booking (HTTP 422)")),
])
def test_a_refusal_fails_the_attempt_with_its_code_and_is_not_retried(script, expected):
    with booking_worker(script) as worker:
        booker, pauses = _booker(worker.url)
        assert _book(booker) == expected
    assert len(worker.seen) == 1
    assert pauses == []


@pytest.mark.parametrize("script", ["garbage", "unknown_result", "redirect", "not_http"])
def test_an_answer_that_is_not_the_contract_fails_as_a_bad_answer(script):
    with booking_worker(script) as worker:
        booker, _ = _booker(worker.url)
        result = _book(booker)
    assert (result.result, result.error_code) == ("fail", "booker_bad_answer")
    assert len(worker.seen) == 1  # not retried, and a redirect is not followed


@pytest.mark.parametrize("script", ["error", "busy"])
def test_a_server_error_is_tried_again_with_the_same_attempt_then_succeeds(script):
    with booking_worker(script, "success") as worker:
        booker, pauses = _booker(worker.url)
        assert _book(booker) == BookingResult("success")
    assert [s.key for s in worker.seen] == [str(ATTEMPT)] * 2
    assert worker.seen[0].body == worker.seen[1].body
    assert all(s.signature_ok for s in worker.seen)
    assert pauses == [0.5]


def test_a_worker_that_keeps_failing_makes_the_attempt_fail_as_unavailable():
    with booking_worker("error") as worker:
        booker, pauses = _booker(worker.url)
        result = _book(booker)
    assert (result.result, result.error_code) == ("fail", "booker_unavailable")
    assert "after 3 tries: HTTP 500" in str(result.error_message)
    assert len(worker.seen) == 3
    assert pauses == [0.5, 1.0]


def test_a_worker_that_hangs_times_out_each_try():
    with booking_worker("hang") as worker:
        booker, _ = _booker(worker.url, timeout=0.2)
        result = _book(booker)
        assert (result.result, result.error_code) == ("fail", "booker_unavailable")
        assert "timed out" in str(result.error_message)
        assert len(worker.seen) == 3


def test_a_refused_connection_makes_the_attempt_fail_as_unavailable():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    booker, pauses = _booker(f"http://127.0.0.1:{port}/book")
    result = _book(booker)
    assert (result.result, result.error_code) == ("fail", "booker_unavailable")
    assert "ConnectionRefusedError" in str(result.error_message)
    assert pauses == [0.5, 1.0]


def test_a_retry_after_a_lost_answer_gets_the_first_answer_back():
    """The worker booked on the first call; the second call with the same key is told so."""
    with booking_worker("success", "fail") as worker:
        booker, _ = _booker(worker.url)
        assert _book(booker) == BookingResult("success")
        assert _book(booker) == BookingResult("success")  # same attempt id: same answer
    assert len(worker.seen) == 2


def test_a_worker_checks_the_signature_so_a_wrong_secret_is_refused():
    with booking_worker("success") as worker:
        booker, _ = _booker(worker.url, secret="not-the-secret")
        result = _book(booker)
    assert (result.result, result.error_code) == ("fail", "bad_signature")
    assert not worker.seen[0].signature_ok


def test_the_booker_never_shows_its_secret():
    booker, _ = _booker("http://127.0.0.1:9/book")
    assert SECRET not in repr(booker)


def test_settings_choose_the_http_booker_and_name_what_it_lacks():
    booker = make_booker("http", "postgresql://x", "Pacific/Honolulu", 3,
                         worker_url="http://127.0.0.1:9/book", worker_secret=SECRET,
                         worker_timeout=1.5)
    assert (booker.name, booker.timeout) == ("http", 1.5)  # type: ignore[attr-defined]
    with pytest.raises(ConfigError) as missing:
        load_settings(booker="http")
    assert str(missing.value).splitlines() == [
        "SLOTQUEUE_BOOKER_URL=None: required when SLOTQUEUE_BOOKER=http",
        "SLOTQUEUE_BOOKER_SECRET=None: required when SLOTQUEUE_BOOKER=http"]
    with pytest.raises(ConfigError) as slow:
        load_settings(booker="http", booker_url="http://127.0.0.1:9/b", booker_secret="s",
                      booker_timeout_seconds=30)
    assert str(slow.value).startswith("SLOTQUEUE_BOOKER_TIMEOUT_SECONDS=30: 3 tries must end")
    assert load_settings(booker_timeout_seconds=30).booker == "stub"  # only http is bound


def test_the_dispatcher_books_through_the_worker(database_url, db):
    with booking_worker("success") as worker:
        settings = Settings(database_url=database_url, booker="http", booker_url=worker.url,
                            booker_secret=SECRET, booker_timeout_seconds=2)
        svc = build(settings, database_url)
        try:
            world = World(svc, db, db.execute("SELECT now()").fetchone()[0])
            kapolei = world.location("Kapolei")
            winner = world.customer([kapolei])
            world.open_slot(kapolei, next_weekday(world.today, 2, weeks=1), "8:30")
            summary = world.dispatch(svc.booker())
        finally:
            svc.close()
    assert (summary.booking_attempt_count, summary.booking_success_count) == (1, 1)
    [(attempt_id, result, slot_utc)] = world.rows(
        "SELECT id, result, slot_datetime_utc FROM booking_attempts")
    assert result == "success"
    [seen] = worker.seen
    assert seen.key == str(attempt_id)
    assert seen.body["customer_id"] == str(winner.customer_id)
    assert seen.body["slot_datetime_utc"] == slot_utc.astimezone(UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    assert world.rows("SELECT status FROM queue_entries WHERE id = %s",
                      winner.queue_entry_id) == [("booked",)]
