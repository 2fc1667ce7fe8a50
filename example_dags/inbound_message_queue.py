"""A DAG started by an inbound WhatsApp message, through common-messaging's MessageQueueTrigger.

``MessageQueueTrigger(scheme="whatsapp", ...)`` watches the messages the webhook receiver stores;
every message that matches starts a run, with the message as the asset event's payload. The run
answers the sender. Needs ``apache-airflow-providers-common-messaging``
(``pip install 'airflow-provider-messaging[common-messaging]'``); ``make demo`` writes "deploy".
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_messaging.operators.whatsapp import WhatsAppSendMessageOperator

deploy_requests = Asset(
    "whatsapp_deploy_requests",
    watchers=[
        AssetWatcher(
            name="whatsapp_deploy_requests",
            trigger=MessageQueueTrigger(scheme="whatsapp", pattern=r"^deploy\b"),
        )
    ],
)

with DAG(
    dag_id="deploy_on_whatsapp_message",
    description="Start a deploy when someone writes 'deploy' on WhatsApp",
    schedule=[deploy_requests],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["messaging", "whatsapp", "inbound", "example"],
) as dag:

    @task
    def read_request(triggering_asset_events=None) -> dict:
        message = triggering_asset_events[deploy_requests][0].extra["payload"]
        sender = message["from"]
        print(f"deploy requested by {sender}: {message['text']!r} (message {message['id']})")
        return {"reply_to": f"+{sender}" if sender.isdigit() else sender, "id": message["id"]}

    request = read_request()
    WhatsAppSendMessageOperator(
        task_id="acknowledge",
        to="{{ ti.xcom_pull('read_request')['reply_to'] }}",
        text="Deploy started (request {{ ti.xcom_pull('read_request')['id'][-8:] }}).",
    ).set_upstream(request)
