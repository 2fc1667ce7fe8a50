"""Relay over loopback, in both framings: the client and the operator against the sandbox's Relay server."""

from __future__ import annotations

import collections
import contextlib
import json
import threading
import time

import httpx
import pytest

from airflow_provider_messaging.core.errors import AuthenticationError, PermanentError
from airflow_provider_messaging.operators.signalwire import SignalWireSendMessageOperator
from airflow_provider_messaging.signalwire.credentials import SignalWireCredentials
from airflow_provider_messaging.signalwire.relay import RelayClient
from airflow_provider_messaging.store.store import MessageStore

pytestmark = pytest.mark.integration
SENDER = "+15551230001"


@pytest.fixture
def sandbox_reset(sandbox):
    httpx.post(f"{sandbox.url}/_sandbox/reset").raise_for_status()
    return sandbox


@pytest.fixture(params=["signalwire", "blade"])
def framing(request):
    """The Relay framing the client speaks: the current one, and the 2.x SDKs' Blade one."""
    return request.param


class Events:
    def __init__(self):
        self.items = []
        self.changed = threading.Condition()

    def __call__(self, message):
        with self.changed:
            self.items.append(message)
            self.changed.notify_all()

    def wait_for(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate(self.items):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"events so far: {self.items}")
                self.changed.wait(left)


def credentials(sandbox, token=None):
    c = sandbox.config
    return SignalWireCredentials(project_id=c.signalwire_project, api_token=token or c.signalwire_token,
                                 base_url=sandbox.url)  # fmt: skip


def client(sandbox, relay_protocol, **kw):
    return RelayClient(credentials(sandbox), contexts=["airflow"], relay_protocol=relay_protocol, **kw)


def states_of(events, message_id):
    return [m.state for m in events.items if m.message_id == message_id]


def test_send_with_context_and_tags_reports_every_state_to_delivered(sandbox_reset, framing):
    events = Events()
    with client(sandbox_reset, framing, on_state=events) as relay:
        result = relay.send("airflow", "+15550001001", SENDER, "Nightly load done", tags=["dag:nightly"])
        assert result.message_id and result.details["tags"] == ["dag:nightly"]
        events.wait_for(lambda items: "delivered" in states_of(events, result.message_id))
    assert states_of(events, result.message_id) == ["queued", "initiated", "sent", "delivered"]
    stored = httpx.get(f"{sandbox_reset.url}/_sandbox/messages").json()["messages"][0]
    assert (stored["relay_context"], stored["tags"], stored["body"]) == (
        "airflow",
        ["dag:nightly"],
        "Nightly load done",
    )


def test_an_undeliverable_number_ends_undelivered_with_a_reason(sandbox_reset, framing):
    events = Events()
    with client(sandbox_reset, framing, on_state=events) as relay:
        result = relay.send("airflow", "+15550001002", SENDER, "hi")
        events.wait_for(lambda items: "undelivered" in states_of(events, result.message_id))
    last = [m for m in events.items if m.message_id == result.message_id][-1]
    assert last.reason and "unreachable" in last.reason.lower()


def test_every_event_is_acknowledged_in_the_current_framing(sandbox_reset):
    events = Events()
    with client(sandbox_reset, "signalwire", on_state=events) as relay:
        result = relay.send("airflow", "+15550001001", SENDER, "ack me")
        events.wait_for(lambda items: "delivered" in states_of(events, result.message_id))
        time.sleep(0.2)  # the last acknowledgement is on its way
        (connection,) = httpx.get(f"{sandbox_reset.url}/_sandbox/signalwire/relay/connections").json()[
            "connections"
        ]
    assert connection["relay_protocol"] == "signalwire" and connection["contexts"] == ["airflow"]
    assert connection["unacknowledged_events"] == 0


def test_a_refused_send_raises_the_error_the_table_gives(sandbox_reset, framing):
    with client(sandbox_reset, framing) as relay, pytest.raises(PermanentError, match="opted out") as refused:
        relay.send("airflow", "+15550001005", SENDER, "hi")  # replied STOP
    assert refused.value.code == "400" and not refused.value.stops_batch


