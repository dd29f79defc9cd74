"""QueueEntry events and nudges → message_log rows, one per dedupe key, never overwritten
(spec §4.6); every text a customer reads is written here.

The text is rendered when the event is projected and kept in meta_json, so a delivery worker
can send it as recorded. `Texts` carries what rendering needs from the settings (the brand, the
payment link, the timezone); a rebuild renders with the settings of the process that runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.entry_offers import OfferHolder
from slotqueue.aggregates.ids import stable_id
from slotqueue.aggregates.offer import MESSAGE, Offer, message_key
from slotqueue.aggregates.offer_tokens import LINK_PLACEHOLDER
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.projections.sms_segments import to_gsm7
from slotqueue.projections.wording import local_time
from slotqueue.projections.writes import InsertOnce, Write

REFERENCE = "client_reference_id"
PLACE_LENGTH = 60  # a location name longer than this is cut short in a text
# SMS characters the deposit text leaves for the brand and the payment link together, with the
# longest local time and the `client_reference_id` added: two GSM-7 segments (tested).
BRAND_AND_LINK = 115
# An offer's text carries a claim link (SLOTQUEUE_PUBLIC_URL + 75 characters) and a place cut at
# 40 and a deadline on another day: what it leaves for the brand and the public URL together,
# in two segments (tested).
BRAND_AND_PUBLIC_URL = 75
OFFER_PLACE_LENGTH = 40


@dataclass(frozen=True)
class Texts:
    """What message texts need from the settings; the defaults are the settings' defaults."""

    brand: str = "DMV Queue"
    payment_link_url: str | None = None
    timezone: str = "Pacific/Honolulu"

    def when(self, moment: datetime, *, long: bool = False) -> str:
        return local_time(moment, self.timezone, long=long)

    @staticmethod
    def place(name: str | None, length: int = PLACE_LENGTH) -> str:
        """A location's name as a text shows it: in the SMS alphabet (an okina becomes ', a
        vowel with a macron a plain one, rather than the whole text turning UCS-2), and cut
        short past 60 characters (40 in an offer, which carries a link)."""
        shown = " ".join(to_gsm7(name or "").split())
        if len(shown) <= length:
            return shown
        return shown[:length - 3].rstrip() + "..."

    def until(self, moment: datetime, since: datetime) -> str:
        """A deadline: its local time alone on the day of `since`, else with its day."""
        zone = ZoneInfo(self.timezone)
        if moment.astimezone(zone).date() == since.astimezone(zone).date():
            return self.when(moment).split(", ", 1)[1]
        return self.when(moment)

    def payment_link(self, entry_id: Any) -> str | None:
        """The payment link with `client_reference_id=<entry id>` added to its query string
        (replacing one already there), so the payment names the entry it pays for."""
        if not self.payment_link_url:
            return None
        parts = urlsplit(self.payment_link_url.strip())
        kept = [p for p in parts.query.split("&") if p and not p.startswith(REFERENCE + "=")]
        query = "&".join([*kept, f"{REFERENCE}={quote(str(entry_id))}"])
        return urlunsplit(parts._replace(query=query))


DEFAULT_TEXTS = Texts()  # frozen: the settings' defaults, for callers that bring none


def message(
    customer_id: Any, at: datetime, message_type: str, dedupe_key: str, text: str, **meta: Any
) -> list[Write]:
    """One message_log row, recorded once per dedupe key and never overwritten."""
    row = {
        "id": stable_id("message", dedupe_key),
        "customer_id": customer_id,
        "message_type": message_type,
        "sent_at": at,
        "dedupe_key": dedupe_key,
        "meta_json": {"text": text, **meta},
    }
    return [InsertOnce("message_log", ("dedupe_key",), row)]


def _entry_message(e: Any, message_type: str, dedupe_key: str, text: str, **meta: Any
                   ) -> list[Write]:
    return message(e.customer_id, e.at, message_type, dedupe_key, text,
                   queue_entry_id=str(e.originator_id), **meta)


