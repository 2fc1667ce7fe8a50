from __future__ import annotations

import asyncio
import importlib
import json
import time

import httpx
import pytest
import respx
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout, TaskDeferred

from airflow_provider_messaging.core.events import StatusEvent
from airflow_provider_messaging.core.states import MessageState
from airflow_provider_messaging.sensors.signalwire import SignalWireMessageSensor
from airflow_provider_messaging.sensors.whatsapp import WhatsAppMessageSensor
from airflow_provider_messaging.store.store import MessageStore
from airflow_provider_messaging.triggers.delivery import SignalWireMessageTrigger, StoreStatusTrigger

PROJECT = "p1"
BASE = f"https://example.signalwire.com/api/laml/2010-04-01/Accounts/{PROJECT}"


@pytest.fixture(autouse=True)
def conn(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SIGNALWIRE_DEFAULT", json.dumps({
        "conn_type": "signalwire", "host": "example.signalwire.com", "login": PROJECT, "password": "PT-secret"}))  # fmt: skip


def roundtrip(trigger):
    path, kwargs = trigger.serialize()
    module, name = path.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (path, kwargs)
    assert "PT-secret" not in json.dumps(kwargs)
    return rebuilt


def first_event(trigger):
    return asyncio.run(asyncio.wait_for(trigger.run().__anext__(), 10)).payload


def status(sid, state, code=None):
    return httpx.Response(200, json={"sid": sid, "status": state, "to": "+15550001002", "error_code": code})


@respx.mock
def test_signalwire_trigger_waits_then_reports_success():
    respx.get(f"{BASE}/Messages/a.json").mock(side_effect=[status("a", "sent"), status("a", "delivered")])
    trigger = roundtrip(SignalWireMessageTrigger(signalwire_conn_id="signalwire_default", message_ids=["a"],
                                                 success_states=["delivered"], failure_states=["failed", "undelivered"],
                                                 poll_interval=0))  # fmt: skip
    event = first_event(trigger)
    assert event["status"] == "success" and event["report"]["messages"]["a"]["state"] == "delivered"


@respx.mock
def test_signalwire_trigger_reports_failure_with_the_meaning():
    respx.get(f"{BASE}/Messages/a.json").mock(return_value=status("a", "undelivered", "30003"))
    event = first_event(SignalWireMessageTrigger(signalwire_conn_id="signalwire_default", message_ids=["a"],
                                                 success_states=["delivered"], failure_states=["undelivered"],
                                                 poll_interval=0))  # fmt: skip
    assert event["status"] == "failed" and "30003 (the destination handset is unreachable" in event["message"]


def test_store_trigger_reads_what_the_receiver_wrote(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = MessageStore(url)
    store.record_status(StatusEvent("whatsapp", "w1", MessageState.READ, "read", 2.0))
    trigger = roundtrip(StoreStatusTrigger(service="whatsapp", store_url=url, message_ids=["w1"],
                                           success_states=["delivered", "read"], failure_states=["failed"], poll_interval=0))  # fmt: skip
    event = first_event(trigger)
    assert event["status"] == "success"
    assert event["report"]["messages"] == {"w1": {
        "state": "read", "status": "read", "to": None, "error_code": None, "error_message": None}}  # fmt: skip
    assert event["report"]["counts"] == {"read": 1} and event["report"]["outcome"] == "passed"
    store.dispose()


@respx.mock
def test_deferrable_sensor_defers_with_its_timeout_and_resumes():
    respx.get(f"{BASE}/Messages/a.json").mock(return_value=status("a", "sent"))
    sensor = SignalWireMessageSensor(
        task_id="wait", message_ids=["a"], deferrable=True, timeout=600, poll_interval=5
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    assert deferred.value.timeout.total_seconds() == 600 + 120  # a backstop: the trigger times out itself
    assert deferred.value.method_name == "execute_complete"
    kwargs = deferred.value.trigger.serialize()[1]
    assert kwargs["poll_interval"] == 5 and kwargs["on_timeout"] == "fail"
    assert 590 < kwargs["timeout_at"] - time.time() <= 600
    report = {"outcome": "passed", "counts": {"delivered": 1}, "messages": {"a": {"state": "delivered"}}}
    assert sensor.execute_complete({}, {"status": "success", "report": report}) == report
    with pytest.raises(AirflowFailException, match="30003"):
        sensor.execute_complete({}, {"status": "failed", "message": "a is undelivered: 30003"})
    with pytest.raises(AirflowSensorTimeout, match="0 of 1"):
        sensor.execute_complete(
            {}, {"status": "timeout", "message": "Timed out: 0 of 1 message(s) succeeded"}
        )


@respx.mock
def test_deferrable_sensor_does_not_defer_when_already_delivered():
    respx.get(f"{BASE}/Messages/a.json").mock(return_value=status("a", "delivered"))
    sensor = SignalWireMessageSensor(task_id="wait", message_ids=["a"], deferrable=True)
    assert sensor.execute({})["messages"]["a"]["state"] == "delivered"


def test_whatsapp_sensor_defers_to_the_store_trigger(tmp_path):
    sensor = WhatsAppMessageSensor(
        task_id="wait", message_ids=["w9"], deferrable=True, store_url=f"sqlite:///{tmp_path / 'x.db'}"
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    path, kwargs = deferred.value.trigger.serialize()
    assert path.endswith("StoreStatusTrigger") and kwargs["service"] == "whatsapp"


@respx.mock
def test_reschedule_mode_still_reschedules_while_waiting():
    from airflow.sdk.exceptions import AirflowRescheduleException

    respx.get(f"{BASE}/Messages/a.json").mock(return_value=status("a", "sent"))

    class TaskInstance:
        def get_first_reschedule_date(self, context):
            return None  # the first attempt

    sensor = SignalWireMessageSensor(task_id="wait", message_ids=["a"], mode="reschedule", poke_interval=30)
    with pytest.raises(AirflowRescheduleException):  # the slot is given back until the next poke
        sensor.execute({"ti": TaskInstance()})
