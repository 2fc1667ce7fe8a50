"""A DAG for the kill test: a slow broadcast that the test marks failed while it sends."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_messaging.operators.broadcast import SignalWireBroadcastOperator

RECIPIENTS = [f"+1555000{3000 + n}" for n in range(200)]

with DAG(
    dag_id="stopped_broadcast",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
) as dag:
    SignalWireBroadcastOperator(
        task_id="broadcast", recipients=RECIPIENTS, body="Maintenance tonight", rate=10
    )
