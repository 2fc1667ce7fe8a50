"""An SMS broadcast in four shards, for the CeleryExecutor test (tests/dag/test_sharded_broadcast_on_celery.py).

The shards are paced at ``RATE`` together (the number's budget in the status store); the gate
over all of them polls SignalWire's REST API, so no webhook receiver is needed.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_messaging.operators.broadcast import SignalWireBroadcastOperator, shards
from airflow_provider_messaging.sensors.signalwire import SignalWireMessageSensor

RATE = 30.0

with DAG(
    dag_id="sharded_sms_broadcast",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"csv_path": Param("", type="string")},
    default_args={"retries": 2, "retry_delay": timedelta(seconds=1)},
) as dag:
    broadcast = SignalWireBroadcastOperator.partial(
        task_id="broadcast",
        csv_path="{{ params.csv_path }}",
        body="Hi {name}, your code is {code}",
        rate=RATE,
        concurrency=4,
        progress_interval=5,
    ).expand(shard=shards(4))

    SignalWireMessageSensor(
        task_id="gate",
        message_ids=broadcast.output,
        min_success_fraction=0.95,
        poke_interval=2,
        timeout=600,
    )
