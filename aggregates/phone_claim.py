"""The PhoneClaim aggregate: which customer a phone number belongs to, when that customer's id
is not derived from the phone (customers imported from an earlier implementation).

Its id is derived from the E.164 number, so one phone can be claimed once.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from slotqueue.aggregates.ids import stable_id


class PhoneClaim(Aggregate):
    @staticmethod
    def create_id(phone: str) -> UUID:
        return stable_id("phone", phone)

    @event("Claimed")
    def __init__(self, phone: str, customer_id: UUID, at: datetime) -> None:
        self.phone, self.customer_id, self.claimed_at = phone, customer_id, at
