"""Request and response bodies of the HTTP API (pydantic), with examples for /docs."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

PHONE = Field(min_length=1, max_length=40, examples=["808-555-0101"])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VerificationIn(Strict):
    phone: str = PHONE


class VerificationOut(BaseModel):
    sent_to: str = Field(examples=["+1 808 •••-0101"])
    expires_at: datetime


class CustomerIn(Strict):
    phone: str = PHONE
    code: str = Field(pattern=r"^[0-9]{6}$", examples=["492817"])
    email: str | None = Field(default=None, max_length=254, examples=["ana@example.com"])


class CustomerOut(BaseModel):
    customer_id: UUID
    queue_entry_id: UUID
    customer_token: str = Field(description="Shown once; send it as `Authorization: Bearer`.")


class WindowsIn(Strict):
    horizon: str = Field(max_length=64, examples=["w4"])
    blocks: list[str] = Field(min_length=1, max_length=20, examples=[["early", "afternoon"]])
    weekdays: Literal["any"] | list[int] = Field(default="any", examples=["any", [1, 3, 5]])
    timezone: str | None = Field(default=None, max_length=64, examples=["Pacific/Honolulu"])


class LocationsIn(Strict):
    location_ids: list[str] = Field(min_length=1, max_length=50, description=(
        "Location ids or names (case-insensitive)."), examples=[["Kapolei", "Kaneohe"]])


class EntryOut(BaseModel):
    queue_entry_id: UUID
    customer_id: UUID
    status: str
    deposit_status: str
    rank: int | None = None
    deposit_due: datetime | None = None
    deposit_due_local: str | None = None


class Preset(BaseModel):
    preset_type: str
    key: str
    label: str
    rules: dict[str, object]


class Location(BaseModel):
    id: UUID
    name: str


# Operator and auditor endpoints (api/operator.py, api/audits.py). Times are UTC with `Z`;
# a `_local` twin is local time with the zone, for a person.
ENTRY_ID = "6f1c2a9e-3b7d-5e21-9a44-0c8d2f6b1e37"
CUSTOMER_ID = "0b6a7c1e-9d3f-5a82-8e4b-7f2c1d9a6e05"


class QueueRowOut(BaseModel):
    rank: int | None = Field(examples=[1], description="None for a status that holds no rank.")
    priority: int = Field(examples=[0], description=(
        "An operator's priority score (0: none); rank order is the score descending, then "
        "join time."))
    queue_entry_id: UUID = Field(examples=[ENTRY_ID])
    customer_id: UUID = Field(examples=[CUSTOMER_ID])
    phone: str = Field(examples=["+1 808 •••-0101"], description="Masked.")
    status: str = Field(examples=["deposit_required"])
    deposit_status: str = Field(examples=["required"])
    deposit_due: datetime | None = Field(description="Only while the deposit is awaited.")
    deposit_due_local: str | None = Field(examples=["Tue Dec 16, 10:45 AM HST"])
    joined_at: datetime
    joined_at_local: str
    windows: str = Field(examples=["weekdays, within 4 weeks, early morning or afternoon"])
    selection: dict[str, object] | None
    locations: list[str] = Field(examples=[["Kaneohe", "Kapolei"]])


class QueuePage(BaseModel):
    entries: list[QueueRowOut]
    total: int = Field(description="Entries of this status in all, whatever the page.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; None at "
                                                "the end.")


class BookingOut(BaseModel):
    location_id: UUID | None
    location: str | None = Field(examples=["Kapolei"])
    slot: datetime
    slot_local: str = Field(examples=["Tue Dec 16, 10:45 AM HST"])


class OperatorEntryOut(BaseModel):
    """An entry as operators and auditors read it (and the answer to an operator action)."""

    queue_entry_id: UUID = Field(examples=[ENTRY_ID])
    customer_id: UUID = Field(examples=[CUSTOMER_ID])
    phone: str = Field(examples=["+1 808 •••-0101"], description="Masked.")
    status: str = Field(examples=["paused"])
    deposit_status: str = Field(examples=["paid"])
    rank: int | None = Field(examples=[3])
    priority: int = Field(examples=[0], description=(
        "An operator's priority score, 0 (none: join order) to 100; higher ranks first."))
    priority_reason: str | None = Field(examples=[None], description=(
        "Why the score was last set (null when it never was)."))
    joined_at: datetime
    joined_at_local: str
    deposit_due: datetime | None
    deposit_due_local: str | None
    deposit_paid_at: datetime | None
    deposit_paid_at_local: str | None
    payment_refs: list[str] = Field(examples=[["pi_3PqX"]])
    refunds_due: list[str]
    booking: BookingOut | None
    booking_conflicts: list[UUID]
    windows: str = Field(examples=["weekdays, within 4 weeks, early morning"])
    locations: list[Location]
    refunded_payment_refs: list[str] | None = Field(
        default=None, description="Only in the answer to a refund.")


class PriorityIn(Strict):
    score: int = Field(strict=True, ge=0, le=100, examples=[5], description=(
        "0 (none: join order) to 100; higher ranks first, equal scores in join order."))
    reason: str = Field(min_length=1, max_length=500, examples=["phoned in, elderly"],
                        description="Why; the audits show it with the key's name.")


class BookIn(Strict):
    location_id: str = Field(min_length=1, max_length=200, examples=["Kapolei"], description=(
        "The location's id (a name works too)."))
    date: dt.date = Field(examples=["2026-12-16"], description="Local date, YYYY-MM-DD.")
    time: str = Field(min_length=1, max_length=8, examples=["10:45"], description=(
        "Local time, HH:MM (24-hour)."))


class DecidedOpeningOut(BaseModel):
    slot_id: UUID
    previous_outcome: str | None = Field(examples=[None], description=(
        "The opening's outcome before (null: undecided)."))


class OperatorBookingOut(OperatorEntryOut):
    opening: DecidedOpeningOut | None = Field(description=(
        "The slot's opening slotqueue was tracking, now decided as `booked_by_operator` so "
        "the dispatcher does not book it again; null when none was open."))


class AuditEventOut(BaseModel):
    at: datetime
    at_local: str = Field(examples=["Tue Dec 16, 10:45 AM HST"])
    name: str = Field(examples=["Paused"])
    aggregate: str = Field(examples=["QueueEntry"])
    aggregate_id: UUID
    status: str | None = Field(description="The entry's status right after the event.")
    deposit_status: str | None
    data: dict[str, object] = Field(
        description="The event's facts; `by` is who acted (`key:<API key name>`, "
                    "`customer:<id>`, or null for the dispatcher and the command line).",
        examples=[{"paused_from": "active", "status": "paused", "by": "key:ops-alice"}])
    what: str | None = Field(default=None, description=(
        "An operator's override in words (a priority, a direct booking); null otherwise."),
        examples=["priority set to 5 (was 0) by key:ops-alice: phoned in, elderly"])


class EntryAuditOut(BaseModel):
    events: list[AuditEventOut]
    state: dict[str, object] | None = Field(description="The entry as of `as_of` (or now).")


class DeliveryAuditOut(BaseModel):
    delivery_id: UUID
    channel: Literal["sms", "email"]
    recipient: str = Field(examples=["+1 808 •••-0101"], description="Masked.")
    status: str = Field(examples=["delivered"])
    attempts: int
    next_attempt_at: datetime | None
    next_attempt_at_local: str | None
    provider_id: str | None = Field(examples=["SM0123456789abcdef0123456789abcdef"])
    last_error: str | None = Field(description="The last failure, or why it was suppressed.")
    created_at: datetime
    created_at_local: str
    updated_at: datetime
    updated_at_local: str
    sent_at: datetime | None
    sent_at_local: str | None
    delivered_at: datetime | None
    delivered_at_local: str | None


class MessageAuditOut(BaseModel):
    message_id: UUID
    message_type: str = Field(examples=["deposit_needed"])
    dedupe_key: str = Field(examples=[f"deposit_needed:{ENTRY_ID}"])
    queued_at: datetime = Field(description="When the message was recorded.")
    queued_at_local: str
    text: str | None
    deliveries: list[DeliveryAuditOut] = Field(description=(
        "One per channel; none until the delivery worker queued them. With `as_of`, those "
        "queued by then, their status as it stands now."))


class CustomerAuditOut(BaseModel):
    summary: dict[str, object] = Field(description=(
        "Openings decided while the customer queued, counted by who got them, and the first "
        "check the customer failed at their locations."))
    openings: list[dict[str, object]] = Field(description="The ones that matter most first.")
    passed_over: list[dict[str, object]]
    events: list[AuditEventOut]
    messages: list[MessageAuditOut] = Field(description="Oldest first, each with its "
                                            "deliveries.")
    state: dict[str, object]


class SlotAuditOut(BaseModel):
    slots: list[dict[str, object]] = Field(description=(
        "Every opening of the slot: outcome, winner and rank, its events (preset rules in "
        "force, attempts) and the first check each customer ahead of the winner failed."))


class OpeningOut(BaseModel):
    slot_id: UUID
    slot_key: str = Field(examples=["5c0e…|2026-12-16|10:45:00"])
    location_id: UUID
    location: str = Field(examples=["Kapolei"])
    slot_date: str = Field(examples=["2026-12-16"])
    slot_time: str = Field(examples=["10:45:00"])
    slot_datetime: datetime
    slot_datetime_local: str
    first_seen: datetime
    decided_at: datetime
    decided_at_local: str
    outcome: str = Field(examples=["booked", "attempt_failed", "no_eligible_customer",
                                   "weekend"])
    winner_entry_id: UUID | None
    winner_rank: int | None = Field(examples=[4])
    opening: int = Field(description="The slot's n-th opening (listing period).")


class OpeningsPage(BaseModel):
    openings: list[OpeningOut]
    next_cursor: str | None


class MessageOut(BaseModel):
    message_id: UUID
    customer_id: UUID | None
    phone: str = Field(examples=["+1 808 •••-0101"], description="Masked.")
    message_type: str = Field(examples=["deposit_needed"])
    status: str | None = Field(examples=["delivered"], description=(
        "Its SMS delivery's status (else its first delivery's); null before any delivery "
        "was queued (messages recorded before deliveries existed, a customer with no phone)."))
    sent_at: datetime = Field(description="When the message was recorded (queued).")
    sent_at_local: str
    dedupe_key: str = Field(examples=[f"deposit_needed:{ENTRY_ID}"])
    text: str | None
    meta: dict[str, object]
    deliveries: list[DeliveryAuditOut] = Field(description="One per channel.")


class MessagesPage(BaseModel):
    messages: list[MessageOut]
    next_cursor: str | None


class RetriedOne(BaseModel):
    delivery_id: UUID
    channel: Literal["sms", "email"]
    status: str = Field(examples=["queued"])


class RetriedOut(BaseModel):
    retried: list[RetriedOne]
