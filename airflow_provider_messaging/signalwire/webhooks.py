"""What SignalWire POSTs to a webhook: checking its signature, and reading status callbacks and
inbound messages.

SignalWire signs Compatibility (form) callbacks the Twilio way:
``base64(HMAC-SHA1(signing_key, url + concat(sorted key+value)))``; JSON webhooks as
``hex(HMAC-SHA1(signing_key, url + raw_body))``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from ..core.events import InboundMessage, MalformedPayload, StatusEvent, number_or
from .errors import SIGNALWIRE_ERRORS
from .statuses import state_of


def form_signature(signing_key: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The ``X-SignalWire-Signature`` value for a form-encoded callback to ``url``."""
    ordered = sorted(params, key=lambda kv: kv[0])  # stable: repeated keys keep their order
    payload = url + "".join(key + (value or "") for key, value in ordered)
    digest = hmac.new(signing_key.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def json_signature(signing_key: str, url: str, raw_body: bytes) -> str:
    return hmac.new(signing_key.encode(), url.encode() + raw_body, hashlib.sha1).hexdigest()


def _url_variants(url: str) -> list[str]:
    """The URL as given, and with the default port added or removed (both are seen in the wild)."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    variants = [url]
    if default is None:
        return variants
    host = parts.hostname or ""
    if parts.port is None:
        variants.append(urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}")))
    elif parts.port == default:
        netloc = parts.netloc.rsplit(":", 1)[0] if host else parts.netloc
        variants.append(urlunsplit(parts._replace(netloc=netloc)))
    return variants


def verify_signature(signing_key: str, signature: str | None, url: str, raw_body: bytes) -> bool:
    """True when ``signature`` matches ``raw_body`` posted to ``url`` in either scheme."""
    if not signature or not signing_key:
        return False
    query = dict(parse_qsl(urlsplit(url).query))
    if "bodySHA256" in query and hashlib.sha256(raw_body).hexdigest() != query["bodySHA256"]:
        return False
    try:
        params = parse_qsl(raw_body.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        params = []
    for candidate in _url_variants(url):
        expected = (
            json_signature(signing_key, candidate, raw_body),
            form_signature(signing_key, candidate, params),
            form_signature(signing_key, candidate, []),
        )
        if any(hmac.compare_digest(signature, value) for value in expected):
            return True
    return False


def parse_callback(fields: Mapping[str, str]) -> StatusEvent | InboundMessage:
    """A Compatibility status callback (or inbound-SMS webhook) from its form or JSON fields."""
    sid = fields.get("MessageSid") or fields.get("SmsSid")
    status = fields.get("MessageStatus") or fields.get("SmsStatus")
    if not sid or not status:
        raise MalformedPayload("expected MessageSid and MessageStatus fields")
    now = time.time()
    if status.lower() in ("received", "receiving") or fields.get("Direction") == "inbound":
        return InboundMessage(
            service="signalwire",
            message_id=sid,
            sender=fields.get("From", ""),
            recipient=fields.get("To"),
            kind="mms" if int(number_or(fields.get("NumMedia"), 0)) else "sms",
            text=fields.get("Body"),
            timestamp=now,
            payload=dict(fields),
        )
    code = fields.get("ErrorCode") or None
    return StatusEvent(
        service="signalwire",
        message_id=sid,
        state=state_of(status),
        raw_status=status,
        timestamp=now,
        recipient=fields.get("To"),
        error_code=code,
        error_title=SIGNALWIRE_ERRORS.meaning(code),
        error_details=fields.get("ErrorMessage"),
        payload=dict(fields),
        same_event_key="callback",
    )
