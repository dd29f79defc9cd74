"""Passwords never leave the process: connection strings and messages that may quote one are
masked before they are printed, logged or put in `--json`."""

from __future__ import annotations

import os
import re

MASK = "***"
_URL_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]*):[^\s@]*@", re.IGNORECASE)
_KEY_VALUE = re.compile(r"""(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)""", re.IGNORECASE)


def _passwords() -> list[str]:
    """The passwords this process was given (DATABASE_URL, PGPASSWORD), longest first."""
    from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415 - only when masking

    found, shown = {os.environ.get("PGPASSWORD") or ""}, set[str]()
    for name in ("DATABASE_URL", "SLOTQUEUE_DATABASE_URL"):
        try:
            parts = conninfo_to_dict(os.environ.get(name) or "")
        except Exception:  # noqa: S112 - an unreadable URL is masked by the patterns alone
            continue
        found.add(str(parts.pop("password", None) or ""))
        shown.update(str(value) for value in parts.values())
    # A password that is also the user or database name ("postgres") stays to the patterns:
    # masking every "postgres" would garble the message instead of hiding anything.
    return sorted((p for p in found if len(p) >= 4 and p not in shown), key=len, reverse=True)


def redact(text: str) -> str:
    """`text` with every password masked: `postgresql://user:***@host`, `password=***`, and
    any literal occurrence of a password this process was given."""
    text = _URL_USERINFO.sub(rf"\1:{MASK}@", text)
    text = _KEY_VALUE.sub(rf"\1{MASK}", text)
    for password in _passwords():
        text = text.replace(password, MASK)
    return text


# A phone number as people and libphonenumber write it: E.164 (+18085550101), North American
# with or without separators (808-555-0101, (808) 555-0101, 1-808-555-0101, 8085550101), not
# inside a longer run of digits, a word, a hyphenated id or a decimal number.
_PHONE = re.compile(r"(?<![\w+-])(?<!\d\.)(?:\+\d{8,15}|(?:1[ .-]?)?(?:\(\d{3}\)\s?|\d{3}[ .-]?)"
                    r"\d{3}[ .-]?\d{4})(?!\w|\.\d)")


def mask_phones(text: str) -> str:
    """`text` with every phone number masked as `+1 808 •••-0101` (logs never carry one)."""
    from slotqueue.projections.wording import mask_phone  # noqa: PLC0415 - only when masking

    return _PHONE.sub(lambda found: mask_phone(found.group()), text)
