"""An offer's lifecycle (spec service §4.2, §4.3) as one module-level `transitions` rule table.

pending → accepted → booked | failed (the booking attempt's answer); pending → declined |
expired | withdrawn (taken by another, the slot gone, booked by an operator). While pending,
the reminder (once: round 2, a new token) and the end of a priority window change no status.
Commands ask the table for the destination and record it; replay never consults it.
"""

from __future__ import annotations

from collections.abc import Mapping

from transitions import Machine

from slotqueue.aggregates.errors import TransitionRefused

PENDING = "pending"
ACCEPTED = "accepted"
BOOKED = "booked"
FAILED = "failed"
DECLINED = "declined"
EXPIRED = "expired"
WITHDRAWN = "withdrawn"
STATUSES = (PENDING, ACCEPTED, BOOKED, FAILED, DECLINED, EXPIRED, WITHDRAWN)
ENDED = frozenset({BOOKED, FAILED, DECLINED, EXPIRED, WITHDRAWN})
TRIGGERS = ("remind", "end_window", "accept", "decline", "expire", "withdraw", "book", "fail")

RULES = Machine(
    model=None,
    states=list(STATUSES),
    initial=PENDING,
    auto_transitions=False,
    transitions=[
        {"trigger": "remind", "source": PENDING, "dest": None, "unless": "reminded"},
        {"trigger": "end_window", "source": PENDING, "dest": None, "conditions": "priority"},
        {"trigger": "accept", "source": PENDING, "dest": ACCEPTED},
        {"trigger": "decline", "source": PENDING, "dest": DECLINED},
        {"trigger": "expire", "source": PENDING, "dest": EXPIRED},
        {"trigger": "withdraw", "source": PENDING, "dest": WITHDRAWN},
        {"trigger": "book", "source": ACCEPTED, "dest": BOOKED},
        {"trigger": "fail", "source": ACCEPTED, "dest": FAILED},
    ],
)


def next_status(status: str, trigger: str, **facts: bool) -> str:
    """The status after `trigger`, or TransitionRefused naming the status."""
    for transition in RULES.get_transitions(trigger=trigger, source=status):
        if all(facts.get(str(c.func), False) == c.target for c in transition.conditions):
            return status if transition.dest is None else str(transition.dest)
    raise TransitionRefused(f"cannot {trigger.replace('_', ' ')}: the offer is {status}"
                            + (" and was reminded already" if trigger == "remind"
                               and status == PENDING else ""))


def allows(status: str, trigger: str, **facts: bool) -> bool:
    try:
        next_status(status, trigger, **facts)
    except TransitionRefused:
        return False
    return True


def facts_of(reminded: bool, policy: str) -> Mapping[str, bool]:
    return {"reminded": reminded, "priority": policy == "priority"}
