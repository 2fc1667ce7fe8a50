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
