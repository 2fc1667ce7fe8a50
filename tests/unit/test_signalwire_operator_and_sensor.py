from __future__ import annotations

import email.utils
import json
import time
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_messaging.operators.signalwire import SignalWireSendMessageOperator
from airflow_provider_messaging.sensors.signalwire import SignalWireMessageSensor

PROJECT = "ea108133-d6b3-407c-9536-9fad8a929a6a"
BASE = f"https://example.signalwire.com/api/laml/2010-04-01/Accounts/{PROJECT}"


class FakeTI:
    def __init__(self):
        self.pushed = {}

    def xcom_push(self, key, value):
        self.pushed[key] = value


@pytest.fixture(autouse=True)
def conn(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SIGNALWIRE_DEFAULT",
        json.dumps(
            {
                "conn_type": "signalwire",
                "host": "example.signalwire.com",
                "login": PROJECT,
                "password": "PT-token",
                "extra": {"from_number": "+15551230001"},
            }
        ),
    )


def created(request):
    form = parse_qs(request.content.decode())
    to = form["To"][0]
    return httpx.Response(
        201,
        json={
            "sid": f"sid-{to[-4:]}",
            "status": "queued",
            "to": to,
            "from": form["From"][0],
            "error_code": None,
        },
    )


def op(**kwargs):
    kwargs.setdefault("task_id", "send")
    return SignalWireSendMessageOperator(**kwargs)


@respx.mock
def test_sends_to_each_recipient_and_returns_the_ids():
    route = respx.post(f"{BASE}/Messages.json").mock(side_effect=created)
    ti = FakeTI()
    ids = op(to=["+15550001001", "+1 555 000 1002"], body="Backup done").execute({"ti": ti})
    assert ids == ["sid-1001", "sid-1002"]
    assert route.call_count == 2
    assert [m["to"] for m in ti.pushed["messages"]] == ["+15550001001", "+15550001002"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"to": "not-a-number", "body": "x"}, "to"),
        ({"to": "+15550001001", "body": ""}, "body"),
        ({"to": "+15550001001", "body": "x" * 1601}, "body"),
        ({"to": "+15550001001", "media_urls": [f"https://e.com/{i}.png" for i in range(9)]}, "media_urls"),
        ({"to": "+15550001001", "body": "x", "from_number": "12345"}, "from_number"),
    ],
)
@respx.mock(assert_all_called=False)
def test_bad_input_fails_without_retry_before_any_request(kwargs, field):
    route = respx.post(f"{BASE}/Messages.json").mock(side_effect=created)
    with pytest.raises(AirflowFailException) as err:
        op(**kwargs).execute({})
    assert str(err.value).startswith(f"{field}") or f"{field}:" in str(err.value)
    assert route.call_count == 0


@respx.mock(assert_all_called=False)
def test_one_bad_number_in_a_list_stops_everything_before_sending():
    route = respx.post(f"{BASE}/Messages.json").mock(side_effect=created)
    with pytest.raises(AirflowFailException, match=r"to\[1\]"):
        op(to=["+15550001001", "+1555"], body="x").execute({})
    assert route.call_count == 0


@respx.mock(assert_all_called=False)
def test_missing_connection_names_it(monkeypatch):
    with pytest.raises(AirflowFailException, match="No Airflow connection named 'other'"):
        op(to="+15550001001", body="x", signalwire_conn_id="other").execute({})


@respx.mock
def test_a_refused_recipient_does_not_stop_the_others_and_fails_the_task():
    def answer(request):
        if b"1005" in request.content:
            return httpx.Response(
                400, json={"code": 21610, "message": "unsubscribed", "more_info": "", "status": 400}
            )
        return created(request)

    route = respx.post(f"{BASE}/Messages.json").mock(side_effect=answer)
    ti = FakeTI()
    with pytest.raises(AirflowFailException) as err:
        op(to=["+15550001005", "+15550001001"], body="x").execute({"ti": ti})
    assert route.call_count == 2
    assert "1 of 2 recipient(s) have the message" in str(err.value) and "replied STOP" in str(err.value)
    assert [m["id"] for m in ti.pushed["messages"]] == ["sid-1001"]


@respx.mock
def test_wrong_token_stops_at_the_first_request():
    route = respx.post(f"{BASE}/Messages.json").respond(
        401, json={"code": 20003, "message": "Authentication Error", "more_info": "", "status": 401}
    )
    with pytest.raises(AirflowFailException, match="API Token"):
        op(to=["+15550001001", "+15550001002"], body="x").execute({})
    assert route.call_count == 1


@respx.mock
def test_an_unknown_outcome_is_never_resent_and_fails_without_retry_naming_who():
    calls = []

    def answer(request):
        calls.append(1)
        if b"1002" in request.content:
            raise httpx.ReadTimeout("no answer")
        return created(request)

    respx.post(f"{BASE}/Messages.json").mock(side_effect=answer)
    lookup = respx.get(f"{BASE}/Messages.json").respond(200, json={"messages": [], "next_page_uri": None})
    with pytest.raises(AirflowFailException) as err:
        op(to=["+15550001001", "+15550001002", "+15550001003"], body="x").execute({})
    assert "2 of 3 recipient(s) have the message" in str(err.value)
    assert "outcome unknown" in str(err.value) and "+15550001002" in str(err.value)
    assert len(calls) == 3  # the others are sent; the one in doubt is tried once
    assert lookup.call_count == 1  # and looked up at SignalWire, which does not have it
    assert lookup.calls.last.request.url.params["To"] == "+15550001002"


