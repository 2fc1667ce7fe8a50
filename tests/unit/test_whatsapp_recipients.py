"""WhatsApp users by phone number or business-scoped user id: checked, sent, read back from webhooks."""

from __future__ import annotations

import pytest

from airflow_provider_messaging.core.errors import ValidationError
from airflow_provider_messaging.core.events import InboundMessage
from airflow_provider_messaging.core.inbound import InboundFilter
from airflow_provider_messaging.core.phone import normalize_e164
from airflow_provider_messaging.core.states import MessageState
from airflow_provider_messaging.store.store import MessageStore
from airflow_provider_messaging.whatsapp.messages import Text, build_send_payload
from airflow_provider_messaging.whatsapp.recipients import whatsapp_recipient, whatsapp_recipients
from airflow_provider_messaging.whatsapp.webhooks import parse_webhook

USER = "US.13491208655302741918"
PARENT = "US.ENT.11815799212886844830"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("+4915112345", "not a valid number in the numbering plan of country code +49"),  # digits missing
        ("+1555CALLNOW", "holds 'A', 'C', 'L', 'N', 'O', 'W'"),  # not translated into +15552255669
        ("+44 7700 900123", "not a valid number"),  # Ofcom's drama range is no test range by default
    ],
)
def test_numbers_outside_the_numbering_plan_and_letters_are_refused(value, problem):
    with pytest.raises(ValidationError) as err:
        normalize_e164(value, "to")
    assert err.value.field == "to" and problem in str(err.value)


def test_test_ranges_are_the_documented_escape(monkeypatch):
    assert normalize_e164("+1 555 000 1001") == "+15550001001"  # default test range +1555
    monkeypatch.setenv("AIRFLOW__MESSAGING__TEST_NUMBER_PREFIXES", "+447700900")
    assert normalize_e164("+447700900123") == "+447700900123"
    with pytest.raises(ValidationError, match="AIRFLOW__MESSAGING__TEST_NUMBER_PREFIXES"):
        normalize_e164("+15550001001")
    assert normalize_e164("+4915112345678") == "+4915112345678"  # a valid number needs no escape


def test_user_ids_and_phone_numbers_are_both_recipients():
    assert whatsapp_recipients([USER, "+49 151 12345678", PARENT, USER]) == [USER, "+4915112345678", PARENT]


@pytest.mark.parametrize("value", ["us.13491208655302741918", "US.1349-1208", "US.", "USA.123", "US.ENT."])
def test_a_malformed_user_id_is_refused_with_its_format(value):
    with pytest.raises(ValidationError) as err:
        whatsapp_recipients(["+4915112345678", value])
    text = str(err.value)
    assert "to[1]" in text and "two-letter country code" in text


def test_a_user_id_is_sent_as_recipient_and_a_number_as_to():
    by_id = build_send_payload(USER, Text("hi"))
    assert by_id["recipient"] == USER and "to" not in by_id
    assert build_send_payload(PARENT, Text("hi"))["recipient"] == PARENT
    by_number = build_send_payload("+4915112345678", Text("hi"))
    assert by_number["to"] == "4915112345678" and "recipient" not in by_number


def envelope(value):
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}]}  # fmt: skip


METADATA = {"display_phone_number": "15550001111", "phone_number_id": "1065"}


def test_a_status_to_a_user_id_has_no_recipient_id_and_is_kept_by_user_id():
    body = envelope({"messaging_product": "whatsapp", "metadata": METADATA,
                     "contacts": [{"profile": {"name": "Maria", "username": "maria.k"}, "user_id": USER}],
                     "statuses": [{"id": "wamid.U", "status": "read", "timestamp": "1754038501",
                                   "recipient_user_id": USER,
                                   "pricing": {"pricing_model": "PMP", "type": "regular", "category": "utility"}}]})  # fmt: skip
    (status,), _ = parse_webhook(body)
    assert (status.recipient, status.state) == (USER, MessageState.READ)


@pytest.mark.parametrize(
    "status",
    [
        # before 2026: no contacts, the number only
        {"id": "wamid.P", "status": "delivered", "timestamp": "1754038501", "recipient_id": "4915112345678"},
        # the current shape: the number and the user id, contacts beside
        {"id": "wamid.P", "status": "delivered", "timestamp": "1754038501", "recipient_id": "4915112345678",
         "recipient_user_id": "DE.1234567890123456789"},
    ],
)  # fmt: skip
def test_older_and_current_status_shapes_both_read_as_the_phone_number(status):
    contacts = {"contacts": [{"wa_id": "4915112345678", "user_id": "DE.1234567890123456789"}]}
    value = {"messaging_product": "whatsapp", "metadata": METADATA, "statuses": [status]}
    value.update(contacts if "recipient_user_id" in status else {})
    (parsed,), _ = parse_webhook(envelope(value))
    assert (parsed.recipient, parsed.state) == ("4915112345678", MessageState.DELIVERED)


