"""Every Monday, send the approved ``weekly_report`` WhatsApp template and gate on its delivery.

WhatsApp reports delivery only by webhook, so the webhook receiver must run (it is mounted in
``airflow api-server`` at ``/messaging/whatsapp/whatsapp_default``, or run
``airflow-messaging webhooks``) and share ``[messaging] store_url`` with the workers. ``make demo``
runs this DAG against the sandbox with the receiver beside it.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_messaging.operators.whatsapp import WhatsAppSendTemplateOperator
from airflow_provider_messaging.sensors.whatsapp import WhatsAppMessageSensor

with DAG(
    dag_id="whatsapp_template_delivery_gate",
    description="Weekly WhatsApp template, gated on delivery",
    schedule="0 8 * * MON",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    params={
        "to": Param(["+15550002001", "+15550002005"], type="array", description="Recipients, E.164"),
        "team": Param("data team", type="string"),
    },
    tags=["messaging", "whatsapp", "example"],
) as dag:
    send_report = WhatsAppSendTemplateOperator(
        task_id="send_weekly_report",
        to="{{ params.to }}",
        template_name="weekly_report",
        language="en_US",
        body_parameters=["{{ params.team }}", "the week of {{ dag_run.run_after | ds }}"],
    )

    wait_for_delivery = WhatsAppMessageSensor(
        task_id="wait_for_delivery",
        message_ids=send_report.output,
        deferrable=True,  # waits in the triggerer: no worker slot is held
        poll_interval=1,
        timeout=300,
    )

    @task
    def record_delivery(gate: dict) -> None:
        print(f"delivery gate {gate['outcome']}: {gate['counts']}")
        for wamid, info in gate["messages"].items():
            print(f"{info['state']}: {wamid} to {info['to']}")

    record_delivery(wait_for_delivery.output)
