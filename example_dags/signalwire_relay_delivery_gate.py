"""Send an SMS over SignalWire Relay (WebSocket) with a context and tags, end the task, gate later.

The send task speaks Relay's current framing (``signalwire.connect``; ``relay_protocol="blade"``
speaks the older one), writes the state events it sees while connected to the status store, and
ends right after the send (``wait_for_states=0``): the delivery receipt comes when nobody listens.
The deferred gate reads the store and looks up in SignalWire's message logs every message the
store shows no final state for, so it passes on the real delivery and fails on a real failure:
``on_timeout="fail"``, no "sent is good enough". ``make demo`` runs it against the sandbox.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_messaging.operators.signalwire import SignalWireSendMessageOperator
from airflow_provider_messaging.sensors.signalwire import SignalWireMessageSensor

with DAG(
    dag_id="signalwire_relay_delivery_gate",
    description="SMS over Relay with context and tags; a deferred gate passes on the receipt from the message logs",
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
        wait_for_states=0,  # end the task right after the send; the gate finds the receipt later
    )

    SignalWireMessageSensor(
        task_id="wait_for_delivery",
        message_ids=send.output,
        source="store",  # the status store, completed from the message logs
        on_timeout="fail",
        deferrable=True,
        poll_interval=2,
        timeout=120,
    )
