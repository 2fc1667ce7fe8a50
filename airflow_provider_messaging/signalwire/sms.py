"""SignalWire SMS/MMS content rules, checked before any request.

Bodies hold at most 1,600 characters. A body that fits the GSM-7 alphabet travels 160 characters
per segment (153 when split); any other character switches the whole body to UCS-2, 70 per segment
(67 when split). Segments count toward throughput and cost, so the operator logs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlparse

from ..core.errors import ValidationError

MAX_BODY_CHARS = 1600
MAX_MEDIA = 8

_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")


def is_gsm7(body: str) -> bool:
    return all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in body)


def segment_count(body: str) -> int:
    """How many SMS segments ``body`` takes."""
    if not body:
        return 0
    if is_gsm7(body):
        units = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in body)
        single, multi = 160, 153
    else:
        units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in body)
        single, multi = 70, 67
    return 1 if units <= single else -(-units // multi)


def validate_content(body: str | None, media_urls: Sequence[str] | None) -> tuple[str | None, list[str]]:
    """Check a message's body and media; return them cleaned (``None`` body when absent)."""
    if body is not None and not isinstance(body, str):
        raise ValidationError(
            "body", f"expected text, got {type(body).__name__}", "Pass the body as a string"
        )
    media = list(media_urls or [])
    if isinstance(media_urls, str):
        media = [media_urls]
    if body is not None and not body.strip():
        body = None
    if body is None and not media:
        raise ValidationError(
            "body", "the message is empty (no body and no media_urls)", "Pass a non-empty body or media_urls"
        )
    if body is not None and len(body) > MAX_BODY_CHARS:
        raise ValidationError(
            "body",
            f"{len(body)} characters is over the {MAX_BODY_CHARS}-character limit",
            f"Shorten it by {len(body) - MAX_BODY_CHARS} characters or split it into several messages",
        )
    if len(media) > MAX_MEDIA:
        raise ValidationError(
            "media_urls",
            f"{len(media)} media URLs is over the limit of {MAX_MEDIA} per message",
            "Send the rest in another message",
        )
    for url in media:
        parsed = urlparse(url) if isinstance(url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValidationError(
                "media_urls",
                f"{url!r} is not an http(s) URL",
                "Use public http:// or https:// URLs the service can download",
            )
    return body, media
