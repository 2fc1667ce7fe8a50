"""The weekly WhatsApp broadcast split into four shards that run side by side, on as many workers
as the executor has (CeleryExecutor, KubernetesExecutor), gated on 95 % delivered over all of them.

``.expand(shard=shards(4))`` makes four mapped tasks of one broadcast. Each reads the same CSV and
sends to the recipients that fall to its shard (by recipient, the same way on every try, so a
retried shard sends only to its own recipients not yet sent). All four take their send slots from
the number's rate budget in the status store: together they send at ``rate``, not four times it.
Point ``[messaging] store_url`` at PostgreSQL when the workers are on several machines.

One gate takes the broadcast's output: the ids of every shard, and every shard's report.
"""

from __future__ import annotations

import pathlib

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_messaging.operators.broadcast import WhatsAppTemplateBroadcastOperator, shards
from airflow_provider_messaging.sensors.whatsapp import WhatsAppMessageSensor

RECIPIENTS = pathlib.Path(__file__).parent / "data" / "weekly_recipients.csv"

with DAG(
    dag_id="sharded_whatsapp_broadcast",
    description="One WhatsApp template broadcast in four shards on several workers, one delivery gate",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"csv_path": Param(str(RECIPIENTS), type="string", description="CSV with to,name,team")},
    tags=["messaging", "whatsapp", "broadcast", "example"],
) as dag:
    broadcast = WhatsAppTemplateBroadcastOperator.partial(
        task_id="broadcast",
        csv_path="{{ params.csv_path }}",
        template_name="weekly_report",
        language="en_US",
        parameter_columns=["name", "team"],
        rate=80,  # for the number, shared by the four shards
        retries=2,  # safe: each shard's ledger skips whoever already has the message
        map_index_template="shard {{ task.shard[0] + 1 }} of {{ task.shard[1] }}",
    ).expand(shard=shards(4))

    WhatsAppMessageSensor(
        task_id="wait_for_95_percent_delivered",
        message_ids=broadcast.output,  # every shard's ids; every shard's report is read too
        min_success_fraction=0.95,
        deferrable=True,
        poll_interval=1,
        timeout=900,
    )
