"""How the services sign the webhooks they POST, as their documentation describes it.

SignalWire signs a form-encoded (Compatibility) callback the way Twilio does: an HMAC-SHA1 keyed
with the project's Signing Key over the full URL it calls followed by every parameter's name and
value, parameters ordered by name (a repeated name keeps its order); the header
``X-SignalWire-Signature`` (and its legacy alias ``X-Twilio-Signature``) carries the digest in base64.
A JSON webhook (Relay, SWML, the native Messaging API's status callback) is signed over the URL
followed by the raw body: the lowercase hex HMAC-SHA1 in ``X-SignalWire-Signature``, and the same
message under HMAC-SHA256 in ``X-SignalWire-Sha256-Signature``.

Meta signs every webhook with ``X-Hub-Signature-256``: ``sha256=`` and the lowercase hex HMAC-SHA256,
keyed with the app secret, of the raw body. Meta computes it over the body with non-ASCII characters
written as ``\\uXXXX`` escapes; the sandbox's bodies are ASCII-only JSON, where both readings agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from operator import itemgetter


def signalwire_signature(signing_key: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The ``X-SignalWire-Signature`` value for form ``params`` POSTed to ``url``."""
    mac = hmac.new(signing_key.encode("utf-8"), url.encode("utf-8"), hashlib.sha1)
    for name, value in sorted(params, key=itemgetter(0)):  # sorted() is stable
        mac.update(f"{name}{value}".encode())
    return base64.b64encode(mac.digest()).decode("ascii")


def signalwire_json_signatures(signing_key: str, url: str, raw_body: bytes) -> dict[str, str]:
    """The signature headers of a JSON webhook POSTed to ``url``."""
    message = url.encode("utf-8") + raw_body
    key = signing_key.encode("utf-8")
    return {
        "X-SignalWire-Signature": hmac.new(key, message, hashlib.sha1).hexdigest(),
        "X-SignalWire-Sha256-Signature": hmac.new(key, message, hashlib.sha256).hexdigest(),
    }


def meta_signature(app_secret: str, raw_body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value for ``raw_body``."""
    digest = hmac.new(app_secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"
