from __future__ import annotations

import json

import pytest

from airflow_provider_messaging.core.events import InboundMessage, MalformedPayload, StatusEvent
from airflow_provider_messaging.core.states import MessageState
from airflow_provider_messaging.signalwire.webhooks import parse_callback as parse_signalwire_callback
from airflow_provider_messaging.whatsapp.webhooks import parse_webhook as parse_whatsapp_webhook
from airflow_provider_messaging.whatsapp.webhooks import signature as whatsapp_signature
from airflow_provider_messaging.whatsapp.webhooks import verify_signature as verify_whatsapp_signature


def envelope(*values):
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": v} for v in values]}]}  # fmt: skip


def value(statuses=(), messages=()):
    return {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550001111", "phone_number_id": "1065"},
            "statuses": list(statuses), "messages": list(messages)}  # fmt: skip


def test_every_status_in_every_change_is_read():
    body = envelope(
        value(statuses=[{"id": "wamid.A", "status": "delivered", "timestamp": "1754038501", "recipient_id": "49151",
                         "biz_opaque_callback_data": "dag=x"}]),
        value(statuses=[{"id": "wamid.B", "status": "failed", "timestamp": "1754038502", "recipient_id": "49152",
                         "errors": [{"code": 131026, "title": "Message undeliverable",
                                     "error_data": {"details": "Message Undeliverable."}}]}]),
    )  # fmt: skip
    statuses, inbound = parse_whatsapp_webhook(body)
    assert inbound == []
    a, b = statuses
    assert (a.state, a.timestamp, a.correlation, a.recipient) == (
        MessageState.DELIVERED,
        1754038501.0,
        "dag=x",
        "49151",
    )
    assert (b.state, b.error_code, b.error_details) == (
        MessageState.FAILED,
        "131026",
        "Message Undeliverable.",
    )
    assert "undeliverable" in (b.error_title or "")


def test_inbound_text_button_and_interactive_replies():
    msgs = [
        {"from": "49151", "id": "wamid.IN1", "timestamp": "1754039000", "type": "text", "text": {"body": "YES"}},
        {"from": "49151", "id": "wamid.IN2", "timestamp": "1754039010", "type": "button",
         "context": {"from": "1555", "id": "wamid.T"}, "button": {"payload": "ack:1", "text": "Got it"}},
        {"from": "49151", "id": "wamid.IN3", "timestamp": "1754039020", "type": "interactive",
         "interactive": {"type": "button_reply", "button_reply": {"id": "approve:42", "title": "Approve"}}},
    ]  # fmt: skip
    _, inbound = parse_whatsapp_webhook(envelope(value(messages=msgs)))
    assert [(m.kind, m.text, m.context_id) for m in inbound] == [
        ("text", "YES", None), ("button", "Got it", "wamid.T"), ("interactive", "Approve", None)
    ]  # fmt: skip
    assert inbound[0].recipient == "1065"


@pytest.mark.parametrize("body", [{}, {"entry": "x"}, envelope(value(statuses=[{"status": "sent"}]))])
def test_malformed_bodies_are_refused(body):
    with pytest.raises(MalformedPayload):
        parse_whatsapp_webhook(body)


def test_other_fields_are_ignored():
    body = {
        "entry": [{"changes": [{"field": "message_template_status_update", "value": {"event": "APPROVED"}}]}]
    }
    assert parse_whatsapp_webhook(body) == ([], [])


def test_signalwire_status_and_inbound_callbacks():
    status = parse_signalwire_callback({"MessageSid": "s1", "MessageStatus": "undelivered", "ErrorCode": "30003",
                                        "To": "+15550001002", "From": "+15551230001"})  # fmt: skip
    assert isinstance(status, StatusEvent)
    assert (status.state, status.error_code) == (MessageState.UNDELIVERED, "30003")
    assert "unreachable" in (status.error_title or "")
    again = parse_signalwire_callback(
        {"MessageSid": "s1", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    )
    assert again.fingerprint == status.fingerprint  # a redelivered callback is the same event
    inbound = parse_signalwire_callback(
        {"MessageSid": "s2", "SmsStatus": "received", "From": "+1555", "Body": "YES"}
    )
    assert isinstance(inbound, InboundMessage) and inbound.text == "YES"
    with pytest.raises(MalformedPayload):
        parse_signalwire_callback({"Body": "x"})


def test_whatsapp_signature_over_raw_bytes_and_over_escaped_unicode():
    body = json.dumps({"text": "Grüße"}, ensure_ascii=False).encode()
    assert verify_whatsapp_signature("secret", whatsapp_signature("secret", body), body)
    escaped = json.dumps({"text": "Grüße"}).encode()  # \u00fc form, as Meta documents signing
    assert verify_whatsapp_signature("secret", whatsapp_signature("secret", escaped), body)
    assert not verify_whatsapp_signature("other", whatsapp_signature("secret", body), body)
    assert not verify_whatsapp_signature("secret", None, body)
