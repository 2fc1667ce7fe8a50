"""A store failure says what failed, never the data: no phone number, no message text.

SQLAlchemy's error text carries the statement's parameters and PostgreSQL's a ``DETAIL`` line with
the failing row; both reach the api-server's log when the receiver cannot write.
"""

from __future__ import annotations

import json
import logging
import time
import traceback

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from airflow_provider_messaging.core.events import InboundMessage, StatusEvent
from airflow_provider_messaging.core.states import MessageState
from airflow_provider_messaging.webhooks.receiver import create_webhook_app
from airflow_provider_messaging.whatsapp.webhooks import signature
from tests.webhook_credentials import resolver, whatsapp

pytestmark = pytest.mark.integration
PHONE = "+15557654321"
BUSINESS = "+15551230001"
WORDS = "my door code is 4711"


def inbound(sender: str | None = PHONE) -> InboundMessage:
    return InboundMessage(service="whatsapp", message_id="wamid.STORE-ERR", sender=sender,  # type: ignore[arg-type]
                          recipient=BUSINESS, kind="text", text=WORDS, timestamp=time.time())  # fmt: skip


def shown(error: BaseException) -> str:
    """The error as a log shows it: its text and every exception chained to it."""
    return "".join(traceback.format_exception(error))


def drop(store, table: str) -> None:
    store.ensure_schema()
    with store.engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {table}"))


def test_a_failed_insert_names_the_table_and_the_database_error_but_no_value(store):
    drop(store, "messaging_inbound_messages")
    with pytest.raises(DBAPIError) as failed:
        store.record_inbound(inbound())
    text_ = shown(failed.value)
    assert PHONE not in text_ and BUSINESS not in text_ and WORDS not in text_
    assert "Status store: INSERT INTO messaging_inbound_messages failed" in str(failed.value)
    assert "messaging_inbound_messages" in str(failed.value.orig)  # the database's own reason is kept


def refuse_inbound_messages(store) -> None:
    """Make the database refuse the inbound row: PostgreSQL by a check (its error then quotes the
    failing row in a DETAIL line), SQLite by a trigger."""
    store.ensure_schema()
    with store.engine.begin() as conn:
        if store.engine.dialect.name == "postgresql":
            conn.execute(
                text("ALTER TABLE messaging_inbound_messages ADD CONSTRAINT refuse_it CHECK (sender = '')")
            )
        else:
            conn.execute(text("CREATE TRIGGER refuse_it BEFORE INSERT ON messaging_inbound_messages "
                              "BEGIN SELECT RAISE(ABORT, 'refused'); END"))  # fmt: skip


def test_a_row_the_database_refuses_is_skipped_and_not_quoted_back(store, capfd, caplog):
    refuse_inbound_messages(store)
    caplog.set_level(logging.WARNING)
    result = store.write([], [inbound()])
    [(kind, message_id, reason)] = result.skipped
    assert (kind, message_id) == ("inbound message", "wamid.STORE-ERR")
    assert "the database refused it" in reason
    logged = capfd.readouterr().out + caplog.text + reason
    assert "wamid.STORE-ERR" in logged  # which event, so it can be found
    assert PHONE not in logged and BUSINESS not in logged and WORDS not in logged


def test_a_failed_status_write_names_no_recipient(store):
    drop(store, "messaging_message_status")  # the event is kept, the state row fails
    event = StatusEvent("whatsapp", "wamid.X", MessageState.FAILED, "failed", time.time(), recipient=PHONE,
                        error_details=WORDS)  # fmt: skip
    with pytest.raises(DBAPIError) as failed:
        store.record_statuses([event])
    assert PHONE not in shown(failed.value) and WORDS not in shown(failed.value)
    assert "INSERT INTO messaging_message_status failed" in str(failed.value)


def test_the_receiver_logs_what_failed_and_not_the_message(store, caplog):
    drop(store, "messaging_inbound_messages")
    app = create_webhook_app(store=store, credentials=resolver({"wa": whatsapp("app-secret-1")}))
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{
        "field": "messages", "value": {"metadata": {"phone_number_id": "1065"}, "messages": [{
            "from": PHONE.lstrip("+"), "id": "wamid.IN", "timestamp": str(int(time.time())), "type": "text",
            "text": {"body": WORDS}}]}}]}]}).encode()  # fmt: skip
    with caplog.at_level(logging.INFO):
        answer = TestClient(app).post("/whatsapp/wa", content=body, headers={
            "X-Hub-Signature-256": signature("app-secret-1", body), "Content-Type": "application/json"})  # fmt: skip
    assert answer.status_code == 503
    assert PHONE.lstrip("+") not in caplog.text and WORDS not in caplog.text
    assert "INSERT INTO messaging_inbound_messages failed" in caplog.text


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        (
            "INSERT INTO messaging_inbound_messages (service) VALUES (?)",
            "INSERT INTO messaging_inbound_messages",
        ),
        (
            'SELECT a, b\nFROM "messaging_message_status" WHERE a = %(a)s',
            "SELECT FROM messaging_message_status",
        ),
        ("UPDATE messaging_send_ledger SET state=?", "UPDATE messaging_send_ledger"),
        (None, "connecting to the database"),
    ],
)
def test_the_operation_is_named_from_the_statement_alone(statement, named):
    from airflow_provider_messaging.store.errors import operation

    assert operation(statement) == named
