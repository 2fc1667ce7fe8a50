"""SignalWire's messaging limits, as its documentation states them.

A message carries a body of at most 1,600 characters and at most 8 media URLs (http or https);
numbers are E.164. Bodies travel as SMS segments. A body that the GSM 03.38 alphabet can encode is
sent in 7-bit septets: 160 fit one message, 153 fit each part of a split one (the concatenation
header takes the rest); a character of the alphabet's extension table costs two septets (an escape,
then the character). A body holding any other character is sent as UCS-2: 70 UTF-16 code units
alone, 67 per part. A two-unit character (an escaped one, or a surrogate pair) is never cut between
parts, so a part may end one unit short.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

BODY_LIMIT = 1600
MEDIA_LIMIT = 8
E164 = re.compile(r"^\+[1-9]\d{7,14}$")

# GSM 03.38 default alphabet by code point, 0x00 to 0x7F, sixteen to a row. 0x1B is not a character:
# it escapes to the extension table.
_ESCAPE = 0x1B
_DEFAULT_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# The extension table: the code that follows the escape, and the character it stands for.
_EXTENSION_TABLE = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
_SEPTETS: dict[str, int] = {char: 1 for code, char in enumerate(_DEFAULT_TABLE) if code != _ESCAPE}
_SEPTETS.update(dict.fromkeys(_EXTENSION_TABLE.values(), 2))

GSM7 = "GSM-7"
UCS2 = "UCS-2"
_PER_MESSAGE = {GSM7: (160, 153), UCS2: (70, 67)}  # units alone, units per part when split


def _gsm7_units(body: str) -> list[int] | None:
    """Septets per character, or ``None`` when a character is outside the GSM 03.38 tables."""
    units = []
    for char in body:
        septets = _SEPTETS.get(char)
        if septets is None:
            return None
        units.append(septets)
    return units


def _ucs2_units(body: str) -> list[int]:
    return [len(char.encode("utf-16-le")) // 2 for char in body]


def encoding(body: str) -> str:
    """``"GSM-7"`` when every character of ``body`` is in the GSM 03.38 tables, else ``"UCS-2"``."""
    return GSM7 if _gsm7_units(body) is not None else UCS2


def _parts(units: Sequence[int], alone: int, per_part: int) -> int:
    if sum(units) <= alone:
        return 1
    parts, filled = 1, 0
    for unit in units:
        if filled + unit > per_part:
            parts, filled = parts + 1, 0
        filled += unit
    return parts


def segments(body: str) -> int:
    """How many SMS segments ``body`` is sent in (0 for an empty body)."""
    if not body:
        return 0
    gsm = _gsm7_units(body)
    units = gsm if gsm is not None else _ucs2_units(body)
    return _parts(units, *_PER_MESSAGE[GSM7 if gsm is not None else UCS2])
