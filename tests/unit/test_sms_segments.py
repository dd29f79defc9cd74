"""SMS sizes: GSM-7 (GSM 03.38, extension characters two septets; 160 in one SMS, 153 a part)
or UCS-2 (UTF-16 code units; 70 in one SMS, 67 a part), and texts brought into GSM-7."""

from __future__ import annotations

import pytest

from slotqueue.projections.sms_segments import (
    GSM7,
    GSM7_BASIC,
    GSM7_EXTENSION,
    UCS2,
    SmsSize,
    measure,
    not_gsm7,
    segments,
    to_gsm7,
)

EMOJI = "\U0001f600"  # two UTF-16 code units
OKINA = "\u02bb"


@pytest.mark.parametrize(("text", "size"), [
    ("", SmsSize(GSM7, 0, 1)),
    ("a" * 160, SmsSize(GSM7, 160, 1)),
    ("a" * 161, SmsSize(GSM7, 161, 2)),
    ("a" * 306, SmsSize(GSM7, 306, 2)),
    ("a" * 307, SmsSize(GSM7, 307, 3)),
    ("€" * 80, SmsSize(GSM7, 160, 1)),
    ("€" * 81, SmsSize(GSM7, 162, 2)),
    ("a" * 159 + "{", SmsSize(GSM7, 161, 2)),
    # a part never ends in half an escape: 152 + 76 x 2 + 2 septets take three parts
    ("a" * 152 + "€" * 77, SmsSize(GSM7, 306, 3)),
    ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\n\r", SmsSize(GSM7, 44, 1)),
    (OKINA * 70, SmsSize(UCS2, 70, 1)),
    (OKINA * 71, SmsSize(UCS2, 71, 2)),
    (OKINA * 134, SmsSize(UCS2, 134, 2)),
    (OKINA * 135, SmsSize(UCS2, 135, 3)),
    ("a" * 69 + OKINA, SmsSize(UCS2, 70, 1)),
    ("a" * 150 + "\u2019", SmsSize(UCS2, 151, 3)),  # one curly quote: 1 SMS becomes 3
    (EMOJI * 35, SmsSize(UCS2, 70, 1)),
    (EMOJI * 36, SmsSize(UCS2, 72, 2)),
    # a part never ends in half a surrogate pair: 66 + 33 x 2 + 2 units take three parts
    ("a" * 66 + EMOJI * 34, SmsSize(UCS2, 134, 3)),
])
def test_a_text_is_measured_in_its_encodings_units_and_segments(text, size):
    assert measure(text) == size
    assert segments(text) == size.segments


@pytest.mark.parametrize(("char", "encoding"), [
    ("é", GSM7), ("Ç", GSM7), ("ç", UCS2), ("€", GSM7), ("\\", GSM7), ("\f", GSM7),
    ("\u2019", UCS2), ("\u201c", UCS2), ("\u2022", UCS2), ("\u2014", UCS2), ("\u2013", UCS2),
    ("\u2026", UCS2), (OKINA, UCS2), ("ā", UCS2), ("`", UCS2), ("\t", UCS2), ("\u00a0", UCS2),
    (EMOJI, UCS2),
])
def test_one_character_outside_gsm7_makes_the_whole_text_ucs2(char, encoding):
    assert measure(f"Aloha {char} there").encoding == encoding
    assert not_gsm7(f"ok {char}") == (set() if encoding == GSM7 else {char})


def test_the_alphabet_has_the_128_basic_characters_and_ten_extension_ones():
    assert len(GSM7_BASIC) == 127  # 128 codes, one of them the escape to the extension table
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION


@pytest.mark.parametrize(("text", "gsm"), [
    (f"K\u0101ne{OKINA}ohe", "Kane'ohe"),
    ("\u201cHi\u201d \u2014 it\u2019s 10\u201311\u2026", "\"Hi\" - it's 10-11..."),
    ("\u2022 one\u00a0two\tthree", "* one two three"),
    ("Café Ça ça Ñandú", "Café Ça ca Ñandu"),
    (f"Łódź {EMOJI}", "?odz ?"),
    ("plain ASCII [ok] €5", "plain ASCII [ok] €5"),
])
def test_a_text_brought_into_gsm7_keeps_its_letters_and_reads_the_same(text, gsm):
    assert to_gsm7(text) == gsm
    assert measure(gsm).encoding == GSM7
