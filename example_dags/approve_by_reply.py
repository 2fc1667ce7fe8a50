"""Approve by reply: ask on WhatsApp, wait for the approver to answer YES, then publish.

The question goes out as a WhatsApp message; the approver's reply comes back through the webhook
receiver into the status store, where ``WhatsAppMessageReceivedSensor`` (deferred: no worker slot
held while waiting) looks for a message from the approver matching ``^(yes|approve)$``. Only
replies received after the wait began count. ``make demo`` runs it and plays the approver.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_messaging.operators.whatsapp import WhatsAppSendMessageOperator
from airflow_provider_messaging.sensors.inbound import WhatsAppMessageReceivedSensor

with DAG(
    dag_id="approve_by_reply",
    description="Ask an approver on WhatsApp and continue on their YES",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"approver": Param("+15550002001", type="string", description="Approver, E.164")},
    tags=["messaging", "whatsapp", "inbound", "example"],
) as dag:
    ask = WhatsAppSendMessageOperator(
        task_id="ask_approver",
        to="{{ params.approver }}",
        text="The {{ dag_run.run_after | ds }} report is ready. Reply YES to publish it.",
    )

    wait_for_yes = WhatsAppMessageReceivedSensor(
        task_id="wait_for_yes",
        from_numbers="{{ params.approver }}",
        pattern=r"^(yes|approve)$",
        deferrable=True,
        poll_interval=2,
        timeout=3600,
    )

    @task
    def publish(reply: dict) -> str:
        line = f"approved by {reply['from']} at {reply['timestamp']}: {reply['text']!r}"
        print(line)
        return line

    ask >> wait_for_yes
    publish(wait_for_yes.output)