def test_inbound_messages_arrive_on_the_context(sandbox_reset, framing):
    received = Events()
    with client(sandbox_reset, framing, on_receive=received):
        httpx.post(f"{sandbox_reset.url}/_sandbox/signalwire/inbound",
                   json={"from": "+15550009999", "text": "YES", "context": "airflow"}).raise_for_status()  # fmt: skip
        received.wait_for(lambda items: len(items) == 1)
    message = received.items[0]
    assert (message.direction, message.state, message.body, message.from_number) == (
        "inbound", "received", "YES", "+15550009999")  # fmt: skip


def test_a_dropped_connection_reconnects_and_the_send_completes_exactly_once(sandbox_reset, framing):
    events = Events()
    with client(sandbox_reset, framing, on_state=events) as relay:
        first_protocol = relay.protocol
        assert httpx.post(f"{sandbox_reset.url}/_sandbox/signalwire/relay/drop").json()["dropped"] == 1
        deadline = time.monotonic() + 10
        while relay.is_ready and time.monotonic() < deadline:  # the client notices the drop...
            time.sleep(0.005)
        result = relay.send("airflow", "+15550001001", SENDER, "after the drop")  # ...and this send waits
        assert result.message_id
        events.wait_for(lambda items: "delivered" in states_of(events, result.message_id))  # re-subscribed
        assert relay.connections == 2
        # the current framing resumes its session; Blade sets up a new one on every connection
        assert (relay.protocol == first_protocol) is (framing == "signalwire")
    sent = httpx.get(f"{sandbox_reset.url}/_sandbox/messages").json()["messages"]
    assert collections.Counter(m["body"] for m in sent) == {"after the drop": 1}


def test_a_send_whose_answer_is_lost_is_unknown_and_never_resent(sandbox_reset, framing):
    from airflow_provider_messaging.core.errors import OutcomeUnknownError

    with client(sandbox_reset, framing) as relay:
        httpx.post(f"{sandbox_reset.url}/_sandbox/signalwire/relay/drop", params={"after_next_send": "true"})
        with pytest.raises(OutcomeUnknownError, match="not resent"):
            relay.send("airflow", "+15550001001", SENDER, "answer lost")
        deadline = time.monotonic() + 10
        while relay.connections < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert relay.send("airflow", "+15550001001", SENDER, "next one").message_id  # reconnected
    sent = httpx.get(f"{sandbox_reset.url}/_sandbox/messages").json()["messages"]
    assert collections.Counter(m["body"] for m in sent) == {"answer lost": 1, "next one": 1}


def test_wrong_credentials_fail_fast_with_a_clear_error(sandbox_reset, framing):
    relay = RelayClient(
        credentials(sandbox_reset, token="wrong-token"), contexts=["airflow"], relay_protocol=framing
    )
    with pytest.raises(AuthenticationError, match="API Token"):
        relay.connect()
    relay.close()


def test_operator_sends_over_relay_and_the_states_reach_the_store(sandbox_reset, monkeypatch, tmp_path):
    c = sandbox_reset.config
    store_url = f"sqlite:///{tmp_path / 'relay.db'}"
    monkeypatch.setenv("AIRFLOW__MESSAGING__STORE_URL", store_url)
    monkeypatch.setenv("AIRFLOW_CONN_SIGNALWIRE_DEFAULT", json.dumps({
        "conn_type": "signalwire", "host": "sandbox", "login": c.signalwire_project, "password": c.signalwire_token,
        "extra": {"base_url": sandbox_reset.url, "from_number": SENDER, "context": "office"}}))  # fmt: skip
    ids = SignalWireSendMessageOperator(
        task_id="send", to=["+15550001001", "+15550001002"], body="Relay hello", api="relay", tags=["dag:x"],
        wait_for_states=10,
    ).execute({})  # fmt: skip
    store = MessageStore(store_url)
    states = store.get_statuses("signalwire", ids)
    store.dispose()
    assert [states[i].state.value for i in ids] == ["delivered", "undelivered"]
    from airflow_provider_messaging.sensors.signalwire import SignalWireMessageSensor

    gate = SignalWireMessageSensor(task_id="gate", message_ids=ids, source="store", store_url=store_url,
                                   min_success_fraction=0.5)  # fmt: skip
    report = gate.poke({}).xcom_value
    assert report["outcome"] == "passed" and report["counts"] == {"delivered": 1, "undelivered": 1}
    sent = httpx.get(f"{sandbox_reset.url}/_sandbox/messages").json()["messages"]
    assert {m["relay_context"] for m in sent} == {"office"} and sent[0]["tags"] == ["dag:x"]


