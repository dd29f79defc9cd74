"""Stripe's webhook wire format (spec service §2.3): the `Stripe-Signature` header checked by
the `stripe` package (HMAC-SHA256 over "timestamp.body", 300 s tolerance) before the body is
read as JSON, then the event read into what the application records.

`checkout.session.completed` (and `checkout.session.async_payment_succeeded`) with the session
paid → a `PaidNotice` (the payment intent is the payment reference; the session's
`client_reference_id` names the entry); `charge.refunded` → a `RefundNotice`. Any other type
is `None`: answered and ignored.
"""

from __future__ import annotations

from typing import Any

import stripe

from slotqueue.aggregates.payment_notice import PaidNotice, RefundNotice

PROVIDER = "stripe"
TOLERANCE_SECONDS = 300
PAID_TYPES = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
REFUND_TYPES = ("charge.refunded",)
MAX_ID = 200


class Unsigned(Exception):
    """The signature is missing, wrong or too old: nothing in the body may be trusted."""


class Malformed(Exception):
    """Signed, but not a Stripe event this adapter can read."""


def verified_event(body: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The event as plain data, once its signature holds; Unsigned or Malformed otherwise."""
    try:
        body.decode("utf-8")  # the package decodes it itself, and would fail outside its errors
    except UnicodeDecodeError:
        raise Malformed("the body is not UTF-8 text") from None
    try:
        event = stripe.Webhook.construct_event(body, signature, secret,
                                               tolerance=TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as exc:
        raise Unsigned(_why(str(exc))) from None
    except ValueError:  # the signature held; the JSON did not parse
        raise Malformed("the body is not JSON") from None
    except (AttributeError, TypeError):  # JSON, but not an object
        raise Malformed("the body is not a JSON object") from None
    return event.to_dict()


def _why(message: str) -> str:
    if message.startswith("Timestamp outside the tolerance zone"):
        return f"the signature is older than {TOLERANCE_SECONDS} seconds"
    if message.startswith("No Stripe-Signature header"):
        return "no Stripe-Signature header"
    return "the Stripe-Signature header does not match the body"


def _text(value: Any, name: str, required: bool = True) -> str | None:
    if isinstance(value, str) and value.strip() and len(value) <= MAX_ID:
        return value.strip()
    if required:
        raise Malformed(f"{name} is missing or not a short string")
    return None


def _amount(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _paid(event_id: str, kind: str, session: dict[str, Any]) -> PaidNotice | None:
    if session.get("payment_status") != "paid":
        return None  # a delayed payment method: its async_payment_succeeded pays it
    ref = _text(session.get("payment_intent"), "data.object.payment_intent", required=False)
    currency = _text(session.get("currency"), "currency", required=False)
    return PaidNotice(
        event_id=event_id, kind=kind,
        payment_ref=ref or str(_text(session.get("id"), "data.object.id")),
        client_reference=_text(session.get("client_reference_id"), "client_reference_id",
                               required=False),
        amount=_amount(session.get("amount_total")), currency=currency)


def _refund(event_id: str, kind: str, charge: dict[str, Any]) -> RefundNotice:
    ref = _text(charge.get("payment_intent"), "data.object.payment_intent", required=False)
    refunded, total = _amount(charge.get("amount_refunded")), _amount(charge.get("amount"))
    full = charge.get("refunded") is True or (
        refunded is not None and total is not None and refunded >= total)
    return RefundNotice(
        event_id=event_id, kind=kind,
        payment_ref=ref or str(_text(charge.get("id"), "data.object.id")),
        amount_refunded=refunded, full=full)


def notice(event: dict[str, Any]) -> PaidNotice | RefundNotice | None:
    """What a verified event reports; None for a type (or a state) that records nothing."""
    event_id = str(_text(event.get("id"), "id"))
    kind = str(_text(event.get("type"), "type"))
    if kind not in PAID_TYPES + REFUND_TYPES:
        return None
    data = event.get("data")
    found = data.get("object") if isinstance(data, dict) else None
    if not isinstance(found, dict):
        raise Malformed("data.object is missing")
    if kind in PAID_TYPES:
        return _paid(event_id, kind, found)
    return _refund(event_id, kind, found)
