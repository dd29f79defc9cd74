"""The Customer aggregate: contact details, target windows and preferred locations.

Events: Registered (or Imported, for a customer an earlier implementation kept), EntryOpened,
EmailChanged, TargetWindowsSelected, LocationsPreferred, LocationRetired, ChosenForSlot,
OpportunityPassed, BookingModeChanged (an operator's override of the booking mode, service §4.2).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from slotqueue.aggregates.booking_mode import DEFAULT, valid_choice
from slotqueue.aggregates.contact import normalise_email
from slotqueue.aggregates.errors import InvalidInput
from slotqueue.aggregates.ids import stable_id
from slotqueue.aggregates.matcher import Presets, Selection, validate_selection


class Customer(Aggregate):
    """One per phone number (E.164); its id is derived from the phone, except for customers
    imported from an earlier implementation, who keep their ids (a `PhoneClaim` finds them)."""

    @staticmethod
    def create_id(phone: str) -> UUID:
        return stable_id("customer", phone)

    @event("Registered")
    def __init__(self, phone: str, email: str | None, at: datetime) -> None:
        self.phone = phone
        self.email = email
        self.registered_at = at
        self.entries_opened = 0
        self.open_entry_id: UUID | None = None
        self.selection: dict[str, Any] | None = None
        self.location_ids: list[UUID] = []
        self.last_nudged_day: str | None = None
        self.last_chosen_slot_id: UUID | None = None

    class Imported(Aggregate.Created):
        """A customer row an earlier implementation kept, with its id, times and choices."""

        phone: str
        email: str | None
        at: datetime
        selection: dict[str, Any] | None
        selected_at: datetime | None
        locations: list[list[Any]]  # [location_id, created_at] pairs, as the rows had them
        entry_ids: list[UUID]  # oldest first
        open_entry_id: UUID | None

        def apply(self, aggregate: Aggregate) -> None:
            customer: Any = aggregate
            customer.selection = self.selection
            customer.location_ids = [UUID(str(pair[0])) for pair in self.locations]
            customer.imported_entry_ids = list(self.entry_ids)
            customer.entries_opened = len(self.entry_ids)
            customer.open_entry_id = self.open_entry_id

    @classmethod
    def imported(cls, customer_id: UUID, phone: str, email: str | None, at: datetime,
                 selection: dict[str, Any] | None, selected_at: datetime | None,
                 locations: list[list[Any]], entry_ids: list[UUID],
                 open_entry_id: UUID | None) -> Customer:
        """The customer as the earlier implementation's rows describe it (`slotqueue migrate`)."""
        if open_entry_id is not None and open_entry_id not in entry_ids:
            raise InvalidInput(f"open entry {open_entry_id} is not one of customer "
                               f"{customer_id}'s entries")
        return cls._create(cls.Imported, id=customer_id, phone=phone, email=email, at=at,
                           selection=selection, selected_at=selected_at, locations=locations,
                           entry_ids=list(entry_ids), open_entry_id=open_entry_id)

    def next_entry_id(self) -> UUID:
        return stable_id("queue-entry", self.id, self.entries_opened + 1)

    def open_entry(self, entry_id: UUID, now: datetime) -> None:
        if entry_id != self.next_entry_id():
            raise InvalidInput(f"entry id {entry_id} is not this customer's next entry")
        self._entry_opened(entry_id=entry_id, at=now)

    @event("EntryOpened")
    def _entry_opened(self, entry_id: UUID, at: datetime) -> None:
        self.entries_opened += 1
        self.open_entry_id = entry_id

    def entry_ids(self) -> list[UUID]:
        imported = list(getattr(self, "imported_entry_ids", []))
        return imported + [stable_id("queue-entry", self.id, n)
                           for n in range(len(imported) + 1, self.entries_opened + 1)]

    def change_email(self, raw_email: str | None, now: datetime) -> None:
        email = normalise_email(raw_email)
        if email is not None and email != self.email:
            self._email_changed(email=email, at=now)

    @event("EmailChanged")
    def _email_changed(self, email: str, at: datetime) -> None:
        self.email = email

    def select_windows(self, selection: Selection, presets: Presets, now: datetime,
                       by: str | None = None) -> None:
        """Records the customer's target windows once they pass the active presets."""
        valid = validate_selection(selection, presets)
        self._windows_selected(selection=valid.to_json(), at=now, by=by)

    @event("TargetWindowsSelected")
    def _windows_selected(self, selection: dict[str, Any], at: datetime,
                          by: str | None = None) -> None:
        self.selection = selection

    def prefer_locations(
        self, location_ids: Iterable[UUID], known: Iterable[UUID], now: datetime,
        by: str | None = None,
    ) -> None:
        """Replaces the preferred locations; every id must name an existing location."""
        wanted = list(dict.fromkeys(location_ids))
        if not wanted:
            raise InvalidInput("no locations given: choose at least one location")
        known_ids = set(known)
        for location_id in wanted:
            if location_id not in known_ids:
                raise InvalidInput(f"unknown location {location_id}")
        self._locations_preferred(location_ids=wanted, at=now, by=by)

    @event("LocationsPreferred")
    def _locations_preferred(self, location_ids: list[UUID], at: datetime,
                             by: str | None = None) -> None:
        self.location_ids = list(location_ids)

    def retire_location(self, location_id: UUID, name: str, now: datetime,
                        in_line: bool = True) -> bool:
        """The monitor removed a location this customer chose: it leaves their choices (the
        events keep it). False when it was not among them. `in_line`: their latest entry is
        still in line (the caller's view knows; this aggregate keeps its latest entry after it
        closes); only then does the event name it, and only then is the customer told."""
        if location_id not in self.location_ids:
            return False
        self._location_retired(location_id=location_id, name=name, at=now,
                               open_entry_id=self.open_entry_id if in_line else None)
        return True

    @event("LocationRetired")
    def _location_retired(self, location_id: UUID, name: str, at: datetime,
                          open_entry_id: UUID | None) -> None:
        self.location_ids = [x for x in self.location_ids if x != location_id]

    def choose_for_slot(self, slot_id: UUID, entry_id: UUID, now: datetime) -> None:
        """Records that the dispatcher chose this customer for an opening, from the windows and
        locations recorded so far: saved with the decision, it makes a change of choices
        recorded meanwhile a version conflict instead of a booking outside them."""
        if entry_id != self.open_entry_id:
            raise InvalidInput(f"entry {entry_id} is not customer {self.id}'s open entry")
        self._chosen_for_slot(slot_id=slot_id, entry_id=entry_id, at=now)

    @event("ChosenForSlot")
    def _chosen_for_slot(self, slot_id: UUID, entry_id: UUID, at: datetime) -> None:
        self.last_chosen_slot_id = slot_id

    def note_opportunity_passed(self, day: str, slot_id: UUID, now: datetime) -> bool:
        """At most one `opportunity_passed` nudge per customer per local day; a late nudge for
        a day before the last one nudged is dropped too (runs can finish out of order)."""
        if self.last_nudged_day is not None and day <= self.last_nudged_day:
            return False
        self._opportunity_passed(day=day, slot_id=slot_id, at=now)
        return True

    @event("OpportunityPassed")
    def _opportunity_passed(self, day: str, slot_id: UUID, at: datetime) -> None:
        self.last_nudged_day = day

    @property
    def booking_mode(self) -> str | None:
        """The operator's booking mode for this customer (None: the deployment's)."""
        return self.__dict__.get("_booking_mode")

    def set_booking_mode(self, mode: str, now: datetime, by: str | None) -> None:
        """An operator gives the customer a booking mode of their own (auto, offer), or takes
        it back (default). Recorded even when unchanged: the audit shows who confirmed it."""
        choice = valid_choice(mode)
        self._booking_mode_changed(mode=None if choice == DEFAULT else choice,
                                   previous=self.booking_mode, by=by, at=now)

    @event("BookingModeChanged")
    def _booking_mode_changed(self, mode: str | None, previous: str | None, by: str | None,
                              at: datetime) -> None:
        self._booking_mode = mode
