"""How long a text is as SMS: its encoding (GSM-7 when every character is in the GSM 03.38
alphabet, else UCS-2), its length in that encoding's units and the segments it takes. Pure
functions; the message texts are tested against them.

GSM-7: a basic-table character is one septet, an extension-table one (`€ [ ] { } ~ ^ | \\`, form
feed) two; 160 septets fit one SMS, a longer text goes in parts of 153. UCS-2: UTF-16 code
units (a character beyond the BMP, an emoji, is two); 70 fit one SMS, parts hold 67. A part
never splits an escape pair or a surrogate pair, as phones and providers split them.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

GSM7, UCS2 = "GSM-7", "UCS-2"
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")  # each sent as an escape and a septet
LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}  # (one SMS, one part of a longer one)
# Look-alikes that would switch a text to UCS-2, and the GSM-7 characters that replace them.
LOOKALIKES = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u02bb": "'", "\u02bc": "'", "\u2032": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u2033": '"', "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u2010": "-", "\u2011": "-", "\u2022": "*", "\u00b7": "-", "\u2026": "...",
    "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\t": " "})


@dataclass(frozen=True)
class SmsSize:
    encoding: str  # GSM-7 | UCS-2
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def not_gsm7(text: str) -> set[str]:
    """The characters of `text` outside the GSM-7 alphabet (both tables)."""
    return set(text) - GSM7_BASIC - GSM7_EXTENSION


def encoding(text: str) -> str:
    return UCS2 if not_gsm7(text) else GSM7


def _sizes(text: str, how: str) -> list[int]:
    """Each character's size in the encoding's units."""
    if how == GSM7:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _parts(sizes: list[int], per_part: int) -> int:
    parts, used = 1, 0
    for size in sizes:
        if used + size > per_part:
            parts, used = parts + 1, 0
        used += size
    return parts


def measure(text: str) -> SmsSize:
    """The encoding, length and segment count of `text` sent as one SMS message."""
    how = encoding(text)
    sizes = _sizes(text, how)
    single, per_part = LIMITS[how]
    units = sum(sizes)
    return SmsSize(how, units, 1 if units <= single else _parts(sizes, per_part))


def segments(text: str) -> int:
    return measure(text).segments


def to_gsm7(text: str) -> str:
    """`text` in the GSM-7 alphabet: look-alikes replaced (curly quotes, the okina U+02BB,
    dashes, bullets), accents outside GSM-7 dropped (a with a macron reads a), anything else
    outside it `?`."""
    out = []
    for ch in text.translate(LOOKALIKES):
        if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
            out.append(ch)
            continue
        plain = "".join(c for c in unicodedata.normalize("NFKD", ch)
                        if not unicodedata.combining(c)).translate(LOOKALIKES)
        out.append(plain if plain and not not_gsm7(plain) else "?")
    return "".join(out)