@respx.mock
def test_a_send_whose_answer_was_lost_but_that_signalwire_has_counts_as_sent():
    def answer(request):
        if b"1002" in request.content:
            raise httpx.ReadTimeout("no answer")
        return created(request)

    respx.post(f"{BASE}/Messages.json").mock(side_effect=answer)
    found = {"sid": "sid-found", "status": "sent", "to": "+15550001002", "from": "+15551230001", "body": "x",
             "date_created": email.utils.formatdate(time.time(), usegmt=True)}  # fmt: skip
    respx.get(f"{BASE}/Messages.json").respond(200, json={"messages": [found], "next_page_uri": None})
    ti = FakeTI()
    ids = op(to=["+15550001001", "+15550001002"], body="x").execute({"ti": ti})
    assert ids == ["sid-1001", "sid-found"]


@respx.mock
def test_a_transient_failure_before_anything_was_sent_stays_retryable(no_backoff):
    respx.post(f"{BASE}/Messages.json").respond(429, json={"code": 20429, "message": "slow"})
    with pytest.raises(Exception) as err:
        op(to="+15550001001", body="x").execute({})
    assert not isinstance(err.value, AirflowFailException)


class RetriedTI(FakeTI):
    dag_id, task_id, run_id, map_index = "alerts", "send", "manual__1", -1

    def __init__(self, try_number):
        super().__init__()
        self.try_number = try_number


@respx.mock
def test_a_retry_after_a_failure_part_way_sends_only_to_the_rest(monkeypatch, tmp_path, no_backoff):
    """Inside a task run the ledger makes a part-way failure safe to retry."""
    monkeypatch.setenv("AIRFLOW__MESSAGING__STORE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    to = ["+15550001001", "+15550001002", "+15550001003"]
    answers = {"+15550001002": httpx.Response(503, json={"code": 20503, "message": "busy"})}
    sent: list[str] = []

    def answer(request):
        number = parse_qs(request.content.decode())["To"][0]
        sent.append(number)
        return answers.get(number) or created(request)

    respx.post(f"{BASE}/Messages.json").mock(side_effect=answer)
    with pytest.raises(
        Exception, match="A retry of the task sends only to the recipients without the message"
    ) as err:
        op(to=to, body="Disk full").execute({"ti": RetriedTI(1)})
    assert not isinstance(err.value, AirflowFailException)  # retryable
    assert sent.count("+15550001001") == sent.count("+15550001003") == 1

    answers.clear()
    sent.clear()
    ti = RetriedTI(2)
    ids = op(to=to, body="Disk full").execute({"ti": ti})
    assert sent == ["+15550001002"]
    assert sorted(ids) == ["sid-1001", "sid-1002", "sid-1003"]

    sent.clear()
    assert sorted(op(to=to, body="Disk full").execute({"ti": RetriedTI(3)})) == sorted(ids)
    assert sent == []  # a third try finds everyone sent
    op(to=to, body="Disk full", force_resend=True).execute({"ti": RetriedTI(4)})
    assert sent == to  # unless asked


def status(sid, state, code=None):
    return httpx.Response(
        200,
        json={"sid": sid, "status": state, "to": "+15550001002", "from": "+15551230001", "error_code": code},
    )


@respx.mock
def test_sensor_waits_then_returns_final_states():
    respx.get(f"{BASE}/Messages/a.json").mock(side_effect=[status("a", "sent"), status("a", "delivered")])
    respx.get(f"{BASE}/Messages/b.json").mock(side_effect=[status("b", "delivered")])
    sensor = SignalWireMessageSensor(task_id="wait", message_ids=["a", "b"])
    first = sensor.poke({})
    assert not first.is_done
    second = sensor.poke({})
    assert second.is_done
    messages = second.xcom_value["messages"]
    assert messages["a"]["state"] == "delivered" and messages["b"]["state"] == "delivered"
    assert second.xcom_value["counts"] == {"delivered": 2}
    assert respx.calls.call_count == 3  # b was settled after the first poke and not fetched again


@respx.mock
def test_sensor_fails_with_the_error_code_and_its_meaning():
    respx.get(f"{BASE}/Messages/a.json").mock(return_value=status("a", "undelivered", "30003"))
    sensor = SignalWireMessageSensor(task_id="wait", message_ids="a")
    with pytest.raises(AirflowFailException) as err:
        sensor.poke({})
    assert "a to +15550001002 is undelivered" in str(err.value)
    assert "30003 (the destination handset is unreachable" in str(err.value)


@respx.mock
def test_sensor_can_gate_on_sent_for_mms():
    respx.get(f"{BASE}/Messages/a.json").mock(return_value=status("a", "delivered"))
    sensor = SignalWireMessageSensor(task_id="wait", message_ids=["a"], success_states=("sent",))
    assert sensor.poke({}).is_done


@respx.mock
def test_sensor_keeps_waiting_through_a_transient_error(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    respx.get(f"{BASE}/Messages/a.json").respond(503, text="busy")
    sensor = SignalWireMessageSensor(task_id="wait", message_ids=["a"])
    assert not sensor.poke({}).is_done


def test_sensor_refuses_misspelt_states_when_the_dag_is_parsed():
    with pytest.raises(ValueError, match="unknown message state 'deliverd'"):
        SignalWireMessageSensor(task_id="wait", message_ids=["a"], success_states=("deliverd",))
    with pytest.raises(ValueError, match="in both"):
        SignalWireMessageSensor(task_id="wait", message_ids=["a"], success_states=("failed",))


def test_sensor_needs_message_ids():
    with pytest.raises(AirflowFailException, match="message_ids: no message id given"):
        SignalWireMessageSensor(task_id="wait", message_ids=[]).poke({})