def _status(e: Any, what: str, text: str, **meta: Any) -> list[Write]:
    return _entry_message(e, "status", f"status:{e.originator_id}:{what}", text, what=what,
                          **meta)


def _deposit_needed(e: Any, t: Texts) -> list[Write]:
    link = t.payment_link(e.originator_id)
    how = f": {link}" if link else ". We will contact you with how to pay."
    text = (f"{t.brand}: you're near the front of the line. Pay your deposit by "
            f"{t.when(e.expires_at)} to keep your place and switch on managed booking{how}")
    return _entry_message(e, "deposit_needed", f"deposit_needed:{e.originator_id}", text,
                          expires_at=e.expires_at.isoformat())


def _deposit_received(e: Any, t: Texts) -> list[Write]:
    text = (f"{t.brand}: deposit received, thank you. Your place is held and we will book the "
            "first opening inside the times you chose.")
    return _entry_message(e, "deposit_received", f"deposit_received:{e.originator_id}", text,
                          payment_ref=e.payment_ref)


def _booked(e: Any, t: Texts) -> list[Write]:
    where = t.place(e.location_name) or "the DMV office you chose"
    text = (f"{t.brand}: booked! {where}, {t.when(e.slot_datetime, long=True)}. Bring your ID "
            "and documents and arrive 10 minutes early. Reply HELP for help.")
    return _entry_message(e, "booked", f"booked:{e.originator_id}", text,
                          location_id=str(e.location_id),
                          slot_datetime=e.slot_datetime.isoformat())


def _nudged(e: Any, t: Texts) -> list[Write]:
    """No date or time (spec §4.6): the customer learns their windows cost them an opening."""
    text = (f"{t.brand}: an opening came up at one of your DMV locations, but it fell outside "
            "the days and times you chose, so we did not book it: we never book outside your "
            "approved availability. Widen your availability in the app to catch more openings.")
    key = f"opportunity_passed:{e.originator_id}:{e.day}"
    return message(e.originator_id, e.at, "opportunity_passed", key, text,
                   slot_id=str(e.slot_id))


def _location_retired(e: Any, t: Texts) -> list[Write]:
    """A location the customer chose is gone; told only while the customer waits in line."""
    if e.open_entry_id is None:
        return []
    where = t.place(e.name) or "one of the DMV offices you chose"
    text = (f"{t.brand}: {where} no longer takes appointments here, so we took it off your "
            "locations. Choose another location in the app to keep your place working for you.")
    key = f"status:{e.open_entry_id}:location_retired:{e.location_id}"
    return message(e.originator_id, e.at, "status", key, text, what="location_retired",
                   queue_entry_id=str(e.open_entry_id), location_id=str(e.location_id))


# --- offers (spec service §4.2): the claim link is a placeholder here; the delivery worker puts
# the real, signed link in just before it calls the provider, so no record holds a token.
CLAIM = f"{LINK_PLACEHOLDER} Reply 1 to accept, 9 to decline."


def _offer_slot(e: Any, t: Texts) -> str:
    return f"{t.place(e.location_name, OFFER_PLACE_LENGTH) or 'an opening'}, " \
           f"{t.when(e.slot_datetime)}"


def _offered(e: Any, t: Texts, round_: int, text: str) -> list[Write]:
    return message(e.customer_id, e.at, MESSAGE, message_key(e.originator_id, round_), text,
                   queue_entry_id=str(e.entry_id), offer_id=str(e.originator_id),
                   round=round_, expires_at=e.expires_at.isoformat())


def _offer_made(e: Any, t: Texts) -> list[Write]:
    return _offered(e, t, 1, f"{t.brand}: {_offer_slot(e, t)} is yours if claimed by "
                             f"{t.until(e.expires_at, e.at)}: {CLAIM}")


def _offer_reminded(e: Any, t: Texts) -> list[Write]:
    return _offered(e, t, e.round, f"{t.brand}: still yours until "
                                   f"{t.until(e.expires_at, e.at)}: {_offer_slot(e, t)}. {CLAIM}")


