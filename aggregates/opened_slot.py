"""The OpenedSlot aggregate: one opening of a slot (a period it was continuously listed) and
the journal of what became of it.

Its id comes from the normalised slot key and the opening's number, so re-reading the monitor's
rows can never open it twice. The journal records what a later replay could not reconstruct:
the run, the preset rules in force, the winner and its place in the queue, and every booking
attempt, whose intent is recorded before the booking adapter is called.

Events: SlotOpened → Decided (nobody, or a winner with the intent to book and the slot's lock)
→ AttemptFinished, then Closed when the slot stops being listed; AttemptAnsweredLate when the
adapter answers an attempt that a later run had already ended as interrupted;
BookedByOperator when an operator books the slot directly while it is listed (service §4.5),
which decides it so no run attempts it. (Claimed and AttemptStarted are replayed from journals
recorded before issue 7.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from slotqueue.aggregates.errors import InvalidInput, TransitionRefused
from slotqueue.aggregates.ids import stable_id
from slotqueue.aggregates.slot_offers import OFFERED, SlotOffers

WEEKEND = "weekend"
NO_ELIGIBLE = "no_eligible_customer"
ATTEMPTING = "attempting"
BOOKED = "booked"
BOOKED_CONFLICT = "booked_conflict"  # the DMV booked it, but the entry could not take it
ATTEMPT_FAILED = "attempt_failed"
SKIPPED = "skipped"
GONE = "gone"  # no longer listed before anyone decided it
BASELINE = "listed_before_watch"  # listed before slotqueue watched: not an opening to decide
RESULT_OUTCOMES = {"success": BOOKED, "fail": ATTEMPT_FAILED, "skipped": SKIPPED}
INTERRUPTED = "attempt_interrupted"
BOOKED_BY_OPERATOR = "booked_by_operator"  # an operator booked the slot themselves (§4.5)
TAKEN = (BOOKED, BOOKED_CONFLICT, BOOKED_BY_OPERATOR)  # outcomes that mean the slot is booked


def legacy_id(slot_key: str, first_seen: datetime) -> UUID:
    """The id openings had before issue 7 (key and first_seen), kept for their events."""
    return stable_id("opened-slot", slot_key, first_seen.astimezone(UTC).isoformat())


class OpenedSlot(SlotOffers):
    """One opening of a slot and its decision journal."""

    @staticmethod
    def create_id(slot_key: str, opening: int) -> UUID:
        return stable_id("opening", slot_key, opening)

    @event("SlotOpened")
    def __init__(
        self, slot_key: str, first_seen: datetime, location_id: UUID, slot_date: str,
        slot_time: str, slot_datetime: datetime, at: datetime, run_id: UUID,
        opening: int = 0, baseline: bool = False, last_seen: datetime | None = None,
    ) -> None:
        self.slot_key, self.first_seen, self.location_id = slot_key, first_seen, location_id
        self.last_seen = last_seen
        self.slot_date, self.slot_time, self.slot_datetime = slot_date, slot_time, slot_datetime
        self.opened_at, self.opened_by, self.opening = at, run_id, opening
        self.claimed_by: UUID | None = None
        self.claimed_until: datetime | None = None
        self.outcome: str | None = BASELINE if baseline else None
        self.attempt: dict[str, Any] | None = None
        self.winner: dict[str, Any] | None = None
        self.decided_at: datetime | None = None
        self.closed_at: datetime | None = None

    def recreated(self) -> OpenedSlot:
        """A new aggregate with this one's opening event (after a save that failed drained
        it)."""
        return OpenedSlot(
            slot_key=self.slot_key, first_seen=self.first_seen, location_id=self.location_id,
            slot_date=self.slot_date, slot_time=self.slot_time,
            slot_datetime=self.slot_datetime, at=self.opened_at, run_id=self.opened_by,
            opening=self.opening, baseline=self.outcome == BASELINE, last_seen=self.last_seen)

    @property
    def decided(self) -> bool:
        return self.outcome not in (None, ATTEMPTING)

    def _ensure_free(self, run_id: UUID, now: datetime) -> None:
        if self.outcome is not None:
            raise TransitionRefused(f"slot {self.slot_key} is already {self.outcome}")
        if (self.claimed_until is not None and now <= self.claimed_until
                and self.claimed_by != run_id):
            raise TransitionRefused(f"slot {self.slot_key} is locked by run {self.claimed_by}")

    def decide(self, run_id: UUID, now: datetime, outcome: str, presets: dict[str, Any],
               passed_over: list[UUID] | None = None) -> None:
        """Records a decision that books nobody (a weekend, or nobody eligible)."""
        self._ensure_free(run_id, now)
        if outcome not in (WEEKEND, NO_ELIGIBLE):
            raise InvalidInput(f"decision {outcome!r} needs a winner")
        self._decided(run_id=run_id, at=now, outcome=outcome, presets=presets, winner=None,
                      passed_over=list(passed_over or []), slot_key=self.slot_key)

    def decide_winner(self, run_id: UUID, now: datetime, presets: dict[str, Any],
                winner: dict[str, Any], passed_over: list[UUID], booker: str,
                ttl: timedelta) -> UUID:
        """Decides for `winner` and records the intent to book, under the slot's lock until
        now + ttl (database time), before the booking adapter is called; returns the
        attempt's id, which the adapter passes on as its idempotency key."""
        self._ensure_free(run_id, now)
        if not winner.get("entry_id"):
            raise InvalidInput(f"decision for winner {winner!r} names no queue entry")
        attempt_id = stable_id("attempt", self.id)
        self._decided(run_id=run_id, at=now, outcome=ATTEMPTING, presets=presets,
                      winner=winner, passed_over=list(passed_over), slot_key=self.slot_key,
                      attempt_id=attempt_id, booker=booker, until=now + ttl)
        return attempt_id

    def decide_offers(self, run_id: UUID, now: datetime, presets: dict[str, Any],
                      policy: str, offers: list[dict[str, Any]], passed_over: list[UUID]
                      ) -> None:
        """Decides for offers instead of a booking (service §4.2, §4.3): `offers` lists each
        customer offered the slot (entry, customer, rank, offer id) or passed by (no offer id,
        `skipped` saying why), in rank order. No lock: nothing is booked until one accepts."""
        self._ensure_free(run_id, now)
        self.check_offers(offers)
        first = next((o for o in offers if o.get("offer_id")), None)
        self._decided(run_id=run_id, at=now, outcome=OFFERED, presets=presets, winner=first,
                      passed_over=list(passed_over), slot_key=self.slot_key, policy=policy,
                      offers=offers)

    @event("Decided")
    def _decided(
        self, run_id: UUID, at: datetime, outcome: str, presets: dict[str, Any],
        winner: dict[str, Any] | None, passed_over: list[UUID], slot_key: str,
        attempt_id: UUID | None = None, booker: str | None = None,
        until: datetime | None = None, policy: str | None = None,
        offers: list[dict[str, Any]] | None = None,
    ) -> None:
        self.outcome, self.decided_at, self.winner = outcome, at, winner
        if policy is not None:  # an offer decision (service §4.2): `policy` and `offers` came
            self._offer_decided(policy, offers or [])  # later; earlier events replay as before
        if attempt_id is not None:
            self.attempt = {"attempt_id": attempt_id, "run_id": run_id, "started_at": at}
            self.claimed_by, self.claimed_until = run_id, until

    # Journals recorded before issue 7 took the lock and started the attempt as events of
    # their own; these replay them.
    @event("Claimed")
    def _claimed(self, run_id: UUID, at: datetime, until: datetime, slot_key: str) -> None:
        self.claimed_by, self.claimed_until = run_id, until

    @event("AttemptStarted")
    def _attempt_started(self, attempt_id: UUID, run_id: UUID, at: datetime, booker: str) -> None:
        self.attempt = {"attempt_id": attempt_id, "run_id": run_id, "started_at": at}

    def _attempt_facts(self) -> dict[str, Any]:
        if self.attempt is None or self.winner is None:
            raise TransitionRefused(f"slot {self.slot_key} has no attempt under way")
        return {
            "attempt_id": self.attempt["attempt_id"], "attempt_run_id": self.attempt["run_id"],
            "started_at": self.attempt["started_at"], "customer_id": self.winner["customer_id"],
            "entry_id": self.winner["entry_id"], "location_id": self.location_id,
            "slot_key": self.slot_key, "slot_date": self.slot_date, "slot_time": self.slot_time,
            "slot_datetime": self.slot_datetime,
        }

    def record_answer(
        self, run_id: UUID, now: datetime, result: str, error_code: str | None = None,
        error_message: str | None = None, conflict: str | None = None,
    ) -> None:
        """Records the adapter's answer to the attempt `run_id` started. An answer that comes
        after a later run ended the attempt as interrupted is recorded too: a booking the
        adapter confirmed is never lost, whatever the timing."""
        if result not in RESULT_OUTCOMES:
            raise InvalidInput(f"unknown booking result {result!r}")
        if self.attempt is None or self.attempt["run_id"] != run_id:
            raise TransitionRefused(f"run {run_id} has no attempt under way on {self.slot_key}")
        if self.outcome == ATTEMPTING:
            self._finish(run_id, now, result, error_code, error_message, conflict)
        elif self.attempt.get("interrupted"):
            outcome = _outcome(result, conflict)
            self._answered_late(run_id=run_id, at=now, result=result, outcome=outcome,
                                error_code=error_code, error_message=error_message,
                                conflict=conflict, **self._attempt_facts())
        else:
            raise TransitionRefused(f"slot {self.slot_key}: the attempt already ended")

    def _finish(
        self, run_id: UUID, now: datetime, result: str, error_code: str | None,
        error_message: str | None, conflict: str | None = None,
    ) -> None:
        if self.outcome != ATTEMPTING or self.attempt is None or self.winner is None:
            raise TransitionRefused(f"slot {self.slot_key} has no attempt under way")
        self._attempt_finished(
            run_id=run_id, at=now, result=result, outcome=_outcome(result, conflict),
            error_code=error_code, error_message=error_message, conflict=conflict,
            **self._attempt_facts(),
        )

    @event("AttemptFinished")
    def _attempt_finished(
        self, run_id: UUID, at: datetime, result: str, outcome: str, error_code: str | None,
        error_message: str | None, attempt_id: UUID, attempt_run_id: UUID,
        started_at: datetime, customer_id: UUID, entry_id: UUID, location_id: UUID,
        slot_key: str, slot_date: str, slot_time: str, slot_datetime: datetime,
        conflict: str | None = None,
    ) -> None:
        self.outcome = outcome
        if self.attempt is not None and error_code == INTERRUPTED:
            self.attempt = {**self.attempt, "interrupted": True}

    @event("AttemptAnsweredLate")
    def _answered_late(
        self, run_id: UUID, at: datetime, result: str, outcome: str, error_code: str | None,
        error_message: str | None, conflict: str | None, attempt_id: UUID,
        attempt_run_id: UUID, started_at: datetime, customer_id: UUID, entry_id: UUID,
        location_id: UUID, slot_key: str, slot_date: str, slot_time: str,
        slot_datetime: datetime,
    ) -> None:
        self.outcome = outcome
        if self.attempt is not None:
            self.attempt = {**self.attempt, "interrupted": False}

    def is_stalled(self, now: datetime) -> bool:
        """A run claimed or attempted this slot and its lock ran out before an outcome."""
        expired = self.claimed_until is not None and now > self.claimed_until
        return not self.decided and expired

    def interrupt(self, run_id: UUID, now: datetime) -> None:
        """Ends an attempt whose run stopped answering: it is never repeated blindly (the DMV
        may have booked it), so it ends as a failure that an operator should check. If the
        adapter answers after all, `record_answer` records it."""
        if not self.is_stalled(now):
            raise TransitionRefused(
                f"slot {self.slot_key}: the attempt's lock runs until {self.claimed_until}")
        self._finish(
            run_id, now, "fail", INTERRUPTED,
            "the run attempting this booking stopped before recording its result; "
            "check with the DMV before booking this customer again",
        )

    def book_by_operator(self, entry_id: UUID, customer_id: UUID, now: datetime,
                         by: str | None) -> None:
        """An operator booked this slot for `entry_id` themselves: the opening is decided
        (`booked_by_operator`), so no run attempts it. Refused while a run's attempt is under
        way (the booking adapter may be booking it right now) and once it is booked."""
        if self.closed_at is not None:
            raise TransitionRefused(f"slot {self.slot_key} opening {self.opening} is closed")
        if self.outcome == ATTEMPTING:
            running = self.claimed_until is not None and now <= self.claimed_until
            raise TransitionRefused(
                f"slot {self.slot_key}: the dispatcher is attempting to book it under its lock "
                f"until {self.claimed_until}; try again once the attempt has ended" if running
                else f"slot {self.slot_key}: a dispatcher's attempt stopped answering; the next "
                "run ends it as interrupted, then try again")
        if self.outcome in TAKEN:
            raise TransitionRefused(f"slot {self.slot_key} is already booked in this opening "
                                    f"({self.outcome})")
        self._booked_by_operator(at=now, by=by, entry_id=entry_id, customer_id=customer_id,
                                 slot_key=self.slot_key, previous_outcome=self.outcome)

    @event("BookedByOperator")
    def _booked_by_operator(self, at: datetime, by: str | None, entry_id: UUID,
                            customer_id: UUID, slot_key: str, previous_outcome: str | None
                            ) -> None:
        self.outcome = BOOKED_BY_OPERATOR
        self.winner = {"entry_id": entry_id, "customer_id": customer_id}
        self.decided_at = self.decided_at or at

    def close(self, now: datetime, last_seen: datetime) -> None:
        """The slot stopped being listed: this opening ends (and goes to nobody if undecided)."""
        if self.closed_at is not None:
            raise TransitionRefused(f"slot {self.slot_key} opening {self.opening} is closed")
        self._closed(at=now, last_seen=last_seen, slot_key=self.slot_key,
                     undecided=self.outcome is None)

    @event("Closed")
    def _closed(self, at: datetime, last_seen: datetime, slot_key: str, undecided: bool) -> None:
        self.closed_at = at
        if undecided:
            self.outcome = GONE


def _outcome(result: str, conflict: str | None) -> str:
    if result == "success" and conflict is not None:
        return BOOKED_CONFLICT
    return RESULT_OUTCOMES[result]
