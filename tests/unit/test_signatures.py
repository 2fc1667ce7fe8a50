"""Known vectors from the Twilio/SignalWire SDK test suites (see reference signalwire.md §2.8)."""

from __future__ import annotations

from urllib.parse import urlencode

from airflow_provider_messaging.signalwire.webhooks import (
    form_signature as signalwire_form_signature,
)
from airflow_provider_messaging.signalwire.webhooks import (
    json_signature as signalwire_json_signature,
)
from airflow_provider_messaging.signalwire.webhooks import (
    verify_signature as verify_signalwire_signature,
)

TWILIO_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+14158675309"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
]
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"


def test_form_signature_matches_the_published_vector():
    assert signalwire_form_signature("12345", TWILIO_URL, TWILIO_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_verify_accepts_the_form_vector_and_rejects_a_forgery():
    body = urlencode(TWILIO_PARAMS).encode()
    assert verify_signalwire_signature("12345", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", TWILIO_URL, body)
    assert not verify_signalwire_signature(
        "12345", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", TWILIO_URL, body + b"&x=1"
    )
    assert not verify_signalwire_signature("wrong", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", TWILIO_URL, body)
    assert not verify_signalwire_signature("12345", None, TWILIO_URL, body)


def test_verify_tolerates_the_default_port_being_added_or_dropped():
    body = urlencode(TWILIO_PARAMS).encode()
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert verify_signalwire_signature("12345", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", with_port, body)
    signed_with_port = signalwire_form_signature("k", with_port, TWILIO_PARAMS)
    assert verify_signalwire_signature("k", signed_with_port, TWILIO_URL, body)


def test_json_signature_is_hex_hmac_of_url_and_body():
    body = b'{"a":1}'
    sig = signalwire_json_signature("key", "https://example.com/hook", body)
    assert len(sig) == 40 and int(sig, 16) >= 0
    assert verify_signalwire_signature("key", sig, "https://example.com/hook", body)


def test_a_json_body_signed_over_its_fields_is_accepted_as_the_2x_validator_does():
    url, body = "https://example.com/hook", b'{"MessageSid": "SM1", "MessageStatus": "delivered"}'
    fields = [("MessageSid", "SM1"), ("MessageStatus", "delivered")]
    assert verify_signalwire_signature("k", signalwire_form_signature("k", url, fields), url, body)
    # not when a value is not text: Twilio's validator fails on it
    number = b'{"MessageSid": "SM1", "NumSegments": 1}'
    assert not verify_signalwire_signature(
        "k", signalwire_form_signature("k", url, [("MessageSid", "SM1"), ("NumSegments", "1")]), url, number
    )


def test_the_json_scheme_takes_port_variants_only_for_json_bodies():
    url = "http://127.0.0.1:8788/signalwire/sw"
    stripped = "http://127.0.0.1/signalwire/sw"
    json_body, form_body = b'{"id": "1"}', urlencode(TWILIO_PARAMS).encode()
    assert verify_signalwire_signature(
        "k", signalwire_json_signature("k", stripped, json_body), url, json_body
    )
    assert not verify_signalwire_signature(
        "k", signalwire_json_signature("k", stripped, form_body), url, form_body
    )
    assert verify_signalwire_signature("k", signalwire_json_signature("k", url, form_body), url, form_body)


def test_the_sha256_header_is_checked_over_url_and_body():
    import hashlib

    url, body = "https://example.com/hook", b'{"id": "1", "status": "sent"}'
    good = signalwire_json_signature("k", url, body, hashlib.sha256)
    assert verify_signalwire_signature("k", None, url, body, sha256_signature=good)
    assert verify_signalwire_signature("k", "forged", url, body, sha256_signature=good)
    assert not verify_signalwire_signature("k", None, url, body + b" ", sha256_signature=good)


def test_a_body_hash_in_the_url_must_match_for_the_form_scheme():
    import hashlib

    body = b'{"id": "1"}'
    url = f"https://example.com/cb?bodySHA256={hashlib.sha256(body).hexdigest()}"
    assert verify_signalwire_signature("k", signalwire_form_signature("k", url, []), url, body)
    wrong = f"https://example.com/cb?bodySHA256={'0' * 64}"
    assert not verify_signalwire_signature("k", signalwire_form_signature("k", wrong, []), wrong, body)
