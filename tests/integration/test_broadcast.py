"""Broadcasts against the sandbox over loopback: CSV rows, bad rows, 429s, stalls and a killed worker."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_messaging.operators.broadcast import (
    SignalWireBroadcastOperator,
    WhatsAppTemplateBroadcastOperator,
)
from airflow_provider_messaging.sensors.signalwire import SignalWireMessageSensor

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


class TaskInstance:
    dag_id, task_id, run_id, map_index = "weekly", "broadcast", "scheduled__2026-11-23", -1

    def __init__(self, try_number=1):
        self.try_number = try_number
        self.xcom = {}

    def xcom_push(self, key, value):
        self.xcom[key] = value


@pytest.fixture
def env(sandbox, tmp_path, monkeypatch):
    httpx.post(f"{sandbox.url}/_sandbox/reset").raise_for_status()
    c = sandbox.config
    conns = {
        "AIRFLOW_CONN_SIGNALWIRE_DEFAULT": json.dumps({
            "conn_type": "signalwire", "host": "sandbox", "login": c.signalwire_project,
            "password": c.signalwire_token, "extra": {"base_url": sandbox.url, "from_number": "+15551230001"},
        }),
        "AIRFLOW_CONN_WHATSAPP_DEFAULT": json.dumps({
            "conn_type": "whatsapp", "password": c.whatsapp_token,
            "extra": {"phone_number_id": c.whatsapp_phone_number_id, "waba_id": c.whatsapp_waba_id,
                      "base_url": sandbox.url},
        }),
        "AIRFLOW__MESSAGING__STORE_URL": f"sqlite:///{tmp_path / 'store.db'}",
    }  # fmt: skip
    for name, value in conns.items():
        monkeypatch.setenv(name, value)
    yield sandbox
    httpx.post(f"{sandbox.url}/_sandbox/reset").raise_for_status()


def accepted(sandbox, service="signalwire"):
    return httpx.get(f"{sandbox.url}/_sandbox/messages", params={"service": service}).json()["messages"]


BROADCAST_TASK = [sys.executable, "-m", "tests.integration.broadcast_task"]


def run_broadcast_task(args):
    """A try of ``tests.integration.broadcast_task`` in a process of its own, to its end; its report."""
    done = subprocess.run(
        [*BROADCAST_TASK, *args], cwd=REPO, env=dict(os.environ), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.split("REPORT ", 1)[1])


def kill_broadcast_task_after(sandbox, args, sent, how=signal.SIGKILL):
    """Run ``tests.integration.broadcast_task`` with ``args`` in a process of its own and send it
    ``how`` once the sandbox accepted ``sent`` messages (while it still sends); how many it
    accepted, and what the process printed (its report, when it could still print one)."""
    worker = subprocess.Popen(
        [*BROADCAST_TASK, *args], cwd=REPO, env=dict(os.environ),
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(accepted(sandbox)) < sent and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker.poll() is None, "the first try finished before it could be killed"
        worker.send_signal(how)
        stdout, _ = worker.communicate(timeout=60)
    finally:
        worker.kill()
        worker.wait()
    return len(accepted(sandbox)), stdout


def write_csv(path, rows, header="to,name,code"):
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return str(path)


def test_csv_broadcast_fills_each_body_skips_bad_rows_and_gates_on_a_share(env, tmp_path):
    rows = [(f"+1555000100{n % 2 + 1}", f"user{n}", 1000 + n) for n in range(8)]  # delivered/undelivered
    rows += [("0800-not-e164", "bad", 1), ("+15550001001", "", "")]
    csv_path = write_csv(tmp_path / "r.csv", rows)
    ti = TaskInstance()
    op = SignalWireBroadcastOperator(
        task_id="broadcast",
        csv_path=csv_path,
        body="Hi {name}, code {code}",
        rate=200,
        progress_interval=0.05,
    )
    ids = op.execute({"ti": ti})
    report = ti.xcom["report"]
    assert (report["rows"], report["accepted"], report["invalid"]) == (10, 9, 1)  # an empty name is allowed
    assert report["invalid_rows"][0]["row"] == 9 and "0800-not-e164" in report["invalid_rows"][0]["error"]
    bodies = sorted(m["body"] for m in accepted(env))
    assert bodies[0] == "Hi , code " and "Hi user0, code 1000" in bodies

    half = SignalWireMessageSensor(
        task_id="gate", message_ids=ids, min_success_fraction=0.5, poke_interval=0.05
    )
    for _ in range(200):
        result = half.poke({})
        if result.is_done:
            break
        time.sleep(0.05)
    assert result.is_done  # 5 of 9 delivered (the 4 to +15550001002 are undelivered)


def test_whatsapp_template_broadcast_checks_each_row_against_the_template(env, tmp_path):
    csv_path = write_csv(
        tmp_path / "w.csv",
        [("+15550002001", "Ann", "week 47"), ("+15550002005", "Bob", ""), ("+15550002001", "Ann", "week 47")],
        header="to,name,week",
    )
    ti = TaskInstance()
    ids = WhatsAppTemplateBroadcastOperator(
        task_id="broadcast", csv_path=csv_path, template_name="weekly_report", language="en_US",
        parameter_columns=["name", "week"],
    ).execute({"ti": ti})  # fmt: skip
    report = ti.xcom["report"]
    # row 3 repeats row 1: a duplicate row, not a message an earlier try sent
    assert (report["accepted"], report["invalid"], report["duplicates"], report["already_sent"]) == (
        1,
        1,
        1,
        0,
    )
    assert "week (row 2): is missing or empty" in report["invalid_rows"][0]["error"]
    sent = accepted(env, "whatsapp")
    assert len(sent) == 1 and ids == [sent[0]["sid"]]
    body = sent[0]["payload"]["template"]["components"][0]["parameters"]
    assert [p["text"] for p in body] == ["Ann", "week 47"]


def test_a_paused_template_stops_before_anything_is_sent(env):
    ti = TaskInstance()
    with pytest.raises(AirflowFailException, match="PAUSED"):
        WhatsAppTemplateBroadcastOperator(
            task_id="b", recipients=["+15550002001"], template_name="spring_promo", language="en_US",
            parameter_columns=["x"],
        ).execute({"ti": ti})  # fmt: skip
    assert accepted(env, "whatsapp") == []


def test_429s_slow_everyone_down_and_nothing_is_sent_twice(env):
    httpx.put(f"{env.url}/_sandbox/faults", json={"rate_limit_rate": 0.2, "retry_after": 0.05, "seed": 7})
    numbers = [f"+1555{n:07d}" for n in range(60)]
    ti = TaskInstance()
    ids = SignalWireBroadcastOperator(
        task_id="b", recipients=numbers, body="hi", pacing=False, concurrency=8
    ).execute({"ti": ti})
    report = ti.xcom["report"]
    assert report["accepted"] == 60 and report["rate_limited"] > 0 and len(set(ids)) == 60
    assert sorted(m["to"] for m in accepted(env)) == numbers


def test_a_stalled_answer_is_found_at_signalwire_and_a_retry_does_not_resend_it(env):
    httpx.put(f"{env.url}/_sandbox/faults", json={"stall_rate": 0.15, "stall_seconds": 2.0, "seed": 3})
    numbers = [f"+1555{n:07d}" for n in range(40)]

    def run(try_number):
        ti = TaskInstance(try_number)
        SignalWireBroadcastOperator(
            task_id="b", recipients=numbers, body="hi", pacing=False, concurrency=8, request_timeout=0.5
        ).execute({"ti": ti})
        return ti.xcom["report"]

    first = run(1)
    # the answers were lost, the messages were not: the message list shows them, so they count as sent
    assert first["reconciled"] > 0 and first["unknown"] == 0 and first["accepted"] == 40
    httpx.put(f"{env.url}/_sandbox/faults", json={})
    time.sleep(2.0)  # let the stalled answers finish on the sandbox side
    second = run(2)
    assert (second["already_sent"], second["unknown"], second["accepted"]) == (40, 0, 0)
    counts = collections.Counter(m["to"] for m in accepted(env))
    assert set(counts.values()) == {1} and len(counts) == 40  # every message went out, once


def test_a_gate_on_a_broadcast_judges_everyone_it_tried_to_reach(env):
    """40 rows, 40 % of creates answered 500 (nothing created): the broadcast reports them unknown,
    SignalWire's message list confirms they are not there, and a 95 % gate fails naming them."""
    from airflow.sdk import DAG
    from airflow.sdk.exceptions import AirflowFailException as Fail

    httpx.put(f"{env.url}/_sandbox/faults", json={"error_rate": 0.4, "error_status": 500, "seed": 11})
    numbers = [f"+1555{n:07d}" for n in range(40)]
    ti = TaskInstance()
    with DAG("weekly", schedule=None):
        broadcast = SignalWireBroadcastOperator(
            task_id="broadcast", recipients=numbers, body="hi", pacing=False
        )
        gate = SignalWireMessageSensor(task_id="gate", message_ids=broadcast.output, min_success_fraction=0.95,
                                       poke_interval=0.05, timeout=30)  # fmt: skip
    ids = broadcast.execute({"ti": ti})
    report = ti.xcom["report"]
    httpx.put(f"{env.url}/_sandbox/faults", json={})
    assert (
        report["unknown"] > 0
        and report["accepted"] + report["unknown"] == 40
        and len(ids) == report["accepted"]
    )
    assert gate.send_task_id == "broadcast"

    class GateTI:
        def xcom_pull(self, task_ids, key):
            assert (task_ids, key) == ("broadcast", "report")
            return report

    gate.message_ids = ids  # as Airflow renders the XComArg
    with pytest.raises(Fail) as failed:
        gate.execute({"ti": GateTI()})
    text = str(failed.value)
    assert "of 40 message(s) reached a failure state" in text and "outcome unknown" in text
    assert report["unknown_recipients"][0] in text


