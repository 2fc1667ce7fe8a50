"""A gate fed by the webhook receiver says why it hears nothing, instead of timing out in silence."""

from __future__ import annotations

import asyncio
import importlib
import logging
import time

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_messaging.core.events import StatusEvent
from airflow_provider_messaging.core.states import MessageState
from airflow_provider_messaging.sensors.signalwire import SignalWireMessageSensor
from airflow_provider_messaging.sensors.whatsapp import WhatsAppMessageSensor
from airflow_provider_messaging.store.store import MessageStore
from airflow_provider_messaging.triggers.delivery import StoreStatusTrigger

IDS = ["wamid.silent-1", "wamid.silent-2"]


@pytest.fixture
def store_url(tmp_path):
    return f"sqlite:///{tmp_path / 'silent.db'}"


def gate(store_url, **kwargs):
    return WhatsAppMessageSensor(task_id="gate", message_ids=IDS, store_url=store_url, **kwargs)


def logged(capfd, caplog):
    """What the task log shows: Airflow's structured log (stdout) or plain logging."""
    return capfd.readouterr().out + caplog.text


def test_no_receiver_ever_the_log_says_so_and_what_to_check(store_url, capfd, caplog):
    caplog.set_level(logging.WARNING)
    sensor = gate(store_url, receiver_grace=0)
    assert not sensor.poke({}).is_done
    said = logged(capfd, caplog)
    assert "2 message(s) have no WhatsApp status" in said
    assert "no WhatsApp webhook receiver has ever written to this store" in said
    assert "silent.db" in said and "same [messaging] store_url" in said
    assert "airflow-messaging webhooks" in said and "callback URL" in said
    sensor.poke({})
    assert "have no WhatsApp status" not in logged(capfd, caplog)  # said once, not at every poke


def test_fail_without_receiver_fails_the_wait_at_the_grace_period(store_url):
    with pytest.raises(
        AirflowFailException, match=r"no WhatsApp webhook receiver.*fail_without_receiver=True"
    ):
        gate(store_url, receiver_grace=0, fail_without_receiver=True).poke({})


def test_before_the_grace_period_nothing_is_said(store_url, capfd, caplog):
    caplog.set_level(logging.WARNING)
    sensor = gate(store_url, receiver_grace=300, fail_without_receiver=True)
    assert not sensor.poke({}).is_done
    assert "have no WhatsApp status" not in logged(capfd, caplog)


def test_a_receiver_gone_quiet_is_named_with_when_it_was_last_seen(store_url):
    store = MessageStore(store_url)
    store.record_receiver_seen("whatsapp", at=time.time() - 3600, receiver="api-server")
    with pytest.raises(
        AirflowFailException, match=r"no WhatsApp webhook receiver has written since .* UTC to"
    ):
        gate(store_url, receiver_grace=0, fail_without_receiver=True).poke({})


def test_a_live_receiver_points_at_the_callback_url_and_does_not_fail(store_url, capfd, caplog):
    caplog.set_level(logging.WARNING)
    MessageStore(store_url).record_receiver_seen("whatsapp", receiver="api-server")
    sensor = gate(store_url, receiver_grace=0, fail_without_receiver=True)
    assert not sensor.poke({}).is_done
    said = logged(capfd, caplog)
    assert "though a WhatsApp webhook receiver is writing to this store" in said
    assert "webhook callback URL" in said


def test_a_receiver_of_the_other_service_does_not_count(store_url):
    MessageStore(store_url).record_receiver_seen("signalwire", receiver="api-server")
    with pytest.raises(AirflowFailException, match="no WhatsApp webhook receiver has ever written"):
        gate(store_url, receiver_grace=0, fail_without_receiver=True).poke({})


def test_once_one_status_arrived_the_receiver_is_known_to_work(store_url, capfd, caplog):
    caplog.set_level(logging.WARNING)
    MessageStore(store_url).record_status(
        StatusEvent(service="whatsapp", message_id=IDS[0], state=MessageState.SENT, raw_status="sent",
                    timestamp=time.time(), recipient="+15550001001")
    )  # fmt: skip
    assert not gate(store_url, receiver_grace=0, fail_without_receiver=True).poke({}).is_done
    assert "have no WhatsApp status" not in logged(capfd, caplog)


def test_signalwire_gates_on_the_store_say_so_too_but_rest_polling_does_not(store_url, monkeypatch):
    monkeypatch.setattr(SignalWireMessageSensor, "observe", lambda self, pending: {})
    rest = SignalWireMessageSensor(
        task_id="rest", message_ids=["SM1"], receiver_grace=0, fail_without_receiver=True
    )
    assert not rest.poke({}).is_done
    on_store = SignalWireMessageSensor(
        task_id="store", message_ids=["SM1"], source="store", store_url=store_url, receiver_grace=0,
        fail_without_receiver=True,
    )  # fmt: skip
    with pytest.raises(AirflowFailException, match=r"no SignalWire webhook receiver.*StatusCallback"):
        on_store.poke({})


def rebuilt(trigger):
    path, kwargs = trigger.serialize()
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)(**kwargs)


def first_event(trigger):
    return asyncio.run(asyncio.wait_for(trigger.run().__anext__(), 20)).payload


def test_deferred_gate_fails_early_without_a_receiver(store_url):
    sensor = gate(store_url, receiver_grace=0, fail_without_receiver=True, poll_interval=0.1)
    trigger = rebuilt(sensor.trigger(IDS, time.time() + 15))
    assert isinstance(trigger, StoreStatusTrigger)
    event = first_event(trigger)
    assert event["status"] == "failed"
    assert "no WhatsApp webhook receiver has ever written" in event["message"]
    with pytest.raises(AirflowFailException, match="fail_without_receiver"):
        sensor.execute_complete({}, event)


def test_deferred_gate_warns_then_waits_out_its_timeout(store_url, capfd, caplog):
    caplog.set_level(logging.WARNING)
    wait_began = time.time() - 600  # the wait began in an earlier try: its grace period is over
    trigger = StoreStatusTrigger(
        service="whatsapp", store_url=store_url, message_ids=IDS, success_states=["delivered"],
        failure_states=["failed"], poll_interval=0.1, timeout_at=time.time() + 1, wait_began=wait_began,
    )  # fmt: skip
    event = first_event(rebuilt(trigger))
    assert event["status"] == "timeout"
    said = logged(capfd, caplog)
    assert said.count("have no WhatsApp status after 10 min") == 1