def test_each_participants_receipt_of_a_group_message_is_its_own_event():
    statuses = [{"id": "wamid.G", "status": "read", "timestamp": "1754038501", "recipient_id": "GROUPID123",
                 "recipient_type": "group", "recipient_participant_id": participant}
                for participant in ("4915112345678", "4915112345679")]  # fmt: skip
    parsed, _ = parse_webhook(
        envelope({"messaging_product": "whatsapp", "metadata": METADATA, "statuses": statuses})
    )
    assert [s.recipient for s in parsed] == ["GROUPID123", "GROUPID123"]
    assert parsed[0].fingerprint != parsed[1].fingerprint


def inbound(message, contacts):
    _, (parsed,) = parse_webhook(envelope({"messaging_product": "whatsapp", "metadata": METADATA,
                                           "contacts": contacts, "messages": [message]}))  # fmt: skip
    return parsed


def test_a_message_from_a_username_user_is_known_by_user_id_with_the_username():
    message = {"from_user_id": USER, "id": "wamid.IN", "timestamp": "1754039000", "type": "text",
               "text": {"body": "YES"}}  # fmt: skip
    found = inbound(message, [{"profile": {"name": "Maria", "username": "maria.k"}, "user_id": USER}])
    assert found.sender == USER
    assert found.as_dict() | {"timestamp": 0} == {
        "service": "whatsapp", "id": "wamid.IN", "from": USER, "to": "1065", "type": "text", "text": "YES",
        "timestamp": 0, "context_id": None, "user_id": USER, "username": "maria.k", "name": "Maria",
    }  # fmt: skip


def test_a_file_carries_its_media_id_and_type():
    message = {"from": "4915112345678", "from_user_id": "DE.1", "id": "wamid.F", "timestamp": "1754039000",
               "type": "document", "document": {"caption": "scan", "filename": "scan.pdf",
                                                "mime_type": "application/pdf", "sha256": "abc", "id": "777"}}  # fmt: skip
    found = inbound(message, [{"profile": {"name": "Max"}, "wa_id": "4915112345678", "user_id": "DE.1"}])
    assert found.details["media"] == {"id": "777", "mime_type": "application/pdf", "sha256": "abc",
                                      "filename": "scan.pdf", "caption": "scan"}  # fmt: skip
    assert found.text == "scan" and found.sender == "4915112345678"


def test_a_user_id_change_is_read_and_is_no_reply():
    message = {"from_user_id": USER, "id": "wamid.S", "timestamp": "1754039000", "type": "system",
               "system": {"body": "User changed", "user_id": "US.999", "type": "user_changed_user_id"}}  # fmt: skip
    found = inbound(message, [])
    assert found.details["system"] == {"type": "user_changed_user_id", "user_id": "US.999"}
    assert not InboundFilter().matches(found)


def test_a_reply_filter_takes_user_ids_and_matches_a_message_that_also_shows_the_number():
    message_filter = InboundFilter.of([USER], "^yes$", whatsapp_recipient)
    assert message_filter.store_senders() == []  # the store may keep the message under the number
    both = InboundMessage(
        "whatsapp", "w1", "4915112345678", None, "text", "yes", 1.0, details={"user_id": USER}
    )
    other = InboundMessage("whatsapp", "w2", "4915112345678", None, "text", "yes", 1.0)
    assert message_filter.matches(both) and not message_filter.matches(other)
    by_number = InboundFilter.of(["+4915112345678"], None, whatsapp_recipient)
    assert by_number.matches(other) and by_number.store_senders() == ["+4915112345678", "4915112345678"]


def test_the_store_keeps_what_was_read_out_of_a_message(tmp_path):
    store = MessageStore(f"sqlite:///{tmp_path / 'store.db'}")
    message = InboundMessage("whatsapp", "w1", USER, "1065", "image", None, 1.0, payload={"type": "image"},
                             details={"user_id": USER, "media": {"id": "9", "mime_type": "image/png"}})  # fmt: skip
    store.record_inbound(message)
    (found,) = store.inbound_since("whatsapp", since=0)
    assert found.details == message.details and found.as_dict()["media"]["id"] == "9"
    store.dispose()
