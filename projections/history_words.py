"""A customer's own history in plain words (`GET /v1/me/history`): each event a sentence, times
local with the zone. Events a customer does not need to read are left out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slotqueue.projections.audit import Line
from slotqueue.projections.wording import check_in_words, local_time

Say = Callable[[Line, str], str]


def _priority(line: Line, _: str) -> str:
    """An operator's score, without their note or name (those are for the operators'
    audits)."""
    score = int(line.data.get("score") or 0)
    if score == 0:
        return "Our staff took the priority off your place: you are in join order again."
    return f"Our staff gave your place in line priority {score} (higher goes first)."


def _booked(line: Line, tz: str) -> str:
    who = "Our staff booked you" if line.data.get("by") else "You were booked"
    return (f"{who}: {line.data.get('location_name') or 'your DMV office'}, "
            f"{local_time(line.data['slot_datetime'], tz, long=True)}.")

SENTENCES: dict[str, Say] = {
    "Registered": lambda _, __: "You signed up.",
    "Imported": lambda line, _: ("Your place was carried over from the earlier system."
                                 if line.aggregate == "QueueEntry" else
                                 "Your details were carried over from the earlier system."),
    "Joined": lambda _, __: "You joined the line.",
    "EmailChanged": lambda _, __: "You changed your email address.",
    "TargetWindowsSelected": lambda _, __: "You chose the days and times that suit you.",
    "LocationsPreferred": lambda _, __: "You chose your DMV locations.",
    "LocationRetired": lambda line, _: (
        f"{line.data.get('name') or 'A location you chose'} stopped taking appointments and "
        "was taken off your locations."),
    "DepositRequired": lambda line, tz: (
        "You reached the front of the line and were asked for your deposit, due "
        f"{local_time(line.data['expires_at'], tz)}."),
    "DepositPaid": lambda _, __: "Your deposit was paid: managed booking is on.",
    "PaymentNeedsRefund": lambda _, __: "A payment arrived that was not due; it is refunded.",
    "DepositLapsed": lambda _, __: "Your deposit was not paid in time, so your place ended.",
    "Paused": lambda _, __: "Your place was paused.",
    "Resumed": lambda _, __: "Your place was resumed.",
    "Canceled": lambda _, __: "Your place was canceled.",
    "Refunded": lambda _, __: "Your payment was refunded.",
    "ChosenForSlot": lambda _, __: "An opening matched your choices: we tried to book it.",
    "Booked": _booked,
    "PriorityChanged": _priority,
    "BookingConflicted": lambda _, __: (
        "The DMV confirmed a booking we could no longer give you; our staff will contact "
        "you."),
    "OpportunityPassed": lambda _, __: (
        "An opening came up at your locations outside the days and times you chose."),
}


def sentences(lines: list[Line], timezone: str) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        say = SENTENCES.get(line.name)
        if say is not None:
            out.append({"at": line.at, "at_local": local_time(line.at, timezone),
                        "what": say(line, timezone)})
    return out


def passed_over_in_words(openings: list[dict[str, Any]], timezone: str
                         ) -> list[dict[str, Any]]:
    """Openings that went to someone else while the customer waited, with the first check the
    customer failed, in words."""
    return [{"decided_at": o["decided_at"], "decided_at_local": local_time(o["decided_at"],
                                                                         timezone),
             "why_not_you": check_in_words(o.get("failed"))}
            for o in openings if o.get("winner") not in ("you",)]