def _offer_status(e: Any, what: str, text: str) -> list[Write]:
    key = f"status:{e.entry_id}:{what}:{e.originator_id}"
    return message(e.customer_id, e.at, "status", key, text, what=what,
                   queue_entry_id=str(e.entry_id), offer_id=str(e.originator_id))


WITHDRAWN_WORDS = {"taken": "was taken by someone who answered first",
                   "slot_gone": "is no longer available",
                   "booked_by_operator": "was booked by our staff for someone else"}


def _offer_withdrawn(e: Any, t: Texts) -> list[Write]:
    """Told when it is gone; not when the customer left the queue (they know)."""
    words = WITHDRAWN_WORDS.get(e.reason)
    if words is None:
        return []
    return _offer_status(e, "offer_withdrawn", f"{t.brand}: sorry, {_offer_slot(e, t)} "
                                               f"{words}. Your place in line is kept.")


def _offer_settled(e: Any, t: Texts) -> list[Write]:
    """A booking that went through is told by the entry's `booked` message."""
    if e.status != "failed":
        return []
    return _offer_status(e, "offer_failed", f"{t.brand}: you accepted {_offer_slot(e, t)}, "
                         "but we could not book it. Your place in line is kept and we will "
                         "keep looking.")


def _cooldown(e: Any, t: Texts) -> list[Write]:
    """An offer that ran out unanswered (a decline needs no text: the customer did it)."""
    if e.reason != "expired":
        return []
    text = (f"{t.brand}: your offer ran out without an answer, so it went to the next person. "
            f"Your place in line is kept; offers resume after {t.until(e.until, e.at)}.")
    key = f"status:{e.originator_id}:offer_expired:{e.offer_id}"
    return message(e.customer_id, e.at, "status", key, text, what="offer_expired",
                   queue_entry_id=str(e.originator_id), offer_id=str(e.offer_id))


HANDLERS: dict[type, Callable[[Any, Texts], list[Write]]] = {
    QueueEntry.DepositRequired: _deposit_needed,
    QueueEntry.DepositPaid: _deposit_received,
    QueueEntry.Booked: _booked,
    QueueEntry.DepositLapsed: lambda e, t: _status(
        e, "deposit_lapsed",
        f"{t.brand}: your deposit window closed, so your place in the line has ended. You can "
        "join again at any time.",
    ),
    QueueEntry.Canceled: lambda e, t: _status(
        e, "canceled", f"{t.brand}: your place in the line is canceled."
    ),
    QueueEntry.PaymentNeedsRefund: lambda e, t: _status(
        e, f"refund_needed:{e.payment_ref}",
        f"{t.brand}: we received a payment we were not expecting; it will be refunded.",
        payment_ref=e.payment_ref, reason=e.reason,
    ),
    QueueEntry.Refunded: lambda e, t: _status(
        e, "refunded:" + ",".join(e.payment_refs), f"{t.brand}: your payment has been refunded.",
        payment_refs=list(e.payment_refs),
    ),
    Customer.OpportunityPassed: _nudged,
    Customer.LocationRetired: _location_retired,
    Offer.Made: _offer_made,
    Offer.Reminded: _offer_reminded,
    Offer.Withdrawn: _offer_withdrawn,
    Offer.Settled: _offer_settled,
    OfferHolder.CooldownStarted: _cooldown,  # the base's event: its commands record it
}


def help_text(t: Texts) -> str:
    """The answer to an SMS saying HELP (or INFO): who texts, and how to stop the texts; one
    SMS segment even with the longest brand."""
    return (f"{t.brand}: texts about your place in the DMV line. Reply STOP to stop them, "
            "START to resume. Msg & data rates may apply.")


def message_writes(event: Any, texts: Texts) -> list[Write]:
    handler = HANDLERS.get(type(event))
    return handler(event, texts) if handler else []
