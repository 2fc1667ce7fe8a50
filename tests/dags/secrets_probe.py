"""A DAG for the secrets test: a real send, and a careless task that logs the connection's secrets."""

from __future__ import annotations

import logging

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_messaging.operators.signalwire import SignalWireSendMessageOperator

with DAG(
    dag_id="secrets_probe",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
) as dag:
    send = SignalWireSendMessageOperator(task_id="send_sms", to="+15550001001", body="probe")

    @task
    def careless_logging() -> None:
        from airflow_provider_messaging.hooks.signalwire import SignalWireHook

        settings = SignalWireHook().credentials
        print(f"project={settings.project_id} token={settings.api_token} signing_key={settings.signing_key}")
        logging.getLogger(__name__).warning(
            "token=%s signing_key=%s", settings.api_token, settings.signing_key
        )

        from airflow_provider_messaging.hooks.whatsapp import WhatsAppHook

        wa = WhatsAppHook().credentials
        print(f"phone={wa.phone_number_id} wa_token={wa.access_token} app_secret={wa.app_secret}")

    send >> careless_logging()
