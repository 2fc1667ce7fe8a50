"""The status store on SQLite and PostgreSQL: precedence, duplicates, concurrency, inbound."""

from __future__ import annotations

import random
import threading
import time

import pytest

from airflow_provider_messaging.core.events import InboundMessage, StatusEvent
from airflow_provider_messaging.core.states import MessageState
from airflow_provider_messaging.store.store import MessageStore, default_store_url

pytestmark = pytest.mark.integration
S = MessageState


def ev(message_id, state, ts, **kw):
    return StatusEvent("whatsapp", message_id, state, state.value, ts, **kw)


def test_state_never_moves_down_whatever_the_order(store):
    events = [ev("m1", S.SENT, 1.0), ev("m1", S.READ, 3.0), ev("m1", S.DELIVERED, 2.0), ev("m1", S.SENT, 1.0)]
    assert store.record_statuses(events) == 3  # the repeated `sent` is a duplicate
    obs = store.get_statuses("whatsapp", ["m1", "unknown"])
    assert obs["m1"].state is S.READ and "unknown" not in obs
    assert len(store.events_for("whatsapp", "m1")) == 3


def test_delivered_beats_failed_from_another_device(store):
    store.record_status(ev("m2", S.DELIVERED, 5.0))
    store.record_status(ev("m2", S.FAILED, 6.0, error_code="131026", error_title="Message undeliverable"))
    assert store.get_statuses("whatsapp", ["m2"])["m2"].state is S.DELIVERED


def test_failure_keeps_its_error_code(store):
    store.record_status(ev("m3", S.SENT, 1.0, recipient="4915112345678", correlation="dag=x"))
    store.record_status(
        ev("m3", S.FAILED, 2.0, error_code="131026", error_title="undeliverable", error_details="d")
    )
    obs = store.get_statuses("whatsapp", ["m3"])["m3"]
    assert (obs.state, obs.error_code, obs.error_message) == (S.FAILED, "131026", "d")


def test_services_do_not_mix(store):
    store.record_status(StatusEvent("signalwire", "same-id", S.DELIVERED, "delivered", 1.0))
    assert store.get_statuses("whatsapp", ["same-id"]) == {}


def test_parallel_writers_agree_on_the_highest_state(store):
    states = [S.SENT, S.DELIVERED, S.READ, S.FAILED]
    events = [ev(f"p{i % 20}", states[i % 4], float(i // 20)) for i in range(400)]
    expected = {}
    for e in events:
        best = expected.get(e.message_id)
        if best is None or (e.state.rank, e.timestamp) >= (best.state.rank, best.timestamp):
            expected[e.message_id] = e
    random.Random(1).shuffle(events)
    errors: list[BaseException] = []

    def writer(chunk):
        try:
            for e in chunk:
                store.record_status(e)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(events[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    found = store.get_statuses("whatsapp", sorted(expected))
    assert {k: v.state for k, v in found.items()} == {k: v.state for k, v in expected.items()}


def test_many_ids_are_read_in_chunks(store):
    store.record_statuses(ev(f"bulk{i}", S.DELIVERED, 1.0) for i in range(1200))
    assert len(store.get_statuses("whatsapp", [f"bulk{i}" for i in range(1200)])) == 1200


def test_inbound_is_stored_once_and_filtered_by_sender_and_time(store):
    before = time.time() - 1
    msg = InboundMessage(
        "whatsapp", "wamid.IN1", "4915112345678", "106500000000001", "text", "YES", 1754039000.0
    )
    assert store.record_inbound(msg)
    assert not store.record_inbound(msg)
    store.record_inbound(InboundMessage("whatsapp", "wamid.IN2", "111", None, "text", "no", 1754039001.0))
    found = store.inbound_since("whatsapp", since=before, senders=["4915112345678"])
    assert [m.message_id for m in found] == ["wamid.IN1"] and found[0].text == "YES"
    assert store.inbound_since("whatsapp", since=time.time() + 10) == []


def test_default_url_is_sqlite_in_airflow_home(monkeypatch, tmp_path):
    monkeypatch.delenv("AIRFLOW__MESSAGING__STORE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert default_store_url() == f"sqlite:///{tmp_path / 'messaging_store.db'}"
    monkeypatch.setenv("AIRFLOW__MESSAGING__STORE_URL", "postgresql://u:pw@db/x")
    assert default_store_url() == "postgresql://u:pw@db/x"
    assert MessageStore("postgresql://u:pw@db/x").describe() == "postgresql://u:***@db/x"


def test_many_processes_may_create_the_schema_at_once(tmp_path):
    """The receiver and a sensor opening a fresh store together must not trip over each other."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'race.db'}"
    code = (
        "import sys; from airflow_provider_messaging.store.store import MessageStore;"
        "MessageStore(sys.argv[1]).get_statuses('whatsapp', ['x']); print('ok')"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    assert [p.communicate(timeout=60)[0].strip() for p in procs] == ["ok"] * 6


def test_the_longest_named_error_code_fits(store):
    code = "rejected_by_receiving_carrier_for_unspecified_reason"  # SignalWire's native Messaging API
    event = StatusEvent("signalwire", "n1", S.FAILED, "failed", 1.0, error_code=code)
    assert store.record_statuses([event]) == 1
    assert store.get_statuses("signalwire", ["n1"])["n1"].error_code == code
