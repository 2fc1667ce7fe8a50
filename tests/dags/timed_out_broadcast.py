"""A DAG for the timeout test: a broadcast slower than its execution_timeout, retried until done."""

from __future__ import annotations

import datetime

import pendulum
from airflow.sdk import DAG

from airflow_provider_messaging.operators.broadcast import SignalWireBroadcastOperator

RECIPIENTS = [f"+1555000{2000 + n}" for n in range(30)]

with DAG(
    dag_id="timed_out_broadcast",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
) as dag:
    SignalWireBroadcastOperator(
        task_id="broadcast",
        recipients=RECIPIENTS,
        body="Maintenance tonight",
        rate=10,  # 3 s for all: each try is stopped by its 1.5 s timeout until the rest fits in one
        execution_timeout=datetime.timedelta(seconds=1.5),
        retries=5,
        retry_delay=datetime.timedelta(seconds=0),
    )
