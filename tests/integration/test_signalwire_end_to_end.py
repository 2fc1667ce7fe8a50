"""The provider's client, operator and sensor against the sandbox over loopback."""

from __future__ import annotations

import json

import httpx
import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_messaging.core.errors import AuthenticationError
from airflow_provider_messaging.core.retry import RetryPolicy
from airflow_provider_messaging.hooks.signalwire import SignalWireHook
from airflow_provider_messaging.operators.signalwire import SignalWireSendMessageOperator
from airflow_provider_messaging.sensors.signalwire import SignalWireMessageSensor
from airflow_provider_messaging.signalwire.credentials import SignalWireCredentials
from airflow_provider_messaging.signalwire.rest import SignalWireRestClient

pytestmark = pytest.mark.integration


@pytest.fixture
def conn(sandbox, monkeypatch):
    httpx.post(f"{sandbox.url}/_sandbox/reset").raise_for_status()
    conn = {
        "conn_type": "signalwire",
        "host": "sandbox",
        "login": sandbox.config.signalwire_project,
        "password": sandbox.config.signalwire_token,
        "extra": {"base_url": sandbox.url, "from_number": "+15551230001"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SIGNALWIRE_DEFAULT", json.dumps(conn))
    return sandbox


def accepted(sandbox):
    return httpx.get(f"{sandbox.url}/_sandbox/messages").json()["messages"]


def wait_for(sensor, attempts=200):
    for _ in range(attempts):
        result = sensor.poke({})
        if result.is_done:
            return result.xcom_value
        import time

        time.sleep(0.05)
    raise AssertionError("sensor never finished")


def test_send_then_gate_on_delivery(conn):
    ids = SignalWireSendMessageOperator(
        task_id="send",
        to=["+15550001001", "+15550001006"],
        body="hello",
        media_urls=["https://example.com/a.png"],
    ).execute({})
    assert len(ids) == 2
    states = wait_for(SignalWireMessageSensor(task_id="wait", message_ids=ids))
    assert {v["state"] for v in states["messages"].values()} == {"delivered"}
    sent = accepted(conn)
    assert sorted(m["to"] for m in sent) == ["+15550001001", "+15550001006"]
    assert all(m["media"] == ["https://example.com/a.png"] for m in sent)


@pytest.mark.parametrize(
    ("number", "state", "code"),
    [("+15550001002", "undelivered", "30003"), ("+15550001003", "failed", "30007")],
)
def test_magic_failures_fail_the_gate_with_the_codes_meaning(conn, number, state, code):
    ids = SignalWireSendMessageOperator(task_id="send", to=number, body="hello").execute({})
    sensor = SignalWireMessageSensor(task_id="wait", message_ids=ids)
    with pytest.raises(AirflowFailException) as err:
        wait_for(sensor)
    assert f"is {state}: SignalWire error {code} (" in str(err.value)


def test_never_delivered_number_passes_a_gate_on_sent(conn):
    ids = SignalWireSendMessageOperator(task_id="send", to="+15550001004", body="mms").execute({})
    states = wait_for(SignalWireMessageSensor(task_id="wait", message_ids=ids, success_states=("sent",)))
    assert states["messages"][ids[0]]["state"] == "sent"


def test_synchronous_rejection_is_reported_and_others_still_sent(conn):
    with pytest.raises(AirflowFailException, match="21610"):
        SignalWireSendMessageOperator(task_id="send", to=["+15550001005", "+15550001001"], body="x").execute(
            {}
        )
    assert [m["to"] for m in accepted(conn)] == ["+15550001001"]


def test_wrong_token_is_rejected_with_the_real_error(conn):
    creds = SignalWireCredentials(
        project_id=conn.config.signalwire_project, api_token="wrong", base_url=conn.url
    )
    with SignalWireRestClient(creds) as client, pytest.raises(AuthenticationError) as err:
        client.create_message("+15550001001", "+15551230001", "x")
    assert err.value.code == "20003" and err.value.http_status == 401
    assert accepted(conn) == []


def test_connection_test_against_the_sandbox(conn, monkeypatch):
    assert SignalWireHook().test_connection()[0]
    bad = json.loads(__import__("os").environ["AIRFLOW_CONN_SIGNALWIRE_DEFAULT"])
    bad["password"] = "wrong"
    monkeypatch.setenv("AIRFLOW_CONN_SIGNALWIRE_DEFAULT", json.dumps(bad))
    ok, message = SignalWireHook().test_connection()
    assert not ok and "API Token (password)" in message


def test_list_follows_pages_from_the_sandbox(conn):
    creds = SignalWireCredentials(
        project_id=conn.config.signalwire_project, api_token=conn.config.signalwire_token, base_url=conn.url
    )
    with SignalWireRestClient(creds) as client:
        sids = {client.create_message(f"+1555000{2000 + i}", "+15551230001", f"m{i}").sid for i in range(7)}
        listed = [m.sid for m in client.list_messages(page_size=3)]
    assert len(listed) == 7 and set(listed) == sids


def test_client_rides_through_injected_429s(conn):
    httpx.put(f"{conn.url}/_sandbox/faults", json={"rate_limit_rate": 0.5, "retry_after": 0, "seed": 7})
    creds = SignalWireCredentials(
        project_id=conn.config.signalwire_project, api_token=conn.config.signalwire_token, base_url=conn.url
    )
    with SignalWireRestClient(
        creds, retry_policy=RetryPolicy(max_attempts=20, initial_backoff=0.01)
    ) as client:
        for i in range(10):
            client.create_message(f"+1555000{3000 + i}", "+15551230001", "x")
    assert len(accepted(conn)) == 10  # every send landed once despite the 429s
