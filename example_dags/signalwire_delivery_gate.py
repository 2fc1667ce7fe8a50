"""Send an SMS through SignalWire, wait until it is delivered, and alert on-call if it is not.

Run it against the local sandbox with ``make demo``, or by hand::

    airflow-messaging sandbox &   # serves http://127.0.0.1:8787
    export AIRFLOW_CONN_SIGNALWIRE_DEFAULT='{"conn_type": "signalwire", "host": "sandbox",
        "login": "sandbox-project", "password": "sandbox-token",
        "extra": {"base_url": "http://127.0.0.1:8787", "from_number": "+15551230001"}}'
    airflow dags test signalwire_delivery_gate -c '{"to": "+15550001003"}'
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_messaging.operators.signalwire import SignalWireSendMessageOperator
from airflow_provider_messaging.sensors.signalwire import SignalWireMessageSensor

with DAG(
    dag_id="signalwire_delivery_gate",
    description="Send an SMS, gate on its delivery, alert on-call when it fails",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "to": Param("+15550001001", type="string", description="Recipient, E.164"),
        "on_call": Param("+15550001001", type="string", description="Who hears about a failed delivery"),
    },
    tags=["messaging", "signalwire", "example"],
) as dag:
    send_sms = SignalWireSendMessageOperator(
        task_id="send_sms",
        to="{{ params.to }}",
        body="Nightly load for {{ dag_run.run_after | ds }} finished. Reply STOP to opt out.",
    )

    wait_for_delivery = SignalWireMessageSensor(
        task_id="wait_for_delivery",
        message_ids=send_sms.output,
        poke_interval=1,
        timeout=120,
        mode="poke",
    )

    @task
    def publish_report(gate: dict) -> None:
        """The gated work: runs only once the SMS was delivered (``gate`` is the sensor's report)."""
        for sid, info in gate["messages"].items():
            print(f"delivered: {sid} to {info['to']} ({info['status']})")

    alert_on_call = SignalWireSendMessageOperator(
        task_id="alert_on_call",
        to="{{ params.on_call }}",
        body="SMS to {{ params.to }} was not delivered ({{ dag.dag_id }}, run {{ run_id }}).",
        trigger_rule="one_failed",
    )

    publish_report(wait_for_delivery.output)
    wait_for_delivery >> alert_on_call
