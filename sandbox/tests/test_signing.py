"""Webhook signatures match the services' documented schemes and their published test vectors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from messaging_sandbox.signing import meta_signature, signalwire_signature

TWILIO_VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
# Real SignalWire compatibility callbacks, as recorded in signalwire-python's request-validator tests.
SIGNALWIRE_HTTPS_PARAMS = {
    "CallSid": "a97d4e8a-6047-4e2b-be48-fb96b33b5642",
    "AccountSid": "6bfbbe86-a901-4197-8759-2a0de1fa319d",
    "ApiVersion": "2010-04-01",
    "Direction": "outbound-api",
    "From": "sip:+17063958228@sip.swire.io",
    "To": "sip:jpsantos@joaosantos-2a0de1fa319d.sip.swire.io",
    "Timestamp": "Thu, 09 Nov 2023 14:40:55 +0000",
    "CallStatus": "no-answer",
    "CallbackSource": "call-progress-events",
    "HangupDirection": "outbound",
    "HangupBy": "sip:+17063958228@sip.swire.io",
    "SipResultCode": "487",
}
SIGNALWIRE_HTTP_PARAMS = {
    "AccountSid": "6bfbbe86-a901-4197-8759-2a0de1fa319d",
    "ApiVersion": "2010-04-01",
    "CallbackSource": "call-progress-events",
    "CallSid": "0703574f-b151-465d-aedb-28972eb513c7",
    "CallStatus": "busy",
    "Direction": "outbound-api",
    "From": "sip:+17063958228@sip.swire.io",
    "HangupBy": "sip:jpsantos@joaosantos-2a0de1fa319d.sip.swire.io",
    "HangupDirection": "inbound",
    "Timestamp": "Thu, 09 Nov 2023 17:05:04 +0000",
    "To": "sip:jpsantos@joaosantos-2a0de1fa319d.sip.swire.io",
    "SipResultCode": "486",
}


@pytest.mark.parametrize(
    ("key", "url", "params", "expected"),
    [
        ("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", TWILIO_VECTOR_PARAMS,
         "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("PSK_V3bF8oyeRNpJWGoRWHNYQMUU", "https://675d-189-71-169-171.ngrok-free.app/voice",
         SIGNALWIRE_HTTPS_PARAMS, "muUMpldcBHlzuXGZ5gbw1ETZCYA="),
        ("PSK_V3bF8oyeRNpJWGoRWHNYQMUU", "http://0aac-189-71-169-171.ngrok-free.app/voice",
         SIGNALWIRE_HTTP_PARAMS, "lf3nWPmUr2y6jSeeoMW4mg58vgI="),
    ],
    ids=["twilio-vector", "signalwire-https", "signalwire-http"],
)  # fmt: skip
def test_signalwire_form_signature_matches_the_published_vectors(key, url, params, expected):
    assert signalwire_signature(key, url, params.items()) == expected
    assert signalwire_signature(key, url, reversed(list(params.items()))) == expected


def test_signalwire_signature_keeps_repeated_names_in_submission_order():
    url = "https://hooks.example.com/sw/status"
    first = signalwire_signature("k", url, [("To", "+1"), ("MediaUrl", "b"), ("MediaUrl", "a")])
    digest = hmac.new(b"k", f"{url}MediaUrlbMediaUrlaTo+1".encode(), hashlib.sha1).digest()
    assert first == base64.b64encode(digest).decode()
    assert first != signalwire_signature("k", url, [("MediaUrl", "a"), ("MediaUrl", "b"), ("To", "+1")])


def test_signalwire_signature_covers_the_query_string_and_the_key():
    params = [("MessageSid", "m1"), ("MessageStatus", "sent")]
    base = signalwire_signature("k", "https://h.example.com/s?dag=x", params)
    assert base != signalwire_signature("k", "https://h.example.com/s?dag=y", params)
    assert base != signalwire_signature("other", "https://h.example.com/s?dag=x", params)


def test_meta_signature_is_sha256_hex_hmac_of_the_raw_body():
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    expected = hmac.new(b"app-secret", body, hashlib.sha256).hexdigest()
    assert meta_signature("app-secret", body) == f"sha256={expected}"
    assert meta_signature("app-secret", body + b" ") != f"sha256={expected}"
