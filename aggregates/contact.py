"""Phone and email normalisation: one customer per E.164 phone number."""

from __future__ import annotations

from slotqueue.aggregates.errors import InvalidInput

MAX_INPUT = 254


def normalise_phone(raw: str, region: str = "US") -> str:
    """`808-555-0101`, `(808) 555-0101` or `+18085550101` → `+18085550101`."""
    import phonenumbers  # noqa: PLC0415 - 40 ms of import that read-only commands skip

    text = (raw or "").strip()
    if not text or len(text) > 32:
        raise InvalidInput(f"invalid phone {raw!r}: expected a phone number like 808-555-0101")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidInput(f"invalid phone {raw!r}: not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"invalid phone {raw!r}: no such number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str | None) -> str | None:
    """A syntactically valid address (domain lower-cased), or None when not given."""
    from email_validator import EmailNotValidError, validate_email  # noqa: PLC0415

    if raw is None:
        return None
    if not raw.strip() or len(raw) > MAX_INPUT:
        raise InvalidInput(f"invalid email {raw!r}")
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidInput(f"invalid email {raw!r}: {exc}") from None
