"""The native Messaging API and the message logs against the sandbox: sending, gating after the
fact (Relay and native messages, from the logs), finding a lost answer again, JSON callbacks."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from airflow_provider_messaging.core.errors import AuthenticationError, RecipientError, ValidationError
from airflow_provider_messaging.operators.signalwire import SignalWireSendMessageOperator
from airflow_provider_messaging.sensors.signalwire import SignalWireMessageSensor
from airflow_provider_messaging.signalwire.credentials import SignalWireCredentials
from airflow_provider_messaging.signalwire.native import AsyncMessagingApiClient, MessagingApiClient
from airflow_provider_messaging.signalwire.sender import NativeSender, RelaySender, Sms
from airflow_provider_messaging.store.store import MessageStore
from airflow_provider_messaging.triggers.delivery import SignalWireStoreTrigger

pytestmark = pytest.mark.integration
SENDER = "+15551230001"


@pytest.fixture
def conn(sandbox, monkeypatch, tmp_path):
    httpx.post(f"{sandbox.url}/_sandbox/reset").raise_for_status()
    c = sandbox.config
    monkeypatch.setenv("AIRFLOW_CONN_SIGNALWIRE_DEFAULT", json.dumps({
        "conn_type": "signalwire", "host": "sandbox", "login": c.signalwire_project, "password": c.signalwire_token,
        "extra": {"base_url": sandbox.url, "from_number": SENDER, "context": "office"}}))  # fmt: skip
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("AIRFLOW__MESSAGING__STORE_URL", store_url)
    return sandbox


def credentials(sandbox, token=None):
    c = sandbox.config
    return SignalWireCredentials(project_id=c.signalwire_project, api_token=token or c.signalwire_token,
                                 base_url=sandbox.url)  # fmt: skip


def until(check, seconds=10.0):
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_native_send_is_followed_in_the_logs_and_refusals_name_the_code(conn):
    with MessagingApiClient(credentials(conn)) as client:
        sent = client.send_message("+15550001002", SENDER, "hi", custom_variables={"order": "1"})
        assert (sent.status, sent.kind, sent.number_of_segments) == ("queued", "sms", 1)
        last = until(lambda: (e := client.fetch_log(sent.id)).status == "undelivered" and e)
        assert last.observation().error_code == "unreachable_destination_handset"
        assert "unreachable" in (last.observation().error_meaning or "")
        assert [e.id for e in client.list_logs(page_size=1)] == [sent.id]
        with pytest.raises(RecipientError, match="message_blocked_by_number") as stop:
            client.send_message("+15550001005", SENDER, "hi")
        assert not stop.value.stops_batch and stop.value.http_status == 422
    with MessagingApiClient(credentials(conn, token="wrong")) as client, pytest.raises(AuthenticationError):
        client.send_message("+15550001001", SENDER, "hi")


def test_operator_sends_natively_and_the_store_backed_gate_passes_from_the_logs(conn):
    ids = SignalWireSendMessageOperator(
        task_id="send", to=["+15550001001", "+15550001004"], body="native", api="native",
        custom_variables={"order": "12345"},
    ).execute({})  # fmt: skip
    sent = httpx.get(f"{conn.url}/_sandbox/messages").json()["messages"]
    assert {m["channel"] for m in sent} == {"messaging"} and sent[0]["payload"]["custom_variables"] == {
        "order": "12345"}  # fmt: skip
    gate = SignalWireMessageSensor(task_id="gate", message_ids=ids, source="store", success_states=("sent",))
    report = until(lambda: (r := gate.poke({})).is_done and r.xcom_value)  # no receiver: the logs tell
    assert report["outcome"] == "passed"


def test_bad_custom_variables_fail_before_any_request(conn):
    operator = SignalWireSendMessageOperator(task_id="send", to="+15550001001", body="x", api="native",
                                             custom_variables={"sw_order": "1"})  # fmt: skip
    with pytest.raises(Exception, match=r"custom_variables\['sw_order'\]: the name uses a reserved prefix"):
        operator.execute({})
    assert httpx.get(f"{conn.url}/_sandbox/messages").json()["messages"] == []
    with pytest.raises(ValueError, match="only api='native'"):
        SignalWireSendMessageOperator(task_id="x", to="+15550001001", body="x", custom_variables={"a": "b"})


@pytest.mark.parametrize("framing", ["signalwire", "blade"])
def test_a_relay_send_is_gated_after_its_task_ended_with_on_timeout_fail(conn, framing):
    ids = SignalWireSendMessageOperator(
        task_id="send", to=["+15550001006", "+15550001002"], body="over relay", api="relay",
        relay_protocol=framing, wait_for_states=0,  # the task ends right after the send
    ).execute({})  # fmt: skip
    store = MessageStore()
    assert all(o.state.rank < o.state.FAILED.rank for o in store.get_statuses("signalwire", ids).values())
    trigger = SignalWireStoreTrigger(
        signalwire_conn_id="signalwire_default", message_ids=ids, success_states=["delivered"],
        failure_states=["failed", "undelivered"], poll_interval=0.2, min_success_fraction=0.5,
        timeout_at=time.time() + 30, on_timeout="fail",
    )  # fmt: skip
    name, kwargs = trigger.serialize()
    assert name.endswith("SignalWireStoreTrigger") and kwargs["signalwire_conn_id"] == "signalwire_default"
    event = asyncio.run(asyncio.wait_for(trigger.run().__anext__(), 40)).payload
    assert event["status"] == "success", event
    assert event["report"]["counts"] == {"delivered": 1, "undelivered": 1}
    failed = event["report"]["failed"][0]
    assert failed["error_message"] == "Unreachable Destination Handset"  # Relay: a text, no code
    # what the logs said is in the store now, for every other waiter
    assert {o.state.value for o in store.get_statuses("signalwire", ids).values()} == {
        "delivered",
        "undelivered",
    }
    store.dispose()


def item(to, body):
    return Sms(SENDER, body).to(1, to)


def test_a_send_whose_answer_was_lost_is_found_in_the_logs_by_what_it_sent(conn):
    async def run():
        async with AsyncMessagingApiClient(credentials(conn)) as client:
            sender = NativeSender(lambda: client)
            since = time.time()
            first = await sender.send(item("+15550001001", "once"))
            found = await sender.reconcile(item("+15550001001", "once"), since)
            other = await sender.reconcile(item("+15550001004", "once"), since)
            longer = await sender.reconcile(item("+15550001001", "x" * 200), since)  # 2 segments: not it
            await sender.send(item("+15550001001", "once"))
            twice = await sender.reconcile(item("+15550001001", "once"), since)  # ambiguous
            return first, found, other, longer, twice

    first, found, other, longer, twice = asyncio.run(run())
    assert found is not None and found.message_id == first.message_id
    assert other is None and longer is None and twice is None


def test_a_relay_send_whose_answer_was_lost_is_found_in_the_logs(conn):
    from airflow_provider_messaging.core.errors import OutcomeUnknownError

    async def run():
        with RelaySender(credentials(conn), "office", wait_for_states=0) as sender:
            httpx.post(f"{conn.url}/_sandbox/signalwire/relay/drop", params={"after_next_send": "true"})
            since = time.time()
            with pytest.raises(OutcomeUnknownError):
                await sender.send(item("+15550001001", "lost answer"))
            return await sender.reconcile(item("+15550001001", "lost answer"), since)

    found = asyncio.run(run())
    (sent,) = httpx.get(f"{conn.url}/_sandbox/messages").json()["messages"]
    assert found is not None and found.message_id == sent["sid"]


def test_native_status_callbacks_reach_the_store_through_the_receiver(conn, tmp_path):
    from airflow_provider_messaging.webhooks.receiver import create_webhook_app
    from messaging_sandbox.server import BackgroundServer
    from tests.webhook_credentials import resolver, signalwire

    store = MessageStore(f"sqlite:///{tmp_path / 'receiver.db'}")
    secrets = {"signalwire_default": signalwire(conn.config.signing_key)}
    with BackgroundServer(create_webhook_app(store=store, credentials=resolver(secrets))) as receiver:
        with MessagingApiClient(credentials(conn)) as client:
            sent = client.send_message("+15550001003", SENDER, "hi", status_callback=f"{receiver.url}/signalwire/signalwire_default",
                                       custom_variables={"run": "r1"})  # fmt: skip
        observed = until(
            lambda: (
                (o := store.get_statuses("signalwire", [sent.id]).get(sent.id))
                and o.state.value == "failed"
                and o
            )
        )
    callbacks = httpx.get(f"{conn.url}/_sandbox/callbacks").json()["callbacks"]
    store.dispose()
    assert {c["response_status"] for c in callbacks} == {200}
    assert observed.error_code == "carrier_violation"


def test_validation_errors_name_the_field(conn):
    with pytest.raises(ValidationError, match=r"custom_variables: 21 variables"):
        NativeSender(lambda: None, custom_variables={f"k{i}": "v" for i in range(21)})  # type: ignore[arg-type,return-value]


def test_a_broadcast_over_the_native_api_sends_each_row_once(conn):
    from airflow_provider_messaging.operators.broadcast import SignalWireBroadcastOperator

    rows = [
        {"to": "+15550001001", "name": "Ann"},
        {"to": "+15550001004", "name": "Bob"},
        {"to": "555", "name": "X"},
    ]
    ids = SignalWireBroadcastOperator(task_id="b", recipients=rows, body="Hi {name}", api="native", pacing=False,
                                      custom_variables={"campaign": "spring"}).execute({})  # fmt: skip
    sent = httpx.get(f"{conn.url}/_sandbox/messages").json()["messages"]
    assert sorted(m["body"] for m in sent) == ["Hi Ann", "Hi Bob"] and {m["channel"] for m in sent} == {
        "messaging"
    }
    assert sorted(ids) == sorted(m["sid"] for m in sent)


def test_gating_a_native_message_over_the_compatibility_api_says_to_use_the_store(conn):
    from airflow.sdk.exceptions import AirflowFailException

    (message_id,) = SignalWireSendMessageOperator(
        task_id="s", to="+15550001001", body="x", api="native"
    ).execute({})
    with pytest.raises(AirflowFailException, match="gate it with source='store'"):
        SignalWireMessageSensor(task_id="gate", message_ids=[message_id]).poke({})
