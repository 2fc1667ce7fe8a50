"""Send an SMS over SignalWire Relay (WebSocket) with a context and tags, then gate on it.

Relay messages have no REST resource: the send task writes the Relay state events it sees to the
status store, and the sensor reads the store (``source="store"``). Relay does not guarantee
delivery receipts, so the gate passes on ``sent`` if no receipt came within its timeout
(``on_timeout="pass_if_sent"``). ``make demo`` runs it against the sandbox's Relay server.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_messaging.operators.signalwire import SignalWireSendMessageOperator
from airflow_provider_messaging.sensors.signalwire import SignalWireMessageSensor

with DAG(
    dag_id="signalwire_relay_delivery_gate",
    description="SMS over Relay with context and tags, gated on its state events",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"to": Param("+15550001001", type="string", description="Recipient, E.164")},
    tags=["messaging", "signalwire", "relay", "example"],
) as dag:
    send = SignalWireSendMessageOperator(
        task_id="send_over_relay",
        to="{{ params.to }}",
        body="Backup of {{ dag_run.run_after | ds }} finished.",
        api="relay",
        context="office",
        tags=["dag:{{ dag.dag_id }}", "run:{{ run_id }}"],
        wait_for_states=10,  # keep listening for state events up to 10 s after the send
    )

    SignalWireMessageSensor(
        task_id="wait_for_delivery",
        message_ids=send.output,
        source="store",
        on_timeout="pass_if_sent",
        poke_interval=1,
        timeout=30,
    )
