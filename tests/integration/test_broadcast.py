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


def test_a_stalled_answer_is_unknown_and_a_retry_does_not_resend_it(env):
    httpx.put(f"{env.url}/_sandbox/faults", json={"stall_rate": 0.15, "stall_seconds": 2.0, "seed": 3})
    numbers = [f"+1555{n:07d}" for n in range(40)]

    def run(try_number):
        ti = TaskInstance(try_number)
        SignalWireBroadcastOperator(
            task_id="b", recipients=numbers, body="hi", pacing=False, concurrency=8, request_timeout=0.5
        ).execute({"ti": ti})
        return ti.xcom["report"]

    first = run(1)
    assert first["unknown"] > 0 and first["accepted"] + first["unknown"] == 40
    httpx.put(f"{env.url}/_sandbox/faults", json={})
    time.sleep(2.0)  # let the stalled answers finish on the sandbox side
    second = run(2)
    assert (second["already_sent"], second["unknown"], second["accepted"]) == (
        first["accepted"],
        first["unknown"],
        0,
    )
    counts = collections.Counter(m["to"] for m in accepted(env))
    assert set(counts.values()) == {1} and len(counts) == 40  # the stalled sends did go out, once


def test_a_killed_worker_and_its_retry_message_everyone_once(env, tmp_path):
    numbers = [f"+1555{n:07d}" for n in range(150)]
    csv_path = write_csv(tmp_path / "big.csv", [(n, f"u{i}", i) for i, n in enumerate(numbers)])
    cmd = [sys.executable, "-m", "tests.integration.broadcast_task"]
    child_env = dict(os.environ)
    worker = subprocess.Popen(
        [*cmd, "1", csv_path, "50"], cwd=REPO, env=child_env, stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while len(accepted(env)) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker.poll() is None, "the first try finished before it could be killed"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    sent_before_retry = len(accepted(env))
    assert 40 <= sent_before_retry < 150

    retry = subprocess.run(
        [*cmd, "2", csv_path, "none"], cwd=REPO, env=child_env, capture_output=True, text=True
    )
    assert retry.returncode == 0, retry.stderr[-3000:]
    report = json.loads(retry.stdout.split("REPORT ", 1)[1])
    counts = collections.Counter(m["to"] for m in accepted(env))
    assert max(counts.values()) == 1  # nobody messaged twice
    assert report["rows"] == 150
    assert report["accepted"] + report["already_sent"] + report["unknown"] == 150  # everyone accounted for
    # unknown = claimed by the killed try with no recorded answer (in flight, or answered but not yet written)
    assert report["already_sent"] + report["unknown"] >= sent_before_retry
    assert len(counts) == sent_before_retry + report["accepted"]  # the retry sent only to the rest
