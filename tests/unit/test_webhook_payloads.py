from __future__ import annotations

import json

import pytest

from airflow_provider_messaging.core.events import InboundMessage, MalformedPayload, StatusEvent
from airflow_provider_messaging.core.states import MessageState
from airflow_provider_messaging.signalwire.webhooks import parse_callback as parse_signalwire_callback
from airflow_provider_messaging.whatsapp.webhooks import parse_webhook as parse_whatsapp_webhook
from airflow_provider_messaging.whatsapp.webhooks import read_webhook as read_whatsapp_webhook
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


@pytest.mark.parametrize("body", [{}, {"entry": "x"}, [], "text"])
def test_bodies_that_are_no_webhook_are_refused(body):
    with pytest.raises(MalformedPayload):
        parse_whatsapp_webhook(body)


GOOD = {"id": "wamid.GOOD", "status": "delivered", "timestamp": "1754038501", "recipient_id": "49151"}


@pytest.mark.parametrize(
    ("odd", "reason"),
    [
        ({"status": "sent"}, "without an 'id'"),
        ({"id": {"x": 1}, "status": "sent"}, "without an 'id'"),
        ({"id": "wamid.S", "status": ["sent"]}, "no 'status' text"),
        ("not an object", "not an object"),
    ],
)
def test_an_unreadable_status_is_skipped_and_the_others_kept(odd, reason):
    found = read_whatsapp_webhook(envelope(value(statuses=[odd, GOOD])))
    assert [s.message_id for s in found.statuses] == ["wamid.GOOD"]
    assert len(found.skipped) == 1 and reason in found.skipped[0]


@pytest.mark.parametrize(
    ("field", "odd"),
    [
        ("errors", {"code": 131026, "title": "Message undeliverable"}),  # an object, not a list
        ("errors", "broken"),
        ("recipient_id", {"phone": "49151"}),
        ("timestamp", "nan"),
        ("timestamp", "inf"),
        ("timestamp", ["1754038501"]),
        ("biz_opaque_callback_data", {"dag": "x"}),
    ],
)
def test_an_odd_field_costs_the_status_nothing_but_that_field(field, odd):
    found = read_whatsapp_webhook(envelope(value(statuses=[{**GOOD, "status": "failed", field: odd}])))
    (status,) = found.statuses
    assert found.skipped == [] and status.state is MessageState.FAILED
    assert all(isinstance(v, str | None) for v in (status.recipient, status.error_code, status.correlation))
    assert status.timestamp == status.timestamp and abs(status.timestamp) != float("inf")  # finite
    if field == "errors" and isinstance(odd, dict):
        assert status.error_code == "131026"


def test_a_status_without_a_readable_timestamp_is_still_recognised_when_delivered_again():
    body = envelope(value(statuses=[{**GOOD, "timestamp": "nan"}]))
    first, again = read_whatsapp_webhook(body).statuses, read_whatsapp_webhook(body).statuses
    assert first[0].fingerprint == again[0].fingerprint


def test_odd_inbound_fields_are_left_out_and_the_message_kept():
    msgs = [
        {"from": "49151", "id": "wamid.IMG", "timestamp": "1754039000", "type": "image",
         "image": {"id": "m1", "caption": ["a", "list"]}},
        {"from": {"x": 1}, "from_user_id": "US.1", "id": "wamid.TXT", "timestamp": "x", "type": "text", "text": "flat"},
        {"from": "49151", "timestamp": "1754039000", "type": "text", "text": {"body": "no id"}},
    ]  # fmt: skip
    found = read_whatsapp_webhook(envelope(value(messages=msgs)))
    assert [(m.message_id, m.text, m.sender) for m in found.inbound] == [
        ("wamid.IMG", None, "49151"), ("wamid.TXT", None, "US.1")
    ]  # fmt: skip
    assert len(found.skipped) == 1 and "without an 'id'" in found.skipped[0]


def test_unreadable_entries_and_changes_are_skipped_and_the_rest_read():
    body = envelope(value(statuses=[GOOD]))
    body["entry"] += ["x", {"changes": "x"}, {"changes": ["x", {"field": "messages", "value": [1]}]}]
    body["entry"][0]["changes"].append({"field": "messages", "value": {"statuses": {"id": "x"}}})
    found = read_whatsapp_webhook(body)
    assert [s.message_id for s in found.statuses] == ["wamid.GOOD"] and len(found.skipped) == 5


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


def test_a_signalwire_json_callback_with_nulls_stores_no_value_not_the_text_none():
    status = parse_signalwire_callback({"MessageSid": "s1", "MessageStatus": "delivered", "ErrorCode": None,
                                        "ErrorMessage": None, "To": None, "From": "+15551230001"})  # fmt: skip
    assert (status.error_code, status.error_details, status.recipient) == (None, None, None)
    native = parse_signalwire_callback(
        {"id": "n1", "status": "delivered", "error_code": None, "to": {"x": 1}}
    )
    assert (native.error_code, native.recipient) == (None, None)


@pytest.mark.parametrize("header", ["sha256=ä" + "0" * 63, "sha256=\u00ff\u00fe", "\u00e9"])
def test_a_non_ascii_whatsapp_signature_is_simply_wrong(header):
    assert verify_whatsapp_signature("secret", header, b"{}") is False
