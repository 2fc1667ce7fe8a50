"""What SignalWire POSTs to a webhook: checking its signature, and reading status callbacks and
inbound messages.

A request is genuine when its signature is one that SignalWire's official validators accept:
``signalwire-sdk`` 3.x (``validate_webhook_signature``, and ``X-SignalWire-Sha256-Signature``) or
the 2.x SDK's ``RequestValidator`` (2.1.1, on Twilio's validator). The variants, all keyed with the
Signing Key:

- *JSON scheme*: ``hex(HMAC-SHA1(key, url + raw_body))`` (3.x: the URL as given; 2.x: the URL with
  its port removed, or with the default port added); ``X-SignalWire-Sha256-Signature`` carries
  ``hex(HMAC-SHA256(key, url + raw_body))`` (3.x).
- *Form scheme* (Compatibility callbacks, Twilio's algorithm):
  ``base64(HMAC-SHA1(key, url + concat(sorted name+value)))`` over the form's fields; also over no
  fields (3.x: JSON posted to a Compatibility URL), and, when the URL has ``bodySHA256``, only if
  the body's SHA-256 matches (3.x). 3.x tries the URL as given and with the default port added or
  dropped; 2.x tries it without any port and with the default port added.
- *JSON over its fields* (2.x only): a JSON object whose values are all text, signed in the form
  scheme over its sorted name+value pairs; a JSON ``null``/``{}``/``[]`` over the URL alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlparse, urlunparse

from ..core.events import InboundMessage, MalformedPayload, StatusEvent, number_or, text_or_none
from .errors import SIGNALWIRE_ERRORS
from .native import epoch
from .statuses import state_of

_DEFAULT_PORTS = {"https": 443, "http": 80}


def form_signature(signing_key: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The ``X-SignalWire-Signature`` value for a form-encoded callback to ``url``."""
    ordered = sorted(params, key=lambda kv: kv[0])  # stable: repeated keys keep their order
    payload = url + "".join(key + (value or "") for key, value in ordered)
    digest = hmac.new(signing_key.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def json_signature(signing_key: str, url: str, raw_body: bytes, digest: Any = hashlib.sha1) -> str:
    """The hex signature of a JSON webhook (SHA-1: ``X-SignalWire-Signature``; SHA-256: ``...-Sha256-...``)."""
    return hmac.new(signing_key.encode(), url.encode() + raw_body, digest).hexdigest()


def _sdk3_urls(url: str) -> list[str]:
    """signalwire-sdk 3.x: the URL as given, and with the default port added (none given) or dropped."""
    parts = urlparse(url)
    default = _DEFAULT_PORTS.get(parts.scheme.lower())
    host = parts.hostname or ""
    if not host or default is None or parts.port not in (None, default):
        return [url]
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{default}" if parts.port is None else ""
    return [url, urlunparse((parts.scheme, netloc, parts.path, "", parts.query, parts.fragment))]


def _sdk2_urls(url: str) -> list[str]:
    """Twilio's validator under the 2.x SDK: the URL without its port (whatever it is), and the URL
    with the default port added when it has none (or as given when it has one)."""
    parsed = urlparse(url)
    if parsed.port:
        return [parsed._replace(netloc=parsed.netloc.split(":")[0]).geturl(), parsed.geturl()]
    added = parsed._replace(netloc=f"{parsed.netloc}:{443 if parsed.scheme == 'https' else 80}")
    return [parsed.geturl(), added.geturl()]


def _body_hash_ok(url: str, text: str) -> bool:
    """``bodySHA256`` in the URL's query, if there is one, matches the body."""
    expected = dict(parse_qsl(urlparse(url).query, keep_blank_values=True)).get("bodySHA256")
    return expected is None or hmac.compare_digest(hashlib.sha256(text.encode()).hexdigest(), expected)


def _json_fields(document: Any, url: str) -> list[tuple[str, str]] | None:
    """The fields Twilio's validator (under 2.x) signs a parsed JSON body over: an object of text
    values; nothing (the URL alone) for ``null``, ``[]``, ``0``, ``false`` and ``""`` (the last with
    its ``bodySHA256``, if any); ``None`` for any other document, on which it fails."""
    if isinstance(document, dict):
        return sorted(document.items()) if all(isinstance(v, str) for v in document.values()) else None
    if document == "":
        expected = parse_qs(urlparse(url).query).get("bodySHA256")
        if expected and not hmac.compare_digest(hashlib.sha256(b"").hexdigest(), expected[0]):
            return None
    return [] if not document else None


def accepted_signatures(signing_key: str, url: str, raw_body: bytes) -> set[str]:
    """Every ``X-SignalWire-Signature`` value an official validator accepts for this request."""
    text = raw_body.decode("utf-8", "replace")
    form = parse_qsl(text, keep_blank_values=True)
    # signalwire-sdk 3.x: the JSON scheme over the URL as given; the form scheme over the fields and over none
    accepted = {json_signature(signing_key, url, text.encode())}
    for candidate in _sdk3_urls(url):
        if _body_hash_ok(candidate, text):
            accepted |= {
                form_signature(signing_key, candidate, form),
                form_signature(signing_key, candidate, []),
            }
    # signalwire 2.1.1: a JSON post is checked on its raw body, then on its fields; a form post on its
    # parsed fields (a name given twice keeps its last value)
    legacy = _sdk2_urls(url)
    try:
        document = json.loads(text)
    except ValueError:
        fields: list[tuple[str, str]] | None = sorted(dict(form).items())
    else:
        accepted |= {json_signature(signing_key, candidate, text.encode()) for candidate in legacy}
        fields = _json_fields(document, url)
    if fields is not None:
        accepted |= {form_signature(signing_key, candidate, fields) for candidate in legacy}
    return accepted


def verify_signature(
    signing_key: str, signature: str | None, url: str, raw_body: bytes, *, sha256_signature: str | None = None
) -> bool:
    """True when ``signature`` (``X-SignalWire-Signature``) or ``sha256_signature``
    (``X-SignalWire-Sha256-Signature``) is one an official validator accepts for ``raw_body``
    posted to ``url``."""
    if not signing_key:
        return False
    if sha256_signature and hmac.compare_digest(
        sha256_signature.encode(), json_signature(signing_key, url, raw_body, hashlib.sha256).encode()
    ):
        return True
    if not signature:
        return False
    given = signature.encode()
    return any(
        hmac.compare_digest(given, value.encode())
        for value in accepted_signatures(signing_key, url, raw_body)
    )


def parse_callback(fields: Mapping[str, Any]) -> StatusEvent | InboundMessage:
    """A status callback or inbound-SMS webhook, from its form or JSON fields: the Compatibility
    API's (``MessageSid``, ``MessageStatus``) or the native Messaging API's JSON (``id``, ``status``)."""
    if not isinstance(fields, Mapping):
        raise MalformedPayload("expected an object of fields")
    if "MessageSid" not in fields and "SmsSid" not in fields and "id" in fields:
        return _native_status(fields)
    # form fields are text; a JSON body's null is no value (never the text "None"), and an object
    # or a list where text belongs is no value either
    text = {key: text_or_none(value) or None for key, value in fields.items()}
    sid = text.get("MessageSid") or text.get("SmsSid")
    status = text.get("MessageStatus") or text.get("SmsStatus")
    if not sid or not status:
        raise MalformedPayload("expected MessageSid and MessageStatus fields")
    now = time.time()
    if status.lower() in ("received", "receiving") or text.get("Direction") == "inbound":
        return InboundMessage(
            service="signalwire",
            message_id=sid,
            sender=text.get("From") or "",
            recipient=text.get("To"),
            kind="mms" if int(number_or(text.get("NumMedia"), 0)) else "sms",
            text=text.get("Body"),
            timestamp=now,
            payload=dict(fields),
        )
    code = text.get("ErrorCode")
    return StatusEvent(
        service="signalwire",
        message_id=sid,
        state=state_of(status),
        raw_status=status,
        timestamp=now,
        recipient=text.get("To"),
        error_code=code,
        error_title=SIGNALWIRE_ERRORS.meaning(code),
        error_details=text.get("ErrorMessage"),
        payload=dict(fields),
        same_event_key="callback",
    )


def _native_status(fields: Mapping[str, Any]) -> StatusEvent:
    """The native Messaging API's status callback: ``id``, ``status``, ``to``, ``timestamp``,
    ``error_code``, ``error_message`` and the sender's ``custom_variables``."""
    sid, status = fields.get("id"), fields.get("status")
    if not isinstance(sid, str) or not sid or not isinstance(status, str) or not status:
        raise MalformedPayload("expected id and status fields")
    code = text_or_none(fields.get("error_code")) or None
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
    return text_or_none(value)
