"""Every Monday, send the ``weekly_report`` WhatsApp template to everyone in a CSV file, then gate
on at least 95 % of the messages being delivered.

The broadcast reads the file row by row (each row gives the recipient's name and team), paces
itself to the number's throughput, skips rows with a bad number or a missing value (they are
listed in the ``report`` XCom) and records every send in the send ledger: if the task is retried,
only recipients not yet sent get a message. The gate waits in the triggerer (no worker slot held)
for the delivery webhooks that the receiver writes to the store.
"""

from __future__ import annotations

import pathlib

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_messaging.operators.broadcast import WhatsAppTemplateBroadcastOperator
from airflow_provider_messaging.sensors.whatsapp import WhatsAppMessageSensor

RECIPIENTS = pathlib.Path(__file__).parent / "data" / "weekly_recipients.csv"

with DAG(
    dag_id="weekly_whatsapp_broadcast",
    description="Weekly WhatsApp template to a CSV of recipients, gated on 95 % delivered",
    schedule="0 8 * * MON",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"csv_path": Param(str(RECIPIENTS), type="string", description="CSV with to,name,team")},
    tags=["messaging", "whatsapp", "broadcast", "example"],
) as dag:
    broadcast = WhatsAppTemplateBroadcastOperator(
        task_id="broadcast_weekly_report",
        csv_path="{{ params.csv_path }}",
        template_name="weekly_report",
        language="en_US",
        parameter_columns=["name", "team"],  # "Hi {{1}}, your weekly report for {{2}} is ready."
        retries=2,  # safe: the send ledger skips whoever already has this week's message
    )

    wait_for_delivery = WhatsAppMessageSensor(
        task_id="wait_for_95_percent_delivered",
        message_ids=broadcast.output,
        min_success_fraction=0.95,
        deferrable=True,
        poll_interval=1,
        timeout=900,
    )

    @task
    def summarize(ti=None) -> str:
        report = ti.xcom_pull(task_ids="broadcast_weekly_report", key="report")
        gate = ti.xcom_pull(task_ids="wait_for_95_percent_delivered")
        line = (
            f"{report['rows']} rows: {report['accepted']} sent, {report['invalid']} invalid, "
            f"{report['failed']} refused; {gate['succeeded']} of {gate['total']} delivered {gate['counts']}"
        )
        for failure in gate["failed"]:
            print(f"not delivered to {failure['to']}: {failure['state']} ({failure['error_code']})")
        for row in report["invalid_rows"]:
            print(f"skipped row {row['row']}: {row['error']}")
        print(line)
        return line

    wait_for_delivery >> summarize()
