"""A broadcast split into shards (dynamic task mapping), each run as its map index would run it.

Every shard reads the same rows and sends to the recipients that fall to it; together they message
everyone once, a retried shard (same map index, another process) sends only the rest, and one gate
judges all shards' ids and reports.
"""

from __future__ import annotations

import collections

import pytest

from airflow_provider_messaging.core.errors import ValidationError
from airflow_provider_messaging.core.shards import Shard, shards
from airflow_provider_messaging.operators.broadcast import (
    SignalWireBroadcastOperator,
    WhatsAppTemplateBroadcastOperator,
)
from airflow_provider_messaging.sensors.signalwire import SignalWireMessageSensor
from tests.integration.test_broadcast import (  # noqa: F401 (fixture)
    REPO,
    accepted,
    env,
    kill_broadcast_task_after,
    run_broadcast_task,
    write_csv,
)

pytestmark = pytest.mark.integration


class MappedTI:
    dag_id, task_id, run_id = "weekly", "broadcast", "scheduled__2026-11-23"

    def __init__(self, map_index: int, try_number: int = 1) -> None:
        self.map_index, self.try_number = map_index, try_number
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key, value):
        self.xcom[key] = value


def test_shards_split_rows_by_recipient_the_same_way_every_time():
    assert shards(3) == [(0, 3), (1, 3), (2, 3)]
    assert Shard.of([1, 4]) == Shard.of("1/4") == Shard(1, 4)
    owners = {n: [s for s in range(4) if Shard(s, 4).owns(f"+1555{n:07d}")] for n in range(400)}
    assert all(len(found) == 1 for found in owners.values())  # each recipient in exactly one shard
    sizes = collections.Counter(found[0] for found in owners.values())
    assert min(sizes.values()) > 60  # and spread over all of them
    with pytest.raises(ValidationError, match="index 4 is not between 0 and 3"):
        Shard.of((4, 4))
    with pytest.raises(ValidationError, match="not a shard"):
        Shard.of("half")


def test_four_shards_message_everyone_once_and_report_each_row_once(env, tmp_path):  # noqa: F811
    numbers = [f"+1555{n:07d}" for n in range(120)]
    rows = [(n, f"u{i}", i) for i, n in enumerate(numbers)]
    rows += [(numbers[3], "u3", 3), (numbers[70], "u70", 70)]  # listed twice: sent once
    rows += [("5550000000", "bad", 0), ("+1555CALLNOW", "bad", 0), ("+1 (555) 000-0007", "u7", 7)]
    csv_path = write_csv(tmp_path / "rows.csv", rows)
    reports, ids = [], []
    for index, shard in enumerate(shards(4)):
        ti = MappedTI(index)
        ids += SignalWireBroadcastOperator(
            task_id="broadcast", csv_path=csv_path, body="Hi {name}, code {code}", rate=200, shard=shard
        ).execute({"ti": ti})
        reports.append(ti.xcom["report"])
    counts = collections.Counter(m["to"] for m in accepted(env))
    assert sorted(counts) == numbers and set(counts.values()) == {1}
    assert sorted(ids) == sorted(m["sid"] for m in accepted(env))
    assert sum(r["accepted"] for r in reports) == 120
    assert sum(r["invalid"] for r in reports) == 2  # each bad row reported by one shard
    assert sum(r["duplicates"] for r in reports) == 3  # +1 (555) 000-0007 is +15550000007 again
    assert all(r["accepted"] > 10 for r in reports)


def test_a_killed_shard_retried_elsewhere_sends_only_the_rest(env, tmp_path):  # noqa: F811
    numbers = [f"+1555{n:07d}" for n in range(400)]
    csv_path = write_csv(tmp_path / "big.csv", [(n, f"u{i}", i) for i, n in enumerate(numbers)])
    mine = [n for n in numbers if Shard(1, 4).owns(n)]
    sent_before_retry, _ = kill_broadcast_task_after(env, ["1", csv_path, "40", "30", "1/4"], 30)
    assert 30 <= sent_before_retry < len(mine)

    # the retry: same map index, another process (as on another worker), unpaced
    report = run_broadcast_task(["2", csv_path, "none", "30", "1/4"])
    counts = collections.Counter(m["to"] for m in accepted(env))
    assert max(counts.values()) == 1 and set(counts) <= set(mine)
    assert report["rows"] == len(mine)
    assert report["accepted"] + report["already_sent"] + report["unknown"] == len(mine)
    assert len(counts) == sent_before_retry + report["accepted"]


def test_one_gate_judges_every_shard(env):  # noqa: F811
    """Two shards: one reached everyone, one was refused once (STOP). The gate over both, given
    the mapped task's XComs as Airflow gives them (a list per map index), counts the refusal."""
    from airflow.sdk import DAG
    from airflow.sdk.exceptions import AirflowFailException

    numbers = [f"+1555{n:07d}" for n in range(10, 30)] + ["+15550001005"]  # replied STOP
    with DAG("weekly", schedule=None):
        broadcast = SignalWireBroadcastOperator.partial(
            task_id="broadcast", recipients=numbers, body="hi", pacing=False
        ).expand(shard=shards(2))
        gate = SignalWireMessageSensor(task_id="gate", message_ids=broadcast.output, min_success_fraction=1.0,
                                       poke_interval=0.05, timeout=30)  # fmt: skip
    assert gate.send_task_id == "broadcast"
    outputs, reports = [], []
    for index, shard in enumerate(shards(2)):
        ti = MappedTI(index)
        op = SignalWireBroadcastOperator(task_id="broadcast", recipients=numbers, body="hi", pacing=False,
                                         shard=shard, max_failed_fraction=0.5)  # fmt: skip
        outputs.append(op.execute({"ti": ti}))
        reports.append(ti.xcom["report"])
    assert sum(r["failed"] for r in reports) == 1

    class GateTI:
        def xcom_pull(self, task_ids, key):
            assert (task_ids, key) == ("broadcast", "report")
            return reports  # a mapped task: one report per map index

    gate.message_ids = outputs  # as Airflow renders a mapped task's output: one list per map index
    with pytest.raises(AirflowFailException) as failed:
        gate.execute({"ti": GateTI()})
    assert "1 of 21 message(s) reached a failure state" in str(failed.value)
    assert "+15550001005" in str(failed.value)


def test_whatsapp_shards_share_the_numbers_rate_budget(env, tmp_path):  # noqa: F811
    from airflow_provider_messaging.store.rate_budget import rate_budgets
    from airflow_provider_messaging.store.store import MessageStore

    numbers = [f"+1555{n:07d}" for n in range(40)]
    for index, shard in enumerate(shards(2)):
        WhatsAppTemplateBroadcastOperator(
            task_id="broadcast", recipients=numbers, template_name="hello_world", language="en_US",
            rate=100, shard=shard,
        ).execute({"ti": MappedTI(index)})  # fmt: skip
    assert len(accepted(env, "whatsapp")) == 40
    store = MessageStore()
    with store.engine.connect() as conn:
        budgets = conn.execute(rate_budgets.select()).mappings().all()
    assert [(b["service"], b["sender"]) for b in budgets] == [
        ("whatsapp", env.config.whatsapp_phone_number_id)
    ]
