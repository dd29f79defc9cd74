"""The queue entry's lifecycle (spec §4.1) as two module-level `transitions` rule tables.

One table for `status`, one for `deposit_status`. Commands ask them for the legal destination
and record it in their event; replay never consults them, so changing a rule later cannot
rewrite history. No machine is ever attached to an aggregate.
"""

from __future__ import annotations

from collections.abc import Mapping

from transitions import Machine

from slotqueue.aggregates.errors import TransitionRefused

QUEUED = "queued"
DEPOSIT_REQUIRED = "deposit_required"
ACTIVE = "active"
BOOKED = "booked"
PAUSED = "paused"
EXPIRED = "expired"
CANCELED = "canceled"
STATUSES = (QUEUED, DEPOSIT_REQUIRED, ACTIVE, BOOKED, PAUSED, EXPIRED, CANCELED)
FINAL = frozenset({BOOKED, EXPIRED, CANCELED})
RANKED = (QUEUED, DEPOSIT_REQUIRED, ACTIVE)
OPEN = (QUEUED, DEPOSIT_REQUIRED, ACTIVE, PAUSED)

NONE = "none"
REQUIRED = "required"
PAID = "paid"
REFUNDED = "refunded"
DEPOSIT_STATUSES = (NONE, REQUIRED, PAID, EXPIRED, REFUNDED)

STATUS_RULES = Machine(
    model=None,
    states=list(STATUSES),
    initial=QUEUED,
    auto_transitions=False,
    transitions=[
        {"trigger": "require_deposit", "source": QUEUED, "dest": DEPOSIT_REQUIRED},
        {"trigger": "pay_deposit", "source": DEPOSIT_REQUIRED, "dest": ACTIVE},
        {"trigger": "lapse_deposit", "source": DEPOSIT_REQUIRED, "dest": EXPIRED},
        {"trigger": "book", "source": ACTIVE, "dest": BOOKED},
        {"trigger": "pause", "source": [QUEUED, ACTIVE], "dest": PAUSED},
        {"trigger": "resume", "source": PAUSED, "dest": QUEUED, "conditions": "paused_from_queued"},
        {"trigger": "resume", "source": PAUSED, "dest": ACTIVE, "conditions": "paused_from_active"},
        {"trigger": "cancel", "source": list(OPEN), "dest": CANCELED},
        # Operators' overrides (service §4.4, §4.5; decisions.md "Priority and convert to
        # booking"): a priority changes no status; an operator books any open entry directly,
        # apart from the dispatcher's `book`, which stays active-only.
        {"trigger": "set_priority", "source": list(OPEN), "dest": None},
        {"trigger": "book_by_operator", "source": list(OPEN), "dest": BOOKED},
        # A deposit goes back only once the entry has left the queue (decisions.md).
        {"trigger": "refund", "source": sorted(FINAL), "dest": None},
    ],
)

DEPOSIT_RULES = Machine(
    model=None,
    states=list(DEPOSIT_STATUSES),
    initial=NONE,
    auto_transitions=False,
    transitions=[
        # From expired too: entries imported from an earlier implementation whose deposit
        # lapsed under the owner's plan (queued, expired) are asked again, not left frozen.
        {"trigger": "require_deposit", "source": [NONE, EXPIRED], "dest": REQUIRED},
        {"trigger": "pay_deposit", "source": REQUIRED, "dest": PAID},
        {"trigger": "lapse_deposit", "source": REQUIRED, "dest": EXPIRED},
        {"trigger": "book", "source": PAID, "dest": None},
        {"trigger": "refund", "source": PAID, "dest": REFUNDED},
    ],
)


def _destination(
    rules: Machine, source: str, trigger: str, facts: Mapping[str, bool]
) -> str | None:
    for transition in rules.get_transitions(trigger=trigger, source=source):
        if all(facts.get(str(c.func), False) == c.target for c in transition.conditions):
            return source if transition.dest is None else str(transition.dest)
    return None


def next_status(status: str, trigger: str, **facts: bool) -> str:
    """The status after `trigger`, or TransitionRefused naming the status."""
    dest = _destination(STATUS_RULES, status, trigger, facts)
    if dest is None:
        raise TransitionRefused(f"cannot {trigger.replace('_', ' ')}: entry is {status}")
    return dest


def next_deposit_status(deposit_status: str, trigger: str) -> str:
    """The deposit status after `trigger`; unchanged when the deposit table ignores it."""
    if trigger not in DEPOSIT_RULES.events:
        return deposit_status
    dest = _destination(DEPOSIT_RULES, deposit_status, trigger, {})
    if dest is None:
        raise TransitionRefused(
            f"cannot {trigger.replace('_', ' ')}: deposit is {deposit_status}"
        )
    return dest


def allowed_triggers(status: str) -> list[str]:
    """Commands the status table allows from `status` (drives help texts and audits)."""
    return sorted(STATUS_RULES.get_triggers(status))