def test_a_broadcast_that_reached_nobody_fails_naming_the_codes(env):
    numbers = ["+15550001005"]  # replied STOP
    ti = TaskInstance()
    with pytest.raises(AirflowFailException, match=r"21610 x1"):
        SignalWireBroadcastOperator(task_id="b", recipients=numbers, body="hi", pacing=False).execute(
            {"ti": ti}
        )
    assert ti.xcom["report"]["failed"] == 1


def test_a_threshold_fails_the_task_when_too_many_were_refused(env):
    numbers = ["+15550001005", "+15550001001", "+15550001002", "+15550001003"]
    ti = TaskInstance()
    op = SignalWireBroadcastOperator(
        task_id="b", recipients=numbers, body="hi", pacing=False, max_failed_fraction=0.2
    )
    with pytest.raises(
        AirflowFailException, match=r"1 of 4 recipient\(s\) were not reached \(more than 20% allowed\)"
    ):
        op.execute({"ti": ti})
    ok = SignalWireBroadcastOperator(
        task_id="b2", recipients=numbers, body="hi", pacing=False, max_failed_fraction=0.3
    )
    another_run = TaskInstance()
    another_run.run_id = "manual__2026-11-24"
    assert len(ok.execute({"ti": another_run})) == 3


def test_a_dedupe_key_keeps_a_second_run_from_messaging_the_same_people(env):
    numbers = [f"+1555{n:07d}" for n in range(5)]

    def run(run_id, key):
        ti = TaskInstance()
        ti.run_id = run_id
        return SignalWireBroadcastOperator(
            task_id="b", recipients=numbers, body="weekly news", pacing=False, dedupe_key=key
        ).execute({"ti": ti}), ti.xcom["report"]

    ids, first = run("scheduled__2026-11-23", "week-2026-W48")
    again, second = run("manual__2026-11-24", "week-2026-W48")  # a manual run the same week
    assert (first["accepted"], second["accepted"], second["already_sent"]) == (5, 0, 5) and sorted(
        again
    ) == sorted(ids)
    _, next_week = run("scheduled__2026-11-30", "week-2026-W49")
    assert next_week["accepted"] == 5
    assert len(accepted(env)) == 10


