"""Every task of this DAG texts on-call when it fails: SMS through SignalWire and a WhatsApp message.

The notifiers sit in ``default_args``, so each task gets them; the default text names the DAG, the
task, the try and the log URL. Trigger with ``{"fail": false}`` to see a quiet, successful run.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_messaging.notifications.signalwire import send_signalwire_notification
from airflow_provider_messaging.notifications.whatsapp import send_whatsapp_notification

with DAG(
    dag_id="notify_on_failure",
    description="Task failures text on-call by SMS and WhatsApp",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "fail": Param(True, type="boolean", description="make the load fail"),
        "on_call": Param("+15550001001", type="string", description="on-call phone, E.164"),
    },
    default_args={
        "on_failure_callback": [
            send_signalwire_notification(to="{{ params.on_call }}"),
            send_whatsapp_notification(to="+15550002001"),
        ],
    },
    tags=["messaging", "example"],
) as dag:

    @task
    def load_warehouse(params: dict) -> int:
        if params["fail"]:
            raise RuntimeError("warehouse load failed: 3 rows rejected")
        return 42

    load_warehouse()
