"""Webhook signatures: one implementation used by the sandbox (signing) and the receivers (checking).

SignalWire signs Compatibility (form) callbacks the Twilio way:
``base64(HMAC-SHA1(signing_key, url + concat(sorted key+value)))``; JSON webhooks as
``hex(HMAC-SHA1(signing_key, url + raw_body))``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit, urlunsplit


def signalwire_form_signature(signing_key: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The ``X-SignalWire-Signature`` value for a form-encoded callback to ``url``."""
    ordered = sorted(params, key=lambda kv: kv[0])  # stable: repeated keys keep their order
    payload = url + "".join(key + (value or "") for key, value in ordered)
    digest = hmac.new(signing_key.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signalwire_json_signature(signing_key: str, url: str, raw_body: bytes) -> str:
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


def verify_signalwire_signature(signing_key: str, signature: str | None, url: str, raw_body: bytes) -> bool:
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
            signalwire_json_signature(signing_key, candidate, raw_body),
            signalwire_form_signature(signing_key, candidate, params),
            signalwire_form_signature(signing_key, candidate, []),
        )
        if any(hmac.compare_digest(signature, value) for value in expected):
            return True
    return False


def whatsapp_signature(app_secret: str, raw_body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


def _escape_non_ascii(raw_body: bytes) -> bytes:
    """Meta's documented form: every non-ASCII character as a lowercase ``\\uXXXX`` (UTF-16 units)."""
    text = raw_body.decode("utf-8")
    out = []
    for ch in text:
        if ord(ch) < 128:
            out.append(ch)
        else:
            encoded = ch.encode("utf-16-be")
            out.extend(
                f"\\u{int.from_bytes(encoded[i : i + 2], 'big'):04x}" for i in range(0, len(encoded), 2)
            )
    return "".join(out).encode()


def verify_whatsapp_signature(app_secret: str, header: str | None, raw_body: bytes) -> bool:
    """Check ``X-Hub-Signature-256`` over the raw bytes, then over the escaped-unicode form."""
    if not header or not app_secret:
        return False
    if hmac.compare_digest(header, whatsapp_signature(app_secret, raw_body)):
        return True
    try:
        escaped = _escape_non_ascii(raw_body)
    except UnicodeDecodeError:
        return False
    return escaped != raw_body and hmac.compare_digest(header, whatsapp_signature(app_secret, escaped))
