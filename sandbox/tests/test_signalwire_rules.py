"""SMS segments as SignalWire documents them: GSM-7 160/153, UCS-2 70/67, escapes cost two."""

from __future__ import annotations

import pytest

from messaging_sandbox.signalwire_rules import BODY_LIMIT, MEDIA_LIMIT, encoding, segments

EMOJI = "\N{SLIGHTLY SMILING FACE}"  # outside the BMP: two UTF-16 units


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", 0),
        ("Nightly backup finished", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("é" * 160, 1),  # é, ñ, ü ... are in the GSM 03.38 default alphabet
        ("€" * 80, 1),  # the euro sign is in the extension table: two septets each
        ("€" * 81, 2),
        ("[x]" * 32, 1),  # 160 septets
        ("{x}" * 33, 2),  # 165 septets
        ("a" * 152 + "€" + "a" * 152, 3),  # the escape pair is not cut at the end of part one
        ("ç" * 70, 1),  # lowercase c-cedilla is not GSM-7: the body goes as UCS-2
        ("ç" * 71, 2),
        (EMOJI + "a" * 68, 1),  # 70 UTF-16 units
        (EMOJI + "a" * 69, 2),
        ("ç" * 66 + EMOJI + "ç" * 66, 3),  # a surrogate pair is not cut either
        ("a" * BODY_LIMIT, 11),
    ],
)
def test_segment_counts(body, expected):
    assert segments(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Hello @home, 5€ ~ [ok] {1} |x| ^_^ \\ ¿¡", "GSM-7"),
        ("ÄÖÑÜ§äöñüà ΔΦΓΛΩΠΨΣΘΞ ÆæßÉ Øø Åå", "GSM-7"),
        ("Grüße ✓", "UCS-2"),
        (f"ok {EMOJI}", "UCS-2"),
        ("tab\there", "UCS-2"),  # a tab is not in the GSM alphabet
        ("\x1b", "UCS-2"),  # the escape code is not a character of its own
    ],
)
def test_encoding_follows_the_gsm_03_38_tables(body, expected):
    assert encoding(body) == expected


def test_documented_limits():
    assert (BODY_LIMIT, MEDIA_LIMIT) == (1600, 8)
