"""Gating on a share of many messages: pass at the threshold, fail as soon as it is out of reach."""

from __future__ import annotations

import asyncio

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_messaging.core.delivery import DeliveryGate, Observation
from airflow_provider_messaging.core.events import StatusEvent
from airflow_provider_messaging.core.states import MessageState
from airflow_provider_messaging.sensors.whatsapp import WhatsAppMessageSensor
from airflow_provider_messaging.store.store import MessageStore
from airflow_provider_messaging.triggers.delivery import StoreStatusTrigger

S = MessageState
IDS = [f"wamid.{i:04d}" for i in range(600)]


def obs(states):
    return {i: Observation(i, s, error_code="131026" if s is S.FAILED else None) for i, s in states.items()}


def test_all_must_succeed_by_default():
    gate = DeliveryGate.of(["delivered"], ["failed"])
    assert gate.required(600) == 600
    one_failed = obs({IDS[0]: S.FAILED})
    verdict = gate.evaluate(IDS, one_failed)
    assert verdict.gate_failed and verdict.failed[0].message_id == IDS[0]


@pytest.mark.parametrize(
    ("delivered", "failed", "pending", "expect"),
    [
        (570, 30, 0, "passed"),
        (570, 0, 30, "passed"),
        (569, 0, 31, "waiting"),
        (560, 31, 9, "failed"),
        (569, 31, 0, "failed"),
    ],
)
def test_95_percent_of_600_at_the_threshold(delivered, failed, pending, expect):
    gate = DeliveryGate.of(["delivered", "read"], ["failed"], min_success_fraction=0.95)
    assert gate.required(600) == 570
    states = {IDS[i]: S.DELIVERED for i in range(delivered)}
    states.update({IDS[delivered + i]: S.FAILED for i in range(failed)})
    verdict = gate.evaluate(IDS, obs(states))
    assert len(verdict.pending) == pending
    assert {"passed": (True, True), "waiting": (False, False), "failed": (True, False)}[expect] == (
        verdict.done,
        verdict.passed,
    )


def test_fraction_must_be_sensible():
    with pytest.raises(ValueError, match="above 0 and at most 1"):
        DeliveryGate.of(["delivered"], ["failed"], min_success_fraction=1.5)


@pytest.fixture
def mixed_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'gate.db'}"
    store = MessageStore(url)
    outcome = [S.READ] * 520 + [S.DELIVERED] * 55 + [S.FAILED] * 15 + [S.SENT] * 10
    store.record_statuses(
        StatusEvent("whatsapp", i, s, s.value, 1.0, error_code="131026" if s is S.FAILED else None)
        for i, s in zip(IDS, outcome, strict=True)
    )
    yield url
    store.dispose()


def test_sensor_passes_a_broadcast_at_95_percent(mixed_store):
    sensor = WhatsAppMessageSensor(
        task_id="gate", message_ids=IDS, store_url=mixed_store, min_success_fraction=0.95
    )
    result = sensor.poke({})
    report = result.xcom_value
    assert result.is_done and report["outcome"] == "passed"
    assert (report["total"], report["required"], report["succeeded"]) == (600, 570, 575)
    assert report["counts"] == {"delivered": 55, "failed": 15, "read": 520, "sent": 10}
    assert len(report["failed"]) == 15 and {f["error_code"] for f in report["failed"]} == {"131026"}
    assert len(report["messages"]) == 600


def test_sensor_fails_a_broadcast_at_99_percent_naming_the_failures(mixed_store):
    sensor = WhatsAppMessageSensor(
        task_id="gate", message_ids=IDS, store_url=mixed_store, min_success_fraction=0.99
    )
    with pytest.raises(AirflowFailException) as err:
        sensor.poke({})
    text = str(err.value)
    assert "15 of 600 message(s) reached a failure state, so fewer than the required 594 can succeed" in text
    assert text.count("131026") == 15


def test_trigger_gives_the_same_answers(mixed_store):
    def event(fraction):
        trigger = StoreStatusTrigger(service="whatsapp", store_url=mixed_store, message_ids=IDS,
                                     success_states=["delivered", "read"], failure_states=["failed"],
                                     poll_interval=0, min_success_fraction=fraction)  # fmt: skip
        return asyncio.run(asyncio.wait_for(trigger.run().__anext__(), 10)).payload

    passed = event(0.95)
    assert passed["status"] == "success" and passed["report"]["counts"]["read"] == 520
    failed = event(0.99)
    assert failed["status"] == "failed" and "required 594" in failed["message"]
    assert failed["report"]["outcome"] == "failed" and len(failed["report"]["failed"]) == 15


def test_on_timeout_pass_if_sent_counts_sent_messages(mixed_store):
    """575 succeeded + 10 only sent = 585: enough for 97 % only when sent counts (MMS, Relay)."""

    def event(on_timeout):
        trigger = StoreStatusTrigger(service="whatsapp", store_url=mixed_store, message_ids=IDS,
                                     success_states=["delivered", "read"], failure_states=["failed"],
                                     poll_interval=0, min_success_fraction=0.97, timeout_at=0,
                                     on_timeout=on_timeout)  # fmt: skip
        return asyncio.run(asyncio.wait_for(trigger.run().__anext__(), 10)).payload

    timed_out = event("fail")
    assert timed_out["status"] == "timeout" and timed_out["report"]["outcome"] == "timed_out"
    assert "575 of 600 message(s) succeeded, 582 needed" in timed_out["message"]
    passed = event("pass_if_sent")
    assert passed["status"] == "success" and passed["report"]["outcome"] == "passed_on_timeout"
    assert passed["report"]["succeeded"] == 585


def test_poke_mode_timeout_follows_on_timeout(mixed_store):
    from airflow.sdk.exceptions import AirflowSensorTimeout

    def sensor(on_timeout):
        return WhatsAppMessageSensor(task_id="gate", message_ids=IDS, store_url=mixed_store, timeout=0,
                                     min_success_fraction=0.97, poke_interval=0, on_timeout=on_timeout)  # fmt: skip

    with pytest.raises(AirflowSensorTimeout, match="575 of 600 message"):
        sensor("fail").execute({})
    report = sensor("pass_if_sent").execute({})
    assert report["outcome"] == "passed_on_timeout" and report["counts"]["sent"] == 10


def test_the_reports_of_a_broadcasts_shards_add_up_for_one_gate():
    from airflow_provider_messaging.core.delivery import compact_report, unreached_from_report
    from airflow_provider_messaging.core.report import EXAMPLES, merge_reports

    refused = [{"to": f"+1555000{i:04d}", "code": "21610", "error": "STOP"} for i in range(80)]
    shard_reports = [
        {"rows": 100, "accepted": 20, "failed": 80, "unknown": 0, "failures": refused, "unknown_recipients": [],
         "failed_by_code": {"21610": 80}, "elapsed_seconds": 4.0},
        {"rows": 90, "accepted": 59, "failed": 30, "unknown": 1, "failures": refused[:30],
         "unknown_recipients": ["+15559990000"], "failed_by_code": {"21610": 30}, "elapsed_seconds": 6.5},
        None,  # a shard that pushed no report (it died before the end)
    ]  # fmt: skip
    merged = merge_reports(shard_reports)
    assert (merged["rows"], merged["accepted"], merged["failed"], merged["unknown"]) == (190, 79, 110, 1)
    assert merged["failed_by_code"] == {"21610": 110} and merged["elapsed_seconds"] == 6.5
    assert len(merged["failures"]) == EXAMPLES  # examples stay bounded; the counts are complete
    assert len(unreached_from_report(compact_report(merged))) == 111
