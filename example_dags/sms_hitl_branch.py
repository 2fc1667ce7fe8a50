"""A branch chosen by SMS: Airflow's HITLBranchOperator asks whether to backfill.

The question goes out as an SMS with numbered options; the reply (``1``, ``2``, or an option's
name) comes back through the number's messaging webhook to the receiver and is recorded as the
task's answer through Airflow's REST API. The chosen branch runs; the other is skipped. Everyone
on ``to`` may answer (the task has no assigned users). ``make demo`` plays the data engineer.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.hitl import HITLBranchOperator
from airflow.sdk import DAG, Param, task

from airflow_provider_messaging.notifications.hitl import SignalWireHITLNotifier

with DAG(
    dag_id="sms_hitl_branch",
    description="Backfill or skip, as the data engineer answers by SMS",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"engineer": Param("+15550001001", type="string", description="Data engineer, E.164")},
    tags=["messaging", "signalwire", "hitl", "example"],
) as dag:
    choose = HITLBranchOperator(
        task_id="backfill_or_skip",
        subject="Yesterday's load is late. Backfill it now?",
        body="Backfilling takes about 40 minutes of warehouse time.",
        options=["Backfill", "Skip"],
        options_mapping={"Backfill": "backfill", "Skip": "skip_backfill"},
        notifiers=[SignalWireHITLNotifier(to="{{ params.engineer }}")],
        response_timeout=timedelta(hours=2),
    )

    @task
    def backfill() -> str:
        return "backfilled"

    @task
    def skip_backfill() -> str:
        return "skipped"

    choose >> [backfill(), skip_backfill()]
