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


BSUID = "DE." + "1" * 128  # a business-scoped user id at the length Meta documents (131 characters)


def test_values_of_any_real_length_are_stored(store):
    long_id = "wamid." + "HBgN" * 80
    event = ev(long_id, S.DELIVERED, 1.0, recipient=BSUID, correlation="c" * 2000)
    message = InboundMessage("whatsapp", long_id, BSUID, "1065", "interactive_" + "x" * 100, "hi", 1.0,
                             context_id=long_id)  # fmt: skip
    assert store.record_statuses([event]) == 1 and store.record_inbound(message)
    assert store.get_statuses("whatsapp", [long_id])[long_id].recipient == BSUID
    assert store.inbound_since("whatsapp", since=0, senders=[BSUID])[0].context_id == long_id


def test_text_no_database_takes_is_mended_not_refused(store):
    event = ev(
        "wamid.NUL\x00", S.FAILED, 1.0, error_details="bad\x00byte \ud800 surrogate", recipient="4915\x00"
    )
    assert store.record_statuses([event]) == 1
    (found,) = store.get_statuses("whatsapp", ["wamid.NUL\ufffd"]).values()
    assert found.error_message == "bad\ufffdbyte ? surrogate" and found.recipient == "4915\ufffd"


def test_an_event_that_cannot_be_stored_is_skipped_and_the_batch_kept(store):
    events = [
        ev("ok1", S.SENT, 1.0),
        ev("", S.SENT, 1.0),
        ev("nan", S.SENT, float("nan")),
        ev("ok2", S.READ, 2.0),
    ]
    result = store.write(
        events, [InboundMessage("whatsapp", "in1", "49151", None, "text", "x", float("inf"))]
    )
    assert len(result.new_statuses) == 2 and result.new_inbound == set()
    assert sorted(reason for _, _, reason in result.skipped) == [
        "no message id", "timestamp is not a finite number", "timestamp is not a finite number"
    ]  # fmt: skip
    assert set(store.get_statuses("whatsapp", ["ok1", "ok2", "nan"])) == {"ok1", "ok2"}


def test_a_row_the_database_refuses_costs_only_that_event(store, monkeypatch):
    from airflow_provider_messaging.store import store as store_module

    real = store_module._status_row

    def refused_for_bad(ev, now):  # the database refuses this one row (NOT NULL)
        row = real(ev, now)
        return {**row, "state": None} if ev.message_id == "bad" else row

    monkeypatch.setattr(store_module, "_status_row", refused_for_bad)
    result = store.write([ev("good1", S.SENT, 1.0), ev("bad", S.SENT, 1.0), ev("good2", S.SENT, 1.0)], [])
    assert len(result.new_statuses) == 2
    assert [(kind, ident) for kind, ident, _ in result.skipped] == [("status", "bad")]
    assert "IntegrityError" in result.skipped[0][2] or "NotNullViolation" in result.skipped[0][2]
    assert set(store.get_statuses("whatsapp", ["good1", "bad", "good2"])) == {"good1", "good2"}


def test_a_batch_with_several_events_per_message_keeps_the_best_and_counts_repeats_once(store):
    events = [ev("b1", S.SENT, 1.0), ev("b1", S.READ, 3.0), ev("b1", S.DELIVERED, 2.0), ev("b1", S.READ, 3.0),
              ev("b2", S.FAILED, 5.0), ev("b2", S.DELIVERED, 4.0)]  # fmt: skip
    assert store.record_statuses(events) == 5
    found = store.get_statuses("whatsapp", ["b1", "b2"])
    assert (found["b1"].state, found["b2"].state) == (S.READ, S.DELIVERED)
    assert store.record_statuses([ev("b1", S.DELIVERED, 2.5)]) == 1
    assert store.get_statuses("whatsapp", ["b1"])["b1"].state is S.READ


def test_receiver_liveness_is_recorded_per_service_and_receiver(store):
    assert store.receiver_last_seen("whatsapp") is None
    store.record_receiver_seen("whatsapp", at=100.0, receiver="host-a")
    store.record_receiver_seen("whatsapp", at=200.0, receiver="host-b")
    store.record_receiver_seen("whatsapp", at=150.0, receiver="host-b")  # never moves back
    store.record_receiver_seen("signalwire", at=50.0)
    assert store.receiver_last_seen("whatsapp") == 200.0
    assert store.receiver_last_seen("signalwire") == 50.0
    before = time.time()
    store.record_receiver_seen("signalwire")
    assert (store.receiver_last_seen("signalwire") or 0) >= before


def test_tables_created_with_short_columns_are_widened(store):
    """A PostgreSQL store created by an earlier version (VARCHAR(64) recipients, VARCHAR(255) ids)."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite does not enforce column lengths: nothing to widen")
    from sqlalchemy import text

    with store.engine.begin() as conn:
        conn.execute(text(
            "CREATE TABLE messaging_message_status (service VARCHAR(32), message_id VARCHAR(255), "
            "state VARCHAR(16) NOT NULL, rank INTEGER NOT NULL, event_ts FLOAT NOT NULL, raw_status VARCHAR(32) NOT NULL, "
            "recipient VARCHAR(64), error_code VARCHAR(64), error_title TEXT, error_details TEXT, correlation TEXT, "
            "updated_at FLOAT NOT NULL, PRIMARY KEY (service, message_id))"
        ))  # fmt: skip
    assert store.record_statuses([ev("w" * 300, S.SENT, 1.0, recipient=BSUID)]) == 1
    assert store.get_statuses("whatsapp", ["w" * 300])["w" * 300].recipient == BSUID


def test_sqlite_connections_checkpoint_the_wal_in_large_steps(tmp_path):
    """A busy receiver's commits must not meet a checkpoint every few batches (benchmarks/receiver.py:
    p99 at 3,000 webhooks/s 1.8-4.3 s with SQLite's default of 1,000 pages, 0.4-0.5 s with 10,000)."""
    from sqlalchemy import text

    store = MessageStore(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 10000
    finally:
        store.dispose()
