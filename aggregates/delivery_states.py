"""A delivery's lifecycle (spec service §3) as one module-level `transitions` rule table.

queued → sending → sent → delivered | failed; queued → suppressed; sending → unknown when the
provider may have taken the message but nobody recorded it (a crash, a provider that did not
answer). Only an operator sends an unknown or failed delivery again (`retry`).
"""

from __future__ import annotations

from transitions import Machine

from slotqueue.aggregates.errors import TransitionRefused

QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
DELIVERED = "delivered"
FAILED = "failed"
SUPPRESSED = "suppressed"
UNKNOWN = "unknown"
STATUSES = (QUEUED, SENDING, SENT, DELIVERED, FAILED, SUPPRESSED, UNKNOWN)
FINAL = frozenset({DELIVERED, FAILED, SUPPRESSED})  # failed may still be retried by hand
PENDING = frozenset({QUEUED, SENDING})  # the worker's business

RULES = Machine(
    model=None,
    states=list(STATUSES),
    initial=QUEUED,
    auto_transitions=False,
    transitions=[
        {"trigger": "hold", "source": QUEUED, "dest": None},  # quiet hours: stays queued
        {"trigger": "send", "source": QUEUED, "dest": SENDING},
        # From unknown too: the provider's late answer to the same attempt settles it.
        {"trigger": "accept", "source": [SENDING, UNKNOWN], "dest": SENT},
        {"trigger": "retry_later", "source": [SENDING, UNKNOWN], "dest": QUEUED},
        {"trigger": "fail", "source": [SENDING, UNKNOWN], "dest": FAILED},
        {"trigger": "lose_track", "source": SENDING, "dest": UNKNOWN},
        {"trigger": "suppress", "source": QUEUED, "dest": SUPPRESSED},
        # The provider's own word settles a delivery, even one we lost track of.
        {"trigger": "report_delivered", "source": [SENDING, SENT, UNKNOWN], "dest": DELIVERED},
        {"trigger": "report_failed", "source": [SENDING, SENT, UNKNOWN], "dest": FAILED},
        {"trigger": "retry", "source": [UNKNOWN, FAILED], "dest": QUEUED},
    ],
)


def next_status(status: str, trigger: str) -> str:
    """The status after `trigger`, or TransitionRefused naming the status."""
    for transition in RULES.get_transitions(trigger=trigger, source=status):
        return status if transition.dest is None else str(transition.dest)
    raise TransitionRefused(f"cannot {trigger.replace('_', ' ')}: delivery is {status}")


def allows(status: str, trigger: str) -> bool:
    return bool(RULES.get_transitions(trigger=trigger, source=status))
