"""Booking modes (spec service §4.2): `auto` books the winner of an opening through the booking
adapter; `offer` offers it to them first. The deployment has one (SLOTQUEUE_BOOKING_MODE); an
operator may give a customer their own, or take it back (`default`). Pure."""

from __future__ import annotations

from slotqueue.aggregates.errors import InvalidInput

AUTO, OFFER, DEFAULT = "auto", "offer", "default"
MODES = (AUTO, OFFER)
CHOICES = (AUTO, OFFER, DEFAULT)  # what an operator may set on a customer


def valid_choice(mode: object) -> str:
    """An operator's choice for a customer: auto, offer, or default (the deployment's)."""
    text = mode.strip().lower() if isinstance(mode, str) else ""
    if text not in CHOICES:
        raise InvalidInput(f"invalid booking mode {mode!r}: one of {', '.join(CHOICES)}",
                           field="mode")
    return text


def effective_mode(customer_mode: str | None, deployment_mode: str) -> str:
    """The customer's own mode when an operator gave one, else the deployment's."""
    return customer_mode if customer_mode in MODES else deployment_mode