def relay_conn(sandbox, monkeypatch, tmp_path):
    c = sandbox.config
    monkeypatch.setenv("AIRFLOW_CONN_SIGNALWIRE_DEFAULT", json.dumps({
        "conn_type": "signalwire", "host": "sandbox", "login": c.signalwire_project, "password": c.signalwire_token,
        "extra": {"base_url": sandbox.url, "from_number": SENDER}}))  # fmt: skip
    return f"sqlite:///{tmp_path / 'inbound.db'}"


def inject_later(sandbox, texts, delay=0.5):
    def run():
        time.sleep(delay)
        for text in texts:
            httpx.post(f"{sandbox.url}/_sandbox/signalwire/inbound",
                       json={"from": "+15550001001", "text": text, "context": "office"}).raise_for_status()  # fmt: skip

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_inbound_sensor_listens_on_a_relay_context_in_poke_mode(sandbox_reset, monkeypatch, tmp_path):
    from airflow_provider_messaging.sensors.inbound import SignalWireMessageReceivedSensor

    store_url = relay_conn(sandbox_reset, monkeypatch, tmp_path)
    injector = inject_later(sandbox_reset, ["no", "Yes"], delay=1.0)
    sensor = SignalWireMessageReceivedSensor(task_id="wait", from_numbers="+15550001001", pattern="^yes$",
                                             relay_context="office", store_url=store_url, poke_interval=0.1, timeout=30)  # fmt: skip
    message = sensor.execute({})
    injector.join()
    assert message["text"] == "Yes" and message["from"] == "+15550001001"


def test_relay_inbound_trigger_fires_on_the_matching_message(sandbox_reset, monkeypatch, tmp_path):
    import asyncio

    from airflow_provider_messaging.triggers.inbound import RelayInboundTrigger

    store_url = relay_conn(sandbox_reset, monkeypatch, tmp_path)
    trigger = RelayInboundTrigger(signalwire_conn_id="signalwire_default", context="office",
                                  from_numbers=["+15550001001"], pattern="^approve$", store_url=store_url)  # fmt: skip
    assert "sandbox-token" not in json.dumps(trigger.serialize()[1])
    injector = inject_later(sandbox_reset, ["later", "APPROVE"], delay=1.0)
    event = asyncio.run(asyncio.wait_for(trigger.run().__anext__(), 30)).payload
    injector.join()
    assert event["status"] == "success" and event["message"]["text"] == "APPROVE"
    store = MessageStore(store_url)
    assert [m.text for m in store.inbound_since("signalwire", since=0)] == ["later", "APPROVE"]
    store.dispose()


def test_relay_event_trigger_yields_one_event_per_inbound_message(sandbox_reset, monkeypatch, tmp_path):
    import asyncio

    from airflow.sdk import Asset, AssetWatcher

    from airflow_provider_messaging.triggers.inbound import InboundMessageEventTrigger

    relay_conn(sandbox_reset, monkeypatch, tmp_path)
    trigger = InboundMessageEventTrigger(service="signalwire", relay_context="office", pattern="^stop$")
    Asset("sms_stops", watchers=[AssetWatcher(name="stops", trigger=trigger)])

    async def collect():
        events = []

        async def consume():
            async for event in trigger.run():
                events.append(event.payload)

        task = asyncio.create_task(consume())
        await asyncio.sleep(2.0)  # connected and subscribed
        await asyncio.to_thread(inject_later(sandbox_reset, ["hello", "STOP"], delay=0).join)
        await asyncio.sleep(1.0)
        task.cancel()  # as the triggerer stops a trigger: cancel, then wait for it to clean up
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return events

    events = asyncio.run(collect())
    assert [e["text"] for e in events] == ["STOP"] and events[0]["from"] == "+15550001001"
