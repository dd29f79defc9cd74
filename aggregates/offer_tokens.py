"""An offer's claim token (spec service §4.2): signed, one per round, never stored.

The token of round n of offer x is HMAC-SHA256(secret, "x:n"), cut to 16 bytes and written in
URL-safe base64 (22 characters): the delivery worker derives it again when it puts the link
into a text, so no event, table or log line ever holds it. What is recorded is its SHA-256
digest (`digest`), enough to check a token that comes back and nothing to forge one from. A
reminder starts round 2: a new token, and the first one no longer works.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from uuid import UUID

TOKEN_BYTES = 16  # 128 bits: unguessable, and short enough for a text
TOKEN_LENGTH = 22  # characters of URL-safe base64, unpadded
LINK_PLACEHOLDER = "{offer_link}"  # in recorded texts; the worker puts the real link there


def derive(secret: bytes, offer_id: UUID, round_: int) -> str:
    """The token of `round_` of the offer (1: the offer, 2: the reminder's)."""
    mac = hmac.new(secret, f"{offer_id}:{round_}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:TOKEN_BYTES]).decode().rstrip("=")


def digest(token: str) -> str:
    """What an offer records of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def matches(token: str | None, recorded: str | None) -> bool:
    """Whether `token` is the one whose digest was recorded (compared in constant time)."""
    if not token or not recorded or len(token) > 4 * TOKEN_LENGTH:
        return False
    return hmac.compare_digest(digest(token), recorded)


def offer_link(public_url: str, offer_id: UUID, token: str) -> str:
    return f"{public_url.rstrip('/')}/v1/offers/{offer_id}?token={token}"


def link_length(public_url: str) -> int:
    """How long a link is with this public URL (every offer id and token is as long)."""
    return len(offer_link(public_url, UUID(int=0), "x" * TOKEN_LENGTH))
