"""A deploy gate answered on WhatsApp: Airflow's ApprovalOperator asks the on-call engineer.

The question goes out as a WhatsApp message with an Approve and a Reject button (outside the
24-hour window: as the approved template ``hitl_question``, whose quick replies answer the same
way). The tap comes back through the webhook receiver and is recorded as the task's answer through
Airflow's REST API, as if given in the UI; Reject skips the deploy. Only the assigned on-call user
may answer; ``messaging`` is the account of connection ``airflow_api_default`` that records the
answers, so it is assigned too. ``answered_by`` keeps who tapped. ``make demo`` plays the engineer.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG, Param, task

from airflow_provider_messaging.notifications.hitl import WhatsAppHITLNotifier

with DAG(
    dag_id="whatsapp_deploy_approval",
    description="Deploy once the on-call engineer taps Approve on WhatsApp",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"on_call": Param("+15550002001", type="string", description="On-call engineer's WhatsApp")},
    tags=["messaging", "whatsapp", "hitl", "example"],
) as dag:

    @task
    def build() -> str:
        return "1.4.2"

    version = build()

    approve = ApprovalOperator(
        task_id="approve_deploy",
        subject="Deploy {{ ti.xcom_pull('build') }} to production?",
        body="The build passed its checks. Approve deploys it now; Reject stops here.",
        assigned_users=[
            {"id": "oncall", "name": "On-call engineer"},
            {"id": "messaging", "name": "Answers given by message"},
        ],
        params={"answered_by": Param("", type="string", description="Who answered, and how")},
        notifiers=[
            WhatsAppHITLNotifier(
                to={"oncall": "{{ params.on_call }}"},
                sender_param="answered_by",
                template_name="hitl_question",
            )
        ],
        response_timeout=timedelta(hours=1),
    )

    @task
    def deploy(version: str, answer: dict) -> str:
        line = f"deployed {version}; approved by {answer['params_input']['answered_by']}"
        print(line)
        return line

    version >> approve
    deploy(version, approve.output)
