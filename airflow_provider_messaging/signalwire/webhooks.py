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
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from ..core.events import InboundMessage, MalformedPayload, StatusEvent, number_or
from .errors import SIGNALWIRE_ERRORS
from .native import epoch
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


def parse_callback(fields: Mapping[str, Any]) -> StatusEvent | InboundMessage:
    """A status callback or inbound-SMS webhook, from its form or JSON fields: the Compatibility
    API's (``MessageSid``, ``MessageStatus``) or the native Messaging API's JSON (``id``, ``status``)."""
    if not isinstance(fields, Mapping):
        raise MalformedPayload("expected an object of fields")
    if "MessageSid" not in fields and "SmsSid" not in fields and "id" in fields:
        return _native_status(fields)
    fields = {key: "" if value is None else str(value) for key, value in fields.items()}
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


def _native_status(fields: Mapping[str, Any]) -> StatusEvent:
    """The native Messaging API's status callback: ``id``, ``status``, ``to``, ``timestamp``,
    ``error_code``, ``error_message`` and the sender's ``custom_variables``."""
    sid, status = fields.get("id"), fields.get("status")
    if not isinstance(sid, str) or not sid or not isinstance(status, str) or not status:
        raise MalformedPayload("expected id and status fields")
    code = fields.get("error_code")
    code = None if code in (None, "") else str(code)
    variables = fields.get("custom_variables")
    return StatusEvent(
        service="signalwire", message_id=sid, state=state_of(status), raw_status=status,
        timestamp=epoch(fields.get("timestamp")) or time.time(), recipient=_text(fields.get("to")),
        error_code=code, error_title=SIGNALWIRE_ERRORS.meaning(code),
        error_details=_text(fields.get("error_message")),
        correlation=json.dumps(variables, sort_keys=True) if isinstance(variables, dict) and variables else None,
        payload=dict(fields), same_event_key="callback",
    )  # fmt: skip


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