def test_a_killed_worker_and_its_retry_message_everyone_once(env, tmp_path):
    numbers = [f"+1555{n:07d}" for n in range(150)]
    csv_path = write_csv(tmp_path / "big.csv", [(n, f"u{i}", i) for i, n in enumerate(numbers)])
    sent_before_retry, _ = kill_broadcast_task_after(env, ["1", csv_path, "50"], 40)
    assert 40 <= sent_before_retry < 150

    report = run_broadcast_task(["2", csv_path, "none"])
    counts = collections.Counter(m["to"] for m in accepted(env))
    assert max(counts.values()) == 1  # nobody messaged twice
    assert report["rows"] == 150
    assert report["accepted"] + report["already_sent"] + report["unknown"] == 150  # everyone accounted for
    # unknown = claimed by the killed try with no recorded answer (in flight, or answered but not yet written)
    assert report["already_sent"] + report["unknown"] >= sent_before_retry
    assert len(counts) == sent_before_retry + report["accepted"]  # the retry sent only to the rest


def test_a_task_stopped_by_sigterm_leaves_no_doubt_and_its_retry_messages_the_rest(env, tmp_path):
    """SIGTERM (Airflow's kill: the task marked failed or cleared while it runs) calls ``on_kill``:
    what is under way finishes and is recorded, nothing more leaves, and the retry sends to
    exactly the rest, with no outcome unknown (a SIGKILL leaves the claimed rows in doubt)."""
    numbers = [f"+1555{n:07d}" for n in range(150)]
    csv_path = write_csv(tmp_path / "big.csv", [(n, f"u{i}", i) for i, n in enumerate(numbers)])
    sent_before_retry, stdout = kill_broadcast_task_after(env, ["1", csv_path, "50"], 40, signal.SIGTERM)
    first = json.loads(stdout.split("REPORT ", 1)[1])
    assert first["accepted"] == sent_before_retry < 150 and first["unknown"] == 0
    assert first["not_attempted"] > 0  # claimed or queued when the stop came: left for the retry

    report = run_broadcast_task(["2", csv_path, "none"])
    counts = collections.Counter(m["to"] for m in accepted(env))
    assert sorted(counts) == sorted(numbers) and max(counts.values()) == 1  # everyone, once
    assert (report["already_sent"], report["accepted"], report["unknown"]) == (
        sent_before_retry, 150 - sent_before_retry, 0)  # fmt: skip
